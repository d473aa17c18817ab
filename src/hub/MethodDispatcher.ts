// Direct methods on the local hub: waits for the target to subscribe, sends the request, matches the response by
// `$rid`, times out (504101) and fails what is pending when the hub closes.
import type { Client } from 'aedes';
import { connackWritten, subscriptionOf } from './aedesInternals';
import type { ClientTable } from './ClientTable';
import type { ClientSender } from './ClientSender';
import type { FaultState } from './FaultState';
import type { HubTimers } from './HubTimers';
import { METHODS_FILTER, clientKey, methodRequestTopic } from './hubTopics';
import { HubError, identityNotFound } from './hubErrors';
import { normaliseInvocation, parseMethodResponsePayload, ridCounter } from './methodInvocation';
import type { HubReport } from './hubReport';
import type { RegistryEntry } from './Registry';
import type { HubEvents, MethodInvocation, MethodResult } from './types';

/** What the dispatcher works with. */
export interface MethodDispatcherParts {
  registry: { entry(deviceId: string, moduleId?: string): RegistryEntry | undefined };
  clients: Pick<ClientTable, 'get' | 'changes'>;
  sender: Pick<ClientSender, 'send'>;
  faults: Pick<FaultState, 'methodRequestsWithheld' | 'methodRequestDelayMs'>;
  timers: HubTimers;
  report: HubReport;
}

/** A method request sent (or about to be sent) and not answered yet. */
interface PendingMethod {
  clientId: string;
  methodName: string;
  resolve(result: MethodResult): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** Service-side direct method calls and the table of requests waiting for their response. */
export class MethodDispatcher {
  private readonly pending = new Map<string, PendingMethod>();
  private readonly nextRid = ridCounter();
  /** Ends every wait for a subscriber (with no client) when the hub closes. */
  private readonly waiting = new Set<() => void>();

  constructor(private readonly parts: MethodDispatcherParts) {}

  /** The client with this id when it is connected and subscribed to method requests. */
  subscribedClient(clientId: string): Client | undefined {
    const client = this.parts.clients.get(clientId);
    // Once the CONNACK is written the request may go out, even while aedes still replays the session queue (aedes
    // sets `client.connected` only after that); before it, a PUBLISH would precede the CONNACK on the wire.
    return client && !client.closed && connackWritten(client) && subscriptionOf(client, METHODS_FILTER)
      ? client
      : undefined;
  }

  /**
   * Calls a direct method on a module (or device) connected over MQTT.
   * @throws HubError (as a rejection) 400/400004 bad arguments, 404/404001|404010 unknown identity, 404/404103 not
   *   online and subscribed within the connect timeout, 504/504101 no answer within the response timeout,
   *   503 when the hub is closed meanwhile.
   */
  async invoke(deviceId: string, moduleId: string | undefined, invocation: MethodInvocation): Promise<MethodResult> {
    const { report, faults } = this.parts;
    const inv = normaliseInvocation(invocation);
    report.observed.counters.methodCalls++;
    const emit = (status?: number, errorCode?: number): void => {
      const ev: HubEvents['method'][0] = { deviceId, methodName: inv.methodName };
      if (moduleId !== undefined) ev.moduleId = moduleId;
      if (status !== undefined) ev.status = status;
      if (errorCode !== undefined) ev.errorCode = errorCode;
      report.events.emit('method', ev);
    };
    if (!this.parts.registry.entry(deviceId, moduleId)) {
      const err = identityNotFound(deviceId, moduleId);
      emit(undefined, err.errorCode);
      throw err;
    }
    const clientId = clientKey({ deviceId, moduleId });
    const client = await this.waitForSubscriber(clientId, inv.connectTimeoutInSeconds * 1000);
    if (!client) {
      report.log(`method ${inv.methodName} on ${clientId}: not online (404103)`);
      const err = new HubError('DeviceNotOnline', `${clientId} is not online`);
      emit(undefined, err.errorCode);
      throw err;
    }
    const rid = this.nextRid();
    report.log(`method ${inv.methodName} -> ${clientId} (rid ${rid})`);
    return new Promise<MethodResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        report.log(
          `method ${inv.methodName} on ${clientId}: no response in ${inv.responseTimeoutInSeconds} s (504101)`,
        );
        const err = new HubError('GatewayTimeout', `${clientId} did not answer ${inv.methodName} in time`);
        emit(undefined, err.errorCode);
        reject(err);
      }, inv.responseTimeoutInSeconds * 1000);
      this.pending.set(rid, {
        clientId,
        methodName: inv.methodName,
        timer,
        resolve: (result) => {
          emit(result.status);
          resolve(result);
        },
        reject,
      });
      if (faults.methodRequestsWithheld) return;
      const topic = methodRequestTopic(inv.methodName, rid);
      this.parts.timers.later(faults.methodRequestDelayMs, () => {
        if (!this.pending.has(rid)) return;
        const target = this.parts.clients.get(clientId) ?? client;
        void this.parts.sender.send(target, METHODS_FILTER, topic, Buffer.from(JSON.stringify(inv.payload)));
      });
    });
  }

  /** Settles the pending call a module's `$iothub/methods/res/{status}/?$rid=…` answers (others are ignored). */
  onResponse(clientId: string, status: number, rid: string, body: Buffer): void {
    const pending = this.pending.get(rid);
    if (!pending || pending.clientId !== clientId) return;
    this.pending.delete(rid);
    clearTimeout(pending.timer);
    this.parts.report.log(`method ${pending.methodName} on ${clientId} answered ${status}`);
    pending.resolve({ status, payload: parseMethodResponsePayload(body) });
  }

  /** Ends every wait for a subscriber (those calls fail with 404103). Call first when the hub closes. */
  stopWaiting(): void {
    for (const finish of [...this.waiting]) finish();
  }

  /** Fails every call still waiting for its response with 503. */
  failPending(): void {
    for (const [rid, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(rid);
      p.reject(new HubError('ServiceUnavailable', 'the local hub was closed'));
    }
  }

  private waitForSubscriber(clientId: string, timeoutMs: number): Promise<Client | undefined> {
    const now = this.subscribedClient(clientId);
    if (now || timeoutMs <= 0) return Promise.resolve(now);
    const { clients, timers } = this.parts;
    return new Promise((resolve) => {
      const onChange = (): void => {
        const c = this.subscribedClient(clientId);
        if (c) finish(c);
      };
      const timer = timers.start(timeoutMs, () => finish(undefined));
      const finish = (c: Client | undefined): void => {
        timers.cancel(timer);
        clients.changes.off('change', onChange);
        this.waiting.delete(onClosing);
        resolve(c);
      };
      const onClosing = (): void => finish(undefined);
      clients.changes.on('change', onChange);
      this.waiting.add(onClosing);
    });
  }
}
