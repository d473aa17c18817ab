// Hand-made MQTT 3.1.1 packets, and their reading back, for tests that need exact packet sequences (several packets
// in one write, a PUBLISH before the SUBACK) that mqtt.js would not send.

/** MQTT's variable-length integer (remaining length). */
export function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

/** A length-prefixed MQTT string (or raw bytes). */
export function mqttString(s: string | Buffer): Buffer {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

/** A packet: first byte, remaining length, body. */
export function packet(firstByte: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([firstByte]), varint(body.length), body]);
}

/** CONNECT (protocol level 4, clean session off, username + password). */
export function connectPacket(clientId: string, username: string, password: string, keepAliveSeconds = 60): Buffer {
  const keepAlive = Buffer.alloc(2);
  keepAlive.writeUInt16BE(keepAliveSeconds);
  const body = Buffer.concat([
    mqttString('MQTT'),
    Buffer.from([4, 0xc0]),
    keepAlive,
    mqttString(clientId),
    mqttString(username),
    mqttString(password),
  ]);
  return packet(0x10, body);
}

/** PUBLISH at QoS 0 or 1 (packet id `id`) with a topic given as text or raw bytes. */
export function publishPacket(topic: string | Buffer, payload: Buffer, qos: 0 | 1 = 0, id = 1): Buffer {
  const packetId = Buffer.alloc(2);
  packetId.writeUInt16BE(id);
  return packet(0x30 | (qos << 1), Buffer.concat([mqttString(topic), qos ? packetId : Buffer.alloc(0), payload]));
}

/** SUBSCRIBE of one filter at `qos`, packet id `id`. */
export function subscribePacket(filter: string, qos: 0 | 1, id: number): Buffer {
  const packetId = Buffer.alloc(2);
  packetId.writeUInt16BE(id);
  return packet(0x82, Buffer.concat([packetId, mqttString(filter), Buffer.from([qos])]));
}

/** A packet read back from the hub (PUBLISH fields filled in for publishes). */
export interface WirePacket {
  type: number;
  flags: number;
  body: Buffer;
  topic?: string;
  qos?: number;
  payload?: Buffer;
}

/** Splits complete packets off the front of `buf`; returns them and what is left. */
export function splitPackets(buf: Buffer): { packets: WirePacket[]; rest: Buffer } {
  const packets: WirePacket[] = [];
  let at = 0;
  for (;;) {
    if (buf.length - at < 2) break;
    let length = 0;
    let mul = 1;
    let i = at + 1;
    let complete = false;
    while (i < buf.length) {
      const b = buf[i++]!;
      length += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) {
        complete = true;
        break;
      }
    }
    if (!complete || buf.length - i < length) break;
    const first = buf[at]!;
    const body = buf.subarray(i, i + length);
    const p: WirePacket = { type: first >> 4, flags: first & 0x0f, body };
    if (p.type === 3) {
      const topicLength = body.readUInt16BE(0);
      p.topic = body.subarray(2, 2 + topicLength).toString('utf8');
      p.qos = (first >> 1) & 3;
      p.payload = body.subarray(2 + topicLength + (p.qos ? 2 : 0));
    }
    packets.push(p);
    at = i + length;
  }
  return { packets, rest: buf.subarray(at) };
}
