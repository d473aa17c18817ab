// The local hub's table of authenticated MQTT clients: who is connected now, why a connection closed, SAS expiry.
import type { Client } from 'aedes';
import { EventEmitter } from 'node:events';
import type { FaultActions } from './FaultState';
import type { HubIdentity } from './hubTopics';
import type { HubReport } from './hubReport';
import type { ConnectRecord } from './types';

const MAX_TIMER_MS = 2 ** 31 - 1;

/** What the hub knows about an authenticated MQTT client. */
export interface ClientInfo {
  identity: HubIdentity;
  transport: ConnectRecord['transport'];
  x509: boolean;
  /** When the SAS token the client connected with expires (absent for X.509). */
  expiresAtMs?: number;
  expiryTimer?: NodeJS.Timeout;
  /** Why the hub closed the connection, for the disconnect event; unset when the client went away itself. */
  closeReason?: string;
}

/**
 * The authenticated clients, by MQTT client id. `changes` emits `change` whenever a client connects, subscribes,
 * unsubscribes or disconnects (method invocations waiting for a module listen to it).
 */
export class ClientTable implements FaultActions {
  readonly changes = new EventEmitter<{ change: [] }>();
  /** Every client id that ever connected (whose session the broker may hold). */
  readonly sessionIds = new Set<string>();
  private readonly infos = new WeakMap<Client, ClientInfo>();
  private readonly current = new Map<string, Client>();
  /** Clients whose SAS expiry timer runs (so that closing the hub can stop them all). */
  private readonly armed = new Set<ClientInfo>();

  constructor(private readonly report: HubReport) {
    this.changes.setMaxListeners(0);
  }

  /** What authentication found for this client, or undefined when it was not (or not yet) accepted. */
  infoOf(client: Client): ClientInfo | undefined {
    return this.infos.get(client);
  }

  /** The client connected now with this id (`d/m` or `d`), if any. */
  get(clientId: string): Client | undefined {
    return this.current.get(clientId);
  }

  /** Whether a client with this id is connected now. */
  isConnected(clientId: string): boolean {
    const c = this.current.get(clientId);
    return !!c && !c.closed;
  }

  /** Records a CONNECT that authentication accepted (before aedes answers it). */
  admit(client: Client, info: ClientInfo): void {
    this.infos.set(client, info);
    const previous = this.current.get(client.id);
    if (previous) {
      // IoT Hub 400027: a new connection with the same client id closes the old one.
      const prevInfo = this.infos.get(previous);
      if (prevInfo) prevInfo.closeReason = 'connection forcefully closed on new connection (400027)';
    }
  }

  /**
   * Makes an admitted client current as soon as aedes registers it (its `client` event: the previous connection
   * with the same id is closed, the CONNACK is about to be written), before aedes replays the session queue and
   * emits `clientReady`: a peer that has seen its CONNACK must find itself connected (`isConnected`, fault
   * injection). Publishing to it waits for the CONNACK to be written (see `connackWritten`).
   */
  registered(client: Client): void {
    if (!this.infos.has(client) || client.closed) return;
    this.current.set(client.id, client);
    this.changed();
  }

  /**
   * Counts an admitted client once aedes has connected it (after CONNACK), arms its SAS expiry, reports it.
   * @returns its info, or undefined for a client that was never admitted.
   */
  ready(client: Client): ClientInfo | undefined {
    const info = this.infos.get(client);
    // A connection that closed while aedes was still connecting it is not ready (and gets no expiry timer).
    if (!info || client.closed) return undefined;
    this.current.set(client.id, client);
    this.sessionIds.add(client.id);
    this.report.observed.counters.connects++;
    if (info.expiresAtMs !== undefined) this.armExpiry(client, info);
    this.report.log(`${client.id} connected (${info.transport}${info.x509 ? ', X.509' : ''})`);
    this.report.events.emit('connect', { clientId: client.id, transport: info.transport });
    this.changed();
    return info;
  }

  /** Forgets a client aedes disconnected and reports why. */
  disconnected(client: Client): void {
    const info = this.infos.get(client);
    if (!info) return;
    this.disarm(info);
    if (this.current.get(client.id) === client) this.current.delete(client.id);
    this.report.observed.counters.disconnects++;
    const reason = info.closeReason ?? (client.closed ? 'connection closed' : 'disconnected');
    this.report.log(`${client.id} disconnected: ${reason}`);
    this.report.events.emit('disconnect', { clientId: client.id, reason });
    this.changed();
  }

  /** Tells waiters that connections or subscriptions changed. */
  changed(): void {
    this.changes.emit('change');
  }

  /** Closes one client's connection abruptly, like a network failure: no DISCONNECT, the socket is destroyed. */
  drop(clientId: string, reason: string): void {
    const client = this.current.get(clientId);
    if (!client) return;
    const info = this.infos.get(client);
    if (info) info.closeReason = reason;
    this.report.log(`${clientId}: ${reason}`);
    client.conn.destroy();
  }

  /** Closes every current connection abruptly. */
  dropAll(reason: string): void {
    for (const id of [...this.current.keys()]) this.drop(id, reason);
  }

  /** Stops every SAS expiry timer (the hub is closing). */
  cancelTimers(): void {
    for (const info of [...this.armed]) this.disarm(info);
  }

  private disarm(info: ClientInfo): void {
    if (info.expiryTimer) clearTimeout(info.expiryTimer);
    delete info.expiryTimer;
    this.armed.delete(info);
  }

  /** IoT Hub 401003: when the SAS token's `se` passes, the connection is closed. */
  private armExpiry(client: Client, info: ClientInfo): void {
    const remaining = info.expiresAtMs! - Date.now();
    this.armed.add(info);
    info.expiryTimer = setTimeout(
      () => {
        if (client.closed) return this.disarm(info);
        if (Date.now() >= info.expiresAtMs!) {
          this.disarm(info);
          info.closeReason = 'token expired (401003)';
          this.report.log(`${client.id}: SAS token expired, closing the connection`);
          client.close();
        } else {
          this.armExpiry(client, info);
        }
      },
      Math.max(0, Math.min(remaining, MAX_TIMER_MS)),
    );
  }
}
