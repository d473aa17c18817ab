// The module client (the Azure IoT Python SDK's aio IoTHubModuleClient in TypeScript): the public facade. Factories are
// in factories.ts, the connection lifecycle in Session.ts, publishes in PublishQueue.ts, twin requests in
// TwinLedger.ts, ensureDesiredProperties in DesiredPropertiesSync.ts, method-response bookkeeping in
// MethodResponseLedger.ts, invokeMethod in EdgeMethodInvoker.ts, delivery to handlers in Dispatcher.ts; wire details in
// transport/*, auth in auth/*.
import { ClientError, OperationCancelled } from './errors';
import { EventsTopics } from './transport/EventsTopics';
import { parseIncomingTopic, twinGetTopic, twinPatchReportedTopic, type TopicIdentity } from './transport/topics';
import { userAgentString } from './userAgent';
import { systemClock, type Clock } from './clock';
import { Credentials } from './Credentials';
import { Session, shutDownError, type SessionEvents } from './Session';
import type { Feature } from './Subscriptions';
import { PublishQueue } from './PublishQueue';
import { TwinLedger, type TwinReply } from './TwinLedger';
import { DesiredPropertiesSync } from './DesiredPropertiesSync';
import { EdgeMethodInvoker } from './EdgeMethodInvoker';
import { MethodResponseLedger } from './MethodResponseLedger';
import { Dispatcher, type HandlerKind } from './Dispatcher';
import { methodResponsePublish, reportedPatchPayload, telemetryPublish, type OutgoingPublish } from './outgoing';
import { desiredPatch, inputMessage, methodRequest, twinDocument } from './incoming';
import { callUser, safeLog, type Log } from './userCode';
import {
  initFromConnectionString,
  initFromEdgeEnvironment,
  initFromSastoken,
  initFromX509,
  type ClientInit,
  type EdgeContext,
} from './factories';
import type { Message } from './models/Message';
import type { MethodRequest } from './models/MethodRequest';
import { MethodResponse } from './models/MethodResponse';
import type {
  ClientIdentity,
  ClientOptions,
  ConnectionState,
  MethodParams,
  MethodResult,
  TwinDocument,
  X509,
} from './types';

export { TELEMETRY_MESSAGE_SIZE_LIMIT } from './outgoing';

/**
 * What {@link IoTHubModuleClient.onConnectionStateChange} receives: the new state, why it was left (the failure that
 * ended a connection or a connect attempt) and, while the reconnect loop waits, when it tries next (ms since the
 * epoch).
 */
export interface ConnectionStateInfo {
  state: ConnectionState;
  connected: boolean;
  reason?: Error;
  nextRetryAt?: number;
}

type StateChangeHandler = (info: ConnectionStateInfo) => void;

/**
 * An IoT Hub / IoT Edge module client over MQTT 3.1.1. Create it with one of the static factories.
 * Every operation auto-connects (unless `autoConnect` is false), has a time limit (`operationTimeout`) and fails
 * with the classes in errors.ts. The factories throw their argument errors; every method that returns a promise
 * reports every error, bad arguments included, by rejecting it (it never throws). Background failures go to
 * {@link IoTHubModuleClient.onBackgroundException}.
 */
export class IoTHubModuleClient {
  /** Called on every change of {@link connectionState}; exceptions it throws are logged. */
  onConnectionStateChange: StateChangeHandler | null = null;
  /** Receives background failures (dropped connection, failed reconnect or renewal, bad incoming data). */
  onBackgroundException: ((error: Error) => void) | null = null;
  /** Called ~120 s before a user-supplied (non-renewable) SAS token expires; answer with {@link updateSastoken}. */
  onNewSastokenRequired: (() => void) | null = null;

  private readonly log: Log;
  private readonly topicId: TopicIdentity;
  private readonly eventsTopics: EventsTopics;
  /** Created from a user SAS token: only those may updateSastoken. */
  private readonly fromSastoken: boolean;
  /** The IoT Edge workload API client (container mode), closed at shutdown. */
  private readonly edge: EdgeContext | undefined;
  private readonly credentials: Credentials;
  private readonly session: Session;
  private readonly publishes: PublishQueue;
  private readonly twins: TwinLedger;
  private readonly desired: DesiredPropertiesSync;
  private readonly methodResponses = new MethodResponseLedger();
  /** Only clients from createFromEdgeEnvironment can invoke methods (through edgeHub), as in the Python SDK. */
  private readonly invoker: EdgeMethodInvoker | undefined;
  private readonly dispatch: Dispatcher;

  private constructor(init: ClientInit) {
    const { options } = init;
    const clock: Clock = options.clock ?? systemClock;
    const userAgent = userAgentString();
    this.log = safeLog(options.logger);
    this.dispatch = new Dispatcher(this.log);
    this.edge = init.edge;
    this.fromSastoken = init.fromSastoken ?? false;
    this.topicId = { deviceId: init.identity.deviceId, moduleId: init.identity.moduleId };
    this.eventsTopics = new EventsTopics(this.topicId);
    this.credentials = new Credentials(init.identity, init.auth, options, userAgent, clock);
    this.session = new Session(this.credentials, options, this.topicId, clock, this.sessionEvents());
    this.publishes = new PublishQueue(this.session, clock, options.operationTimeout * 1000);
    this.twins = new TwinLedger(this.session, clock, options.operationTimeout * 1000);
    this.session.drive(this.publishes, this.twins);
    this.desired = new DesiredPropertiesSync(options.ensureDesiredProperties, {
      live: () => this.session.live,
      readTwin: () => this.twinRequest(twinGetTopic, ' '),
      deliver: (desired, full) => this.dispatch.desired(desired, full),
      report: (error) => this.background(error),
    });
    if (init.edge) this.invoker = new EdgeMethodInvoker(this.credentials, options, userAgent);
  }

  // ---------------------------------------------------------------- factories (the work is in factories.ts)

  /**
   * Creates a client from a module connection string (`HostName=…;DeviceId=…;ModuleId=…;SharedAccessKey=…`,
   * optional `GatewayHostName=host[:port]`). The SAS token is renewable (re-signed with the key).
   * @throws TypeError for a non-string, an unknown or excluded option (`gatewayHostname`) or a wrongly typed option.
   * @throws ValueError for a malformed string, an x509 string, a bad key or a bad option value.
   */
  static createFromConnectionString(connectionString: string, options?: ClientOptions): IoTHubModuleClient {
    return new IoTHubModuleClient(initFromConnectionString(connectionString, options));
  }

  /**
   * Creates a client from a module SAS token string; it cannot be renewed: `onNewSastokenRequired` is called
   * `120 s` before expiry, then call {@link updateSastoken}.
   * @throws TypeError for an unknown or excluded option (`sastokenTtl`).
   * @throws ValueError for a malformed, device or expired token, or a bad option value.
   */
  static createFromSastoken(sastoken: string, options?: ClientOptions): IoTHubModuleClient {
    return new IoTHubModuleClient(initFromSastoken(sastoken, options));
  }

  /**
   * Creates a client authenticating with an X.509 client certificate. Takes the Python SDK's positional form
   * `(x509, hostname, deviceId, moduleId, options?)` or one object `({ x509, hostname, deviceId, moduleId },
   * options?)`.
   * @throws TypeError for an unknown or excluded option (`sastokenTtl`) or bad argument types.
   * @throws ValueError when the certificate or key cannot be loaded, or for a bad option value.
   */
  static createFromX509Certificate(
    args: { x509: X509; hostname: string; deviceId: string; moduleId: string },
    options?: ClientOptions,
  ): IoTHubModuleClient;
  static createFromX509Certificate(
    x509: X509,
    hostname: string,
    deviceId: string,
    moduleId: string,
    options?: ClientOptions,
  ): IoTHubModuleClient;
  static createFromX509Certificate(...params: unknown[]): IoTHubModuleClient {
    const [first, second] = params;
    if (typeof second === 'string') {
      const [x509, hostname, deviceId, moduleId, options] = params;
      if (params.length > 5) throw new TypeError('createFromX509Certificate takes at most 5 arguments');
      return new IoTHubModuleClient(
        initFromX509(
          { x509, hostname, deviceId, moduleId } as {
            x509: X509;
            hostname: string;
            deviceId: string;
            moduleId: string;
          },
          options as ClientOptions,
        ),
      );
    }
    if (params.length > 2)
      throw new TypeError(
        'createFromX509Certificate takes (args, options) or (x509, hostname, deviceId, moduleId, options)',
      );
    return new IoTHubModuleClient(
      initFromX509(
        first as { x509: X509; hostname: string; deviceId: string; moduleId: string },
        second as ClientOptions,
      ),
    );
  }

  /**
   * Creates a client inside an IoT Edge module container (`IOTEDGE_*` variables: workload API for the trust bundle
   * and signing) or in debug mode (`EdgeHubConnectionString` + `EdgeModuleCACertificateFile`). Async, unlike the
   * Python SDK, because the workload API is asynchronous. Only such clients can {@link invokeMethod}.
   * @throws TypeError for an unknown or excluded option (`serverVerificationCert`, `gatewayHostname`).
   * @throws ClientError when the environment is incomplete or the workload API fails; ValueError for bad values.
   */
  static async createFromEdgeEnvironment(
    options?: ClientOptions & { env?: Record<string, string | undefined> },
  ): Promise<IoTHubModuleClient> {
    return new IoTHubModuleClient(await initFromEdgeEnvironment(options));
  }

  // ---------------------------------------------------------------- public state and receive handlers

  /** True while an MQTT connection is up. */
  get connected(): boolean {
    return this.session.connectionState === 'connected';
  }

  /**
   * The module identity this client connects as (ours: the Python SDK keeps it internal). Lets an application tell
   * which identity a connection string or the IoT Edge environment gave, e.g. to keep to one connection per identity.
   */
  get identity(): ClientIdentity {
    const { hostname, deviceId, moduleId, gatewayHostname } = this.credentials.identity;
    return gatewayHostname === undefined
      ? { hostname, deviceId, moduleId }
      : { hostname, deviceId, moduleId, gatewayHostname };
  }

  /** The connection state (ours: finer than `connected`). */
  get connectionState(): ConnectionState {
    return this.session.connectionState;
  }

  /**
   * Input message handler (all inputs). Setting a function enables the input subscription (auto-connecting);
   * null disables it. @throws ClientError 'receive-mode-conflict' after receiveMessageOnInput was used.
   */
  get onMessageReceived(): ((message: Message) => void | Promise<void>) | null {
    return this.dispatch.handler('message');
  }
  set onMessageReceived(fn: ((message: Message) => void | Promise<void>) | null) {
    this.setHandler('message', 'input', fn);
  }

  /** Direct method handler; answer with {@link sendMethodResponse}. Same rules as {@link onMessageReceived}. */
  get onMethodRequestReceived(): ((request: MethodRequest) => void | Promise<void>) | null {
    return this.dispatch.handler('method');
  }
  set onMethodRequestReceived(fn: ((request: MethodRequest) => void | Promise<void>) | null) {
    this.setHandler('method', 'methods', fn);
  }

  /**
   * Desired property patch handler. `info.full` is true when ensureDesiredProperties delivers the whole desired
   * document after a (re)connect. Same rules as {@link onMessageReceived}.
   */
  get onTwinDesiredPropertiesPatchReceived():
    ((patch: Record<string, unknown>, info: { full: boolean }) => void | Promise<void>) | null {
    return this.dispatch.handler('desired');
  }
  set onTwinDesiredPropertiesPatchReceived(
    fn: ((patch: Record<string, unknown>, info: { full: boolean }) => void | Promise<void>) | null,
  ) {
    this.setHandler('desired', 'desired', fn);
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Connects (no-op when connected) and restores every enabled subscription.
   * @throws ConnectionFailedError, CredentialError, ClientError, OperationTimeout, OperationCancelled;
   *   ClientError 'shut-down' after shutdown.
   */
  async connect(): Promise<void> {
    await this.session.connect();
  }

  /**
   * Disconnects; pending operations fail with OperationCancelled. The hub keeps the session (subscriptions).
   * @throws ClientError 'shut-down' after shutdown.
   */
  async disconnect(): Promise<void> {
    this.checkAlive();
    await this.session.disconnect(new OperationCancelled('Cancelled by disconnect'));
  }

  /** Disconnects for good and releases every resource; afterwards every call fails with ClientError 'shut-down'. */
  async shutdown(): Promise<void> {
    if (this.session.isShutDown) return;
    await this.session.shutdown(new OperationCancelled('Cancelled by shutdown'));
    this.dispatch.close(new OperationCancelled('Cancelled by shutdown'));
    if (this.edge?.workload) await this.edge.workload.close().catch(() => undefined);
  }

  // ---------------------------------------------------------------- telemetry

  /**
   * Sends a telemetry message (QoS 1); resolves on PUBACK. A value that is not a {@link Message} is converted into
   * one, as the Python SDK does: a string or bytes (Buffer, Uint8Array, ArrayBuffer) is the body as it is; any other
   * value is sent as JSON with content type `application/json` and content encoding `utf-8`.
   *
   * While the client is reconnecting after a drop (`connectionRetry`), the message waits for the connection (nothing
   * is lost) for up to `operationTimeout` seconds; when no connection comes by then it fails with
   * ConnectionFailedError, whose `cause` is the last connect error.
   * @throws (rejects with) ValueError 'message-too-large' when body + properties exceed 262 144 bytes, as IoT Hub
   *   counts them; TypeError for a value that cannot be sent; NoConnectionError; ConnectionFailedError;
   *   OperationTimeout (connected, but no PUBACK in time); OperationCancelled; ClientError 'shut-down'.
   */
  sendMessage(
    message: Message | string | Buffer | Uint8Array | ArrayBuffer | number | boolean | object | null,
  ): Promise<void> {
    try {
      return this.publish(telemetryPublish(this.eventsTopics, message));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /**
   * Sends a message to an output of this module (`$.on`); resolves on PUBACK. Converts values and fails as
   * {@link sendMessage}.
   * @throws (rejects with) TypeError when outputName is not a non-empty string; otherwise as {@link sendMessage}.
   */
  sendMessageToOutput(
    message: Message | string | Buffer | Uint8Array | ArrayBuffer | number | boolean | object | null,
    outputName: string,
  ): Promise<void> {
    try {
      if (typeof outputName !== 'string' || outputName === '')
        throw new TypeError('outputName must be a non-empty string');
      return this.publish(telemetryPublish(this.eventsTopics, message, outputName));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Not `async` on purpose: one promise per message on the hot path. */
  private publish({ topic, payload }: OutgoingPublish): Promise<void> {
    if (this.session.isShutDown) return Promise.reject(shutDownError());
    return this.publishes.publish(topic, payload);
  }

  // ---------------------------------------------------------------- twin

  /**
   * Gets the module twin `{ desired, reported }`. While the client is reconnecting it waits for the connection, as
   * {@link sendMessage} does.
   * @throws (rejects with) ClientError (with statusCode: 'throttled', 'bad-request', …) when the hub answers ≥ 300;
   *   ClientError 'protocol-error' for a response that is not a twin document or has no numeric status;
   *   ConnectionFailedError when no connection came within `operationTimeout`; OperationTimeout (connected, but no
   *   answer in time); OperationCancelled; connection errors; ClientError 'shut-down'.
   */
  async getTwin(): Promise<TwinDocument> {
    const { body } = await this.twinRequest(twinGetTopic, ' ');
    return twinDocument(body);
  }

  /**
   * Patches the reported properties (`null` deletes a key). Waits for a reconnect as {@link getTwin} does.
   * @throws (rejects with) TypeError when patch is not an object or JSON cannot encode it; ValueError
   *   'message-too-large' over 256 KB on the wire; otherwise as {@link getTwin}.
   */
  async patchTwinReportedProperties(patch: Record<string, unknown>): Promise<void> {
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch))
      throw new TypeError('patch must be an object');
    await this.twinRequest(twinPatchReportedTopic, reportedPatchPayload(patch));
  }

  private async twinRequest(topicFor: (rid: string) => string, payload: string): Promise<TwinReply> {
    this.checkAlive();
    await this.session.enableFeature('twin');
    return this.twins.request(topicFor, payload);
  }

  // ---------------------------------------------------------------- methods

  /**
   * Answers a method request, once per request id; resolves on PUBACK.
   * @throws (rejects with) TypeError for a bad response or a payload JSON cannot encode; ValueError
   *   'message-too-large'; ClientError 'unknown-request-id' / 'already-responded'; otherwise as {@link sendMessage}.
   */
  async sendMethodResponse(response: MethodResponse): Promise<void> {
    if (!(response instanceof MethodResponse) && (typeof response !== 'object' || response === null)) {
      throw new TypeError('response must be a MethodResponse');
    }
    const { requestId } = response;
    if (typeof requestId !== 'string') throw new TypeError('requestId must be a string');
    return this.respond(requestId, methodResponsePublish(requestId, response.status, response.payload));
  }

  private async respond(requestId: string, publish: OutgoingPublish): Promise<void> {
    this.checkAlive();
    this.methodResponses.begin(requestId);
    let sent = false;
    try {
      await this.publishes.publish(publish.topic, publish.payload);
      sent = true;
    } finally {
      this.methodResponses.end(requestId, sent);
    }
  }

  /**
   * Invokes a direct method on another device / module through edgeHub (HTTP). Only for clients created with
   * {@link createFromEdgeEnvironment}.
   * @throws (rejects with) TypeError for a bad methodParams, deviceId or moduleId; ClientError 'not-supported' for
   *   other clients; ClientError with statusCode / errorCode from the hub ('device-not-online' 404103,
   *   'gateway-timeout' 504101, …); OperationTimeout; connection errors.
   */
  async invokeMethod(methodParams: MethodParams, deviceId: string, moduleId?: string): Promise<MethodResult> {
    if (typeof methodParams !== 'object' || methodParams === null || typeof methodParams.methodName !== 'string') {
      throw new TypeError('methodParams.methodName must be a string');
    }
    if (typeof deviceId !== 'string' || deviceId === '') throw new TypeError('deviceId must be a non-empty string');
    if (moduleId !== undefined && typeof moduleId !== 'string') throw new TypeError('moduleId must be a string');
    return this.invokeOverHttp(methodParams, deviceId, moduleId);
  }

  private async invokeOverHttp(
    methodParams: MethodParams,
    deviceId: string,
    moduleId: string | undefined,
  ): Promise<MethodResult> {
    this.checkAlive();
    if (!this.invoker) {
      throw new ClientError('invokeMethod is only available for clients created with createFromEdgeEnvironment', {
        code: 'not-supported',
      });
    }
    return this.invoker.invoke(methodParams, deviceId, moduleId);
  }

  // ---------------------------------------------------------------- SAS token

  /**
   * Replaces the SAS token of a client created with {@link createFromSastoken} and re-authenticates (connecting when
   * disconnected, as the Python SDK does).
   * @throws (rejects with) ValueError for a malformed or expired token, or one for another identity; TypeError for a
   *   token that is not a string; ClientError 'not-supported' when the client was not created from a SAS token, or
   *   'shut-down'; connection errors.
   */
  async updateSastoken(sastoken: string): Promise<void> {
    this.checkAlive();
    if (!this.fromSastoken || !this.credentials.usesSasToken) {
      throw new ClientError('updateSastoken is only possible for clients created with createFromSastoken', {
        code: 'not-supported',
      });
    }
    this.credentials.replaceToken(this.credentials.checkReplacement(sastoken));
    await this.session.reauthenticate();
  }

  // ---------------------------------------------------------------- deprecated receive APIs

  /**
   * Waits for the next message on `inputName`.
   * @deprecated use {@link onMessageReceived}.
   * @throws (rejects with) TypeError for a non-string inputName; ClientError 'receive-mode-conflict' when a handler
   *   is set; connection errors of the subscription.
   */
  async receiveMessageOnInput(inputName: string): Promise<Message> {
    if (typeof inputName !== 'string') throw new TypeError('inputName must be a string');
    return this.receive('input', () => this.dispatch.inputInbox(inputName));
  }

  /**
   * Waits for the next method request (of `methodName`, or any method without a dedicated receiver).
   * @deprecated use {@link onMethodRequestReceived}.
   * @throws (rejects with) TypeError for a non-string methodName; otherwise as {@link receiveMessageOnInput}.
   */
  async receiveMethodRequest(methodName?: string): Promise<MethodRequest> {
    if (methodName !== undefined && typeof methodName !== 'string') throw new TypeError('methodName must be a string');
    return this.receive('methods', () => this.dispatch.methodInbox(methodName ?? ''));
  }

  /**
   * Waits for the next desired properties patch.
   * @deprecated use {@link onTwinDesiredPropertiesPatchReceived}.
   */
  async receiveTwinDesiredPropertiesPatch(): Promise<Record<string, unknown>> {
    return this.receive('desired', () => {
      this.desired.watch(this.session.isEnabled('desired'));
      return this.dispatch.desiredPatches();
    });
  }

  /** The receive* mode: take the inbox first (so nothing arriving meanwhile is lost), then subscribe. */
  private async receive<T>(feature: Feature, inbox: () => { next(): Promise<T> }): Promise<T> {
    this.checkAlive();
    this.dispatch.enterApiMode();
    const box = inbox();
    await this.session.enableFeature(feature);
    return box.next();
  }

  // ---------------------------------------------------------------- internals

  private checkAlive(): void {
    if (this.session.isShutDown) throw shutDownError();
  }

  private setHandler(kind: HandlerKind, feature: Feature, fn: unknown): void {
    this.checkAlive();
    this.dispatch.setHandler(kind, fn);
    if (kind === 'desired') {
      if (fn === null) this.desired.unwatch();
      else this.desired.watch(this.session.isEnabled('desired'));
    }
    const change = fn !== null ? this.session.enableFeature(feature) : this.session.disableFeature(feature);
    change.catch((err: Error) => this.background(err));
  }

  private sessionEvents(): SessionEvents {
    return {
      stateChanged: (state, reason, nextRetryAt) => this.stateChanged(state, reason, nextRetryAt),
      background: (error) => this.background(error),
      incoming: (topic, payload) => this.onIncoming(topic, payload),
      connected: () => {
        if (this.session.isEnabled('desired')) this.desired.afterConnect();
      },
      // Method requests waiting for a handler are dropped: the hub re-sends them (as the Python SDK does).
      connectionEnded: () => this.dispatch.purgeMethods(),
      newSastokenRequired: () => callUser(this.log, 'onNewSastokenRequired', () => this.onNewSastokenRequired?.()),
    };
  }

  private stateChanged(state: ConnectionState, reason: Error | undefined, nextRetryAt: number | undefined): void {
    const fn = this.onConnectionStateChange;
    if (!fn) return;
    const info: ConnectionStateInfo = { state, connected: state === 'connected' };
    if (reason) info.reason = reason;
    if (nextRetryAt !== undefined) info.nextRetryAt = nextRetryAt;
    callUser(this.log, 'onConnectionStateChange', () => fn(info));
  }

  private background(error: Error): void {
    this.log('warn', `background: ${error.name}: ${error.message}`);
    const fn = this.onBackgroundException;
    if (fn) callUser(this.log, 'onBackgroundException', () => fn(error));
  }

  private onIncoming(topic: string, payload: Buffer): void {
    try {
      const parsed = parseIncomingTopic(topic, this.topicId);
      switch (parsed.kind) {
        case 'input':
          return this.dispatch.message(inputMessage(parsed.inputName, parsed.properties, payload));
        case 'method': {
          const request = methodRequest(parsed.requestId, parsed.methodName, payload);
          this.methodResponses.received(parsed.requestId);
          return this.dispatch.method(request);
        }
        case 'twin-response':
          if (!this.twins.answer(parsed.requestId, parsed.status, payload)) {
            this.log('debug', `twin response for unknown $rid ${parsed.requestId} dropped`);
          }
          return;
        case 'desired-patch':
          return this.desired.patchReceived(desiredPatch(payload));
        default:
          this.log('debug', `dropped a publish on unknown topic ${topic}`);
      }
    } catch (err) {
      // Bad incoming data (invalid JSON…) is reported, never thrown into mqtt.js.
      this.background(
        err instanceof ClientError ? err : new ClientError('Failed to handle an incoming publish', { cause: err }),
      );
    }
  }
}
