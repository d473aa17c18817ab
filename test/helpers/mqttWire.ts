// Hand-made MQTT 3.1.1 packets for the tests that must send what mqtt.js refuses to encode (invalid UTF-8 topics,
// odd flags, truncated packets): the variable byte integer, length-prefixed strings and the packets built from them.

/** MQTT variable byte integer (the remaining length): 7 bits a byte, high bit set while more follow. */
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

/** An MQTT string: two length bytes (big-endian), then the bytes (UTF-8 for a string, as given for a Buffer). */
export function mqttString(s: string | Buffer): Buffer {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

/** A whole packet: the first byte (type and flags), the remaining length, the body. */
export function packet(firstByte: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([firstByte]), varint(body.length), body]);
}

/** CONNECT (protocol level 4, clean session off, username + password). */
export function connectPacket(clientId: string, username: string, password: string, keepAliveSeconds = 60): Buffer {
  const keepAlive = Buffer.alloc(2);
  keepAlive.writeUInt16BE(keepAliveSeconds);
  const body = Buffer.concat([mqttString('MQTT'), Buffer.from([4, 0xc0]), keepAlive, mqttString(clientId), mqttString(username), mqttString(password)]);
  return packet(0x10, body);
}

/** PUBLISH at QoS 0 or 1 (with `packetId`) with a topic given as raw bytes. */
export function publishPacket(topic: Buffer, payload: Buffer, qos: 0 | 1 = 0, packetId = 1): Buffer {
  const id = qos ? Buffer.from([packetId >> 8, packetId & 0xff]) : Buffer.alloc(0);
  return packet(0x30 | (qos << 1), Buffer.concat([mqttString(topic), id, payload]));
}
