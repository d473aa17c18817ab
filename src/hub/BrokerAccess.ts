// The broker's gatekeeper (IoT Hub's CONNECT authentication and topic rules): aedes' preConnect / authenticate /
// authorizePublish / authorizeSubscribe hooks, deciding CONNECTs with auth.ts and publishes and subscriptions with
// hubTopics.ts.
import type { AedesPublishPacket, Client, ConnectPacket, PublishPacket, Subscription } from 'aedes';
import { forwardWithTopic, type ParsedPacket } from './aedesInternals';
import { authenticateConnect } from './auth';
import type { ClientInfo, ClientTable } from './ClientTable';
import type { FaultState } from './FaultState';
import type { ConnectionTable } from './FrontDoor';
import { forwardUnlessExpired } from './InputDelivery';
import {
  classifyPublish,
  subscriptionAllowed,
  toBrokerTopic,
  toWireTopic,
  type ClassifiedPublish,
  type HubIdentity,
} from './hubTopics';
import type { HubReport } from './hubReport';
import { parsePropertyBag } from './messageBag';
import { MAX_MESSAGE_BYTES, messageSize } from './telemetryMessages';
import type { RegistryEntry } from './Registry';
import type { ConnectRecord } from './types';

/**
 * Largest MQTT packet (remaining length) the parser accepts, checked as soon as a fixed header is read: the largest
 * legal message, {@link MAX_MESSAGE_BYTES} of body, plus the longest topic MQTT can carry (65,535 bytes, where the
 * property names and encoding IoT Hub does not count live) and the topic length and packet id fields. Anything
 * larger cannot be a message IoT Hub takes; anything up to it reaches authorizePublish, which applies IoT Hub's rule.
 */
export const MAX_MQTT_PACKET_BYTES = MAX_MESSAGE_BYTES + 2 + 65_535 + 2;

/**
 * Where an allowed publish goes (telemetry, twin request or method response). A returned promise holds the PUBACK
 * until it settles (the hub with a state directory acknowledges a routed message once it is stored).
 */
export type PublishHandler = (
  client: Client,
  identity: HubIdentity,
  publish: ClassifiedPublish,
  payload: Buffer,
) => Promise<void> | undefined;

/** What the gatekeeper works with. */
export interface BrokerAccessParts {
  hostName: string;
  registry: { entry(deviceId: string, moduleId?: string): RegistryEntry | undefined };
  clients: Pick<ClientTable, 'admit' | 'infoOf'>;
  connections: ConnectionTable;
  faults: Pick<FaultState, 'takeConnectRefusal'>;
  report: HubReport;
  onPublish: PublishHandler;
}

type Transport = ConnectRecord['transport'];

function refusal(returnCode: number, message: string): Error & { returnCode: number } {
  return Object.assign(new Error(message), { returnCode });
}

/** The aedes hooks that make the broker behave like IoT Hub's MQTT gateway. */
export class BrokerAccess {
  /** CONNECTs that fault injection refuses with a code aedes' authenticate step can send. */
  private readonly injectedRefusals = new WeakMap<Client, number>();

  constructor(private readonly parts: BrokerAccessParts) {}

  /** aedes `preConnect`: applies an injected CONNECT refusal, if one is pending. */
  preConnect(client: Client, packet: ConnectPacket, cb: (error: Error | null, success: boolean) => void): void {
    const code = this.parts.faults.takeConnectRefusal();
    if (code === undefined) return cb(null, true);
    const info = this.parts.connections.get(client.conn);
    this.recordConnect(packet.clientId, packet.username, packet.password, false, info?.transport ?? 'mqtts', code);
    this.parts.report.log(`CONNECT ${packet.clientId} refused by fault injection (return code ${code})`);
    if (code >= 2 && code <= 5) {
      // Let aedes' authenticate step send the CONNACK with this code.
      this.injectedRefusals.set(client, code);
      return cb(null, true);
    }
    // Codes aedes' authenticate cannot send (1, or non-standard ones): write the CONNACK ourselves, then close.
    this.parts.report.observed.counters.refused++;
    client.conn.write(Buffer.from([0x20, 0x02, 0x00, code & 0xff]), () =>
      cb(refusal(code, 'refused by fault injection'), false),
    );
  }

  /** aedes `authenticate`: decides the CONNECT like IoT Hub (SAS token or X.509) and records it. */
  authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    cb: (error: (Error & { returnCode: number }) | null, success: boolean | null) => void,
  ): void {
    const { report } = this.parts;
    const info = this.parts.connections.get(client.conn) ?? { transport: 'mqtts' as Transport };
    const injected = this.injectedRefusals.get(client);
    if (injected !== undefined) {
      report.observed.counters.refused++;
      return cb(refusal(injected, 'refused by fault injection'), false);
    }
    let peer: Buffer | undefined;
    try {
      const cert = info.tlsSocket?.getPeerCertificate();
      if (cert && cert.raw) peer = cert.raw;
    } catch {
      peer = undefined;
    }
    const result = authenticateConnect(
      { clientId: client.id, username, password, peerCertificate: peer },
      this.parts.hostName,
      (id) => this.parts.registry.entry(id.deviceId, id.moduleId),
      Date.now(),
    );
    const returnCode = result.ok ? 0 : result.returnCode;
    this.recordConnect(
      client.id,
      username,
      password,
      result.ok ? result.x509 : !password && !!peer,
      info.transport,
      returnCode,
    );
    if (!result.ok) {
      report.observed.counters.refused++;
      report.log(`CONNECT ${client.id} refused (return code ${result.returnCode}): ${result.reason}`);
      return cb(refusal(result.returnCode, result.reason), false);
    }
    const ci: ClientInfo = { identity: result.identity, transport: info.transport, x509: result.x509 };
    if (result.expiresAtMs !== undefined) ci.expiresAtMs = result.expiresAtMs;
    this.parts.clients.admit(client, ci);
    cb(null, true);
  }

  /**
   * aedes `authorizePublish`: records the publish, allows only what IoT Hub allows (else the connection closes) and
   * hands an allowed one to the hub.
   */
  authorizePublish(client: Client | null, packet: PublishPacket, cb: (error?: Error | null) => void): void {
    if (!client) return cb(null);
    const { report } = this.parts;
    const info = this.parts.clients.infoOf(client);
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload ?? '');
    report.observed.record('publishes', {
      at: Date.now(),
      clientId: client.id,
      topic: packet.topic,
      payload,
      qos: packet.qos,
    });
    report.observed.counters.publishes++;
    if (!info) return cb(new Error('not authenticated'));
    if (packet.qos === 2) {
      report.log(`${client.id}: QoS 2 publish to ${packet.topic}, closing the connection`);
      return cb(new Error('QoS 2 is not supported'));
    }
    const kind = classifyPublish(packet.topic, info.identity);
    if (!kind) {
      report.log(`${client.id}: publish to ${packet.topic} not allowed, closing the connection`);
      return cb(new Error(`publish to ${packet.topic} not allowed`));
    }
    // IoT Hub closes the connection on a message over its limit (MQTT 3.1.1 has no negative acknowledgement).
    const size = kind.kind === 'events' ? messageSize(parsePropertyBag(kind.bag), payload) : payload.length;
    if (size > MAX_MESSAGE_BYTES) {
      report.log(
        `${client.id}: message of ${size} bytes is over IoT Hub's ${MAX_MESSAGE_BYTES}-byte limit, closing ` +
          `the connection`,
      );
      return cb(new Error('message too large'));
    }
    // IoT Hub ignores RETAIN.
    packet.retain = false;
    const pending = this.parts.onPublish(client, info.identity, kind, payload);
    if (pending)
      void pending.then(
        () => cb(null),
        () => cb(null),
      );
    else cb(null);
  }

  /** aedes `authorizeSubscribe`: grants IoT Hub's topics at QoS ≤ 1, refuses anything else (SUBACK 0x80). */
  authorizeSubscribe(
    client: Client,
    sub: Subscription,
    cb: (error: Error | null, subscription?: Subscription | null) => void,
  ): void {
    const info = this.parts.clients.infoOf(client);
    const allowed = !!info && subscriptionAllowed(sub.topic, info.identity);
    // IoT Hub grants at most QoS 1.
    const granted = allowed ? Math.min(sub.qos, 1) : 0x80;
    const requested = (sub as { requestedQos?: number }).requestedQos ?? sub.qos;
    this.parts.report.observed.record('subscriptions', {
      at: Date.now(),
      clientId: client.id,
      topic: sub.topic,
      qos: requested,
      granted,
    });
    if (!allowed) {
      this.parts.report.log(`${client.id}: subscription to ${sub.topic} refused`);
      return cb(null, null);
    }
    if (sub.qos > 1) sub.qos = 1;
    cb(null, sub);
  }

  /**
   * Before aedes handles a packet of an authenticated client: its own topics and filters (ids raw) become their
   * broker form, so that ids with `+` or `#` are neither refused by aedes' MQTT topic rules nor taken as wildcards.
   */
  toBroker(client: Client, packet: ParsedPacket): void {
    const identity = this.parts.clients.infoOf(client)?.identity;
    if (!identity) return;
    if (packet.cmd === 'publish' && packet.topic !== undefined) packet.topic = toBrokerTopic(packet.topic, identity);
    for (const sub of packet.subscriptions ?? []) sub.topic = toBrokerTopic(sub.topic, identity);
    if (packet.unsubscriptions) packet.unsubscriptions = packet.unsubscriptions.map((f) => toBrokerTopic(f, identity));
  }

  /**
   * aedes `authorizeForward`: a message under `devices/` goes only to the identity it is addressed to, compared
   * literally, with its topic back in wire form (ids raw); an expired input message is dropped (edgeHub's TTL).
   */
  authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    if (!forwardUnlessExpired(client, packet)) return null;
    const identity = this.parts.clients.infoOf(client)?.identity;
    if (!identity) return packet.topic.startsWith('devices/') ? null : packet;
    const wire = toWireTopic(packet.topic, identity);
    if (wire === undefined) {
      this.parts.report.log(`${client.id}: ${packet.topic} is not addressed to it, not forwarded`);
      return null;
    }
    return wire === packet.topic ? packet : forwardWithTopic(packet, wire);
  }

  private recordConnect(
    clientId: string,
    username: string | undefined,
    password: Buffer | string | undefined,
    x509: boolean,
    transport: Transport,
    returnCode: number,
  ): void {
    const record: ConnectRecord = { at: Date.now(), clientId, username: username ?? '', x509, transport, returnCode };
    if (password !== undefined) record.password = Buffer.from(password).toString('utf8');
    this.parts.report.observed.record('connects', record);
  }
}
