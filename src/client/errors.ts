// The public error classes (the Python SDK's set), each with a stable kebab-case code, a retryable flag and the cause.
// Mapping of raw MQTT / HTTP / socket failures to these classes lives in errorMapping.ts, in one table.

/** Stable machine-readable codes. People see catalog text chosen by code at the node edge, never these messages. */
export type ErrorCode =
  | 'client-error'
  | 'shut-down'
  | 'service-error'
  | 'throttled'
  | 'not-found'
  | 'bad-request'
  | 'unauthorized'
  | 'device-not-online'
  | 'gateway-timeout'
  | 'protocol-error'
  | 'tls-error'
  | 'proxy-error'
  | 'receive-mode-conflict'
  | 'not-supported'
  | 'unknown-request-id'
  | 'already-responded'
  | 'connection-failed'
  | 'connection-dropped'
  | 'credential-error'
  | 'no-connection'
  | 'operation-timeout'
  | 'operation-cancelled'
  | 'invalid-value'
  | 'message-too-large';

export interface ErrorDetails {
  code?: ErrorCode;
  retryable?: boolean;
  cause?: unknown;
  /** HTTP status or IoT Hub status returned by the service, when the error came from one. */
  statusCode?: number;
  /** IoT Hub numeric error code (e.g. 404103), when the service sent one. */
  errorCode?: number;
  /** The service's own explanation, as it sent it (e.g. "responseTimeoutInSeconds must be between 5 and 300"). */
  serviceMessage?: string;
}

/** Base of every failure the client reports for an operation. */
export class ClientError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly statusCode?: number;
  readonly errorCode?: number;
  /** The service's own explanation of a refusal, when it gave one. */
  readonly serviceMessage?: string;

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = details.code ?? 'client-error';
    this.retryable = details.retryable ?? false;
    if (details.statusCode !== undefined) this.statusCode = details.statusCode;
    if (details.errorCode !== undefined) this.errorCode = details.errorCode;
    if (details.serviceMessage !== undefined) this.serviceMessage = details.serviceMessage;
  }
}

/** The connection could not be established (socket, DNS, refused, CONNACK 3). */
export class ConnectionFailedError extends ClientError {
  constructor(message: string, details: ErrorDetails = {}) {
    super(message, { code: 'connection-failed', retryable: true, ...details });
  }
}

/** The connection was lost. */
export class ConnectionDroppedError extends ClientError {
  constructor(message: string, details: ErrorDetails = {}) {
    super(message, { code: 'connection-dropped', retryable: true, ...details });
  }
}

/** The hub refused the credentials (CONNACK 4/5, TLS client auth). */
export class CredentialError extends ClientError {
  constructor(message: string, details: ErrorDetails = {}) {
    super(message, { code: 'credential-error', retryable: false, ...details });
  }
}

/** An operation needed the network while disconnected and `autoConnect` is off. */
export class NoConnectionError extends ClientError {
  constructor(message: string, details: ErrorDetails = {}) {
    super(message, { code: 'no-connection', retryable: true, ...details });
  }
}

/**
 * The hub did not answer an operation within its time limit while connected (an operation that was still waiting for
 * a connection then fails with ConnectionFailedError instead). Not a ClientError, as in the Python SDK.
 */
export class OperationTimeout extends Error {
  readonly code: ErrorCode = 'operation-timeout';
  readonly retryable = true;
  constructor(message: string, details: { cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'OperationTimeout';
  }
}

/** An operation was cancelled by disconnect / shutdown. Not a ClientError, as in the Python SDK. */
export class OperationCancelled extends Error {
  readonly code: ErrorCode = 'operation-cancelled';
  readonly retryable = false;
  constructor(message: string, details: { cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'OperationCancelled';
  }
}

/**
 * A bad argument value (malformed connection string or SAS token, expired token, oversize message…), like the Python
 * SDK's ValueError: thrown by the factories, a rejection of the promise of every other method. Wrong types and
 * unknown options are plain `TypeError`s.
 */
export class ValueError extends Error {
  readonly code: ErrorCode;
  constructor(message: string, details: { code?: ErrorCode; cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ValueError';
    this.code = details.code ?? 'invalid-value';
  }
}

/** Every error class the client raises for operations (argument errors are plain TypeError / RangeError). */
export type IoTHubError = ClientError | OperationTimeout | OperationCancelled;

/** True for any error raised by this library's operations. */
export function isIoTHubError(err: unknown): err is IoTHubError {
  return err instanceof ClientError || err instanceof OperationTimeout || err instanceof OperationCancelled;
}
