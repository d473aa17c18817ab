// The ONE table mapping raw failures (CONNACK return codes, socket and TLS error codes, HTTP / twin statuses, IoT Hub
// error codes) to the public error classes, and the reader of IoT Hub error codes in service error bodies (twin and
// HTTP alike). The mapping never matches on message text; only the error-code reader looks into bodies.
import {
  ClientError,
  ConnectionDroppedError,
  ConnectionFailedError,
  CredentialError,
  isIoTHubError,
  type ErrorCode,
  type ErrorDetails,
} from './errors';

type ErrorClass = new (message: string, details?: ErrorDetails) => ClientError;

interface Rule {
  cls: ErrorClass;
  code?: ErrorCode;
  retryable?: boolean;
  text: string;
}

// Row builders for the classes with many rows (they differ only in their text).
const failed = (text: string): Rule => ({ cls: ConnectionFailedError, text });
const dropped = (text: string): Rule => ({ cls: ConnectionDroppedError, text });
const credentials = (text: string): Rule => ({ cls: CredentialError, text });
/** Server certificate not trusted or handshake failed: the Python SDK's TlsExchangeAuthError → ClientError. */
const tlsError = (text: string): Rule => ({ cls: ClientError, code: 'tls-error', text });

/**
 * Keys: `connack:{n}`, `socket:{code}`, `tls:{code}`, `status:{n}`, `status:5xx`, `hub:{errorCode}`.
 * CONNACK as the Python SDK maps it: 1, 2 → ClientError; 3 → ConnectionFailedError; 4, 5 → CredentialError.
 */
const TABLE: Record<string, Rule> = {
  'connack:1': { cls: ClientError, code: 'protocol-error', text: 'Connection refused: unacceptable protocol version' },
  'connack:2': { cls: ClientError, code: 'protocol-error', text: 'Connection refused: identifier rejected' },
  'connack:3': failed('Connection refused: server unavailable'),
  'connack:4': credentials('Connection refused: bad user name or password'),
  'connack:5': credentials('Connection refused: not authorized'),

  'socket:ECONNREFUSED': failed('Connection refused by the host'),
  'socket:ENOTFOUND': failed('Host name not found'),
  'socket:EAI_AGAIN': failed('Host name lookup failed'),
  'socket:ETIMEDOUT': failed('Connection attempt timed out'),
  'socket:EHOSTUNREACH': failed('Host unreachable'),
  'socket:ENETUNREACH': failed('Network unreachable'),
  'socket:EADDRNOTAVAIL': failed('Address not available'),
  'socket:ECONNRESET': dropped('Connection reset by the peer'),
  'socket:EPIPE': dropped('Connection closed by the peer'),
  'socket:ECONNABORTED': dropped('Connection aborted'),
  'socket:ERR_STREAM_PREMATURE_CLOSE': dropped('Connection closed'),
  'socket:ERR_SOCKET_CLOSED': dropped('Connection closed'),

  // Server certificate not trusted: the Python SDK's TlsExchangeAuthError → ClientError.
  'tls:DEPTH_ZERO_SELF_SIGNED_CERT': tlsError('Server certificate is self-signed'),
  'tls:SELF_SIGNED_CERT_IN_CHAIN': tlsError('Server certificate chain not trusted'),
  'tls:UNABLE_TO_VERIFY_LEAF_SIGNATURE': tlsError('Server certificate not trusted'),
  'tls:UNABLE_TO_GET_ISSUER_CERT_LOCALLY': tlsError('Server certificate issuer unknown'),
  'tls:UNABLE_TO_GET_ISSUER_CERT': tlsError('Server certificate issuer unknown'),
  'tls:CERT_HAS_EXPIRED': tlsError('Server certificate expired'),
  'tls:CERT_NOT_YET_VALID': tlsError('Server certificate not yet valid'),
  'tls:CERT_SIGNATURE_FAILURE': tlsError('Server certificate signature invalid'),
  'tls:ERR_TLS_CERT_ALTNAME_INVALID': tlsError('Server certificate does not match the host name'),
  'tls:ERR_SSL_WRONG_VERSION_NUMBER': tlsError('TLS handshake failed'),
  'tls:ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE': tlsError('TLS handshake failed'),
  'tls:ERR_SSL_NO_CIPHERS_AVAILABLE': tlsError('No usable TLS cipher'),
  'tls:ERR_SSL_NO_CIPHER_MATCH': tlsError('No usable TLS cipher'),
  // The hub rejected our client certificate (X.509 authentication).
  'tls:ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE': credentials('Client certificate rejected'),
  'tls:ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN': credentials('Client certificate rejected'),
  'tls:ERR_SSL_TLSV1_ALERT_UNKNOWN_CA': credentials('Client certificate rejected'),
  'tls:ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED': credentials('Client certificate required'),

  'status:400': { cls: ClientError, code: 'bad-request', text: 'Bad request' },
  'status:401': { cls: ClientError, code: 'unauthorized', text: 'Unauthorized' },
  'status:403': { cls: ClientError, code: 'unauthorized', text: 'Forbidden' },
  'status:404': { cls: ClientError, code: 'not-found', text: 'Not found' },
  'status:412': { cls: ClientError, code: 'service-error', text: 'Precondition failed' },
  'status:429': { cls: ClientError, code: 'throttled', retryable: true, text: 'Throttled' },
  'status:5xx': { cls: ClientError, code: 'service-error', retryable: true, text: 'Service error' },
  'hub:404103': { cls: ClientError, code: 'device-not-online', retryable: true, text: 'Target is not online' },
  'hub:504101': { cls: ClientError, code: 'gateway-timeout', retryable: true, text: 'Target did not answer in time' },
};

function build(rule: Rule, details: ErrorDetails, suffix = ''): ClientError {
  const d: ErrorDetails = { ...details };
  if (rule.code) d.code = rule.code;
  if (rule.retryable !== undefined) d.retryable = rule.retryable;
  return new rule.cls(rule.text + suffix, d);
}

/** Maps a refused CONNACK return code (1..5; anything else → ClientError 'protocol-error'). */
export function errorFromConnack(returnCode: number, cause?: unknown): ClientError {
  const rule = TABLE[`connack:${returnCode}`];
  if (rule) return build(rule, { cause });
  return new ClientError(`Connection refused: return code ${returnCode}`, { code: 'protocol-error', cause });
}

/**
 * Maps a service status (twin response status or HTTP status) and optional IoT Hub error code.
 * Statuses below 300 are not errors; callers only pass failures.
 */
export function errorFromStatus(
  statusCode: number,
  errorCode?: number,
  cause?: unknown,
  serviceMessage?: string,
): ClientError {
  const details: ErrorDetails = { statusCode, cause };
  if (errorCode !== undefined) details.errorCode = errorCode;
  if (serviceMessage !== undefined) details.serviceMessage = serviceMessage;
  const rule =
    (errorCode !== undefined ? TABLE[`hub:${errorCode}`] : undefined) ??
    TABLE[`status:${statusCode}`] ??
    (statusCode >= 500 ? TABLE['status:5xx'] : undefined);
  if (rule)
    return build(rule, details, ` (status ${statusCode}${errorCode !== undefined ? `, error ${errorCode}` : ''})`);
  return new ClientError(`Service returned status ${statusCode}`, { ...details, code: 'service-error' });
}

/**
 * Maps any raw transport failure: an error this library already raised passes through; mqtt.js CONNACK errors
 * (numeric `code` while connecting) → {@link errorFromConnack}, a numeric `code` later → ClientError
 * 'protocol-error'; Node socket / TLS errors by their string `code`; everything else is a ClientError (as the Python
 * SDK maps "anything unexpected").
 * @param duringConnect true while connecting: unknown failures become ConnectionFailedError instead of dropped.
 */
export function mapTransportError(err: unknown, duringConnect = false): Error {
  if (isIoTHubError(err)) return err;
  const code = (err as { code?: unknown } | null)?.code;
  // mqtt.js puts a CONNACK return code in `code` while connecting; on a live connection a number is the reason
  // code of a protocol violation it detected (a second CONNACK, a malformed packet…), not a refusal.
  if (typeof code === 'number') {
    return duringConnect
      ? errorFromConnack(code, err)
      : new ClientError(`MQTT protocol error (reason code ${code})`, { code: 'protocol-error', cause: err });
  }
  if (typeof code === 'string') {
    const rule = TABLE[`socket:${code}`] ?? TABLE[`tls:${code}`];
    if (rule) {
      if (duringConnect && rule.cls === ConnectionDroppedError)
        return new ConnectionFailedError(rule.text, { cause: err });
      return build(rule, { cause: err });
    }
    if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_'))
      return new ClientError('TLS failure', { code: 'tls-error', cause: err });
  }
  return duringConnect
    ? new ConnectionFailedError('Connection failed', { cause: err })
    : new ClientError('Unexpected failure', { cause: err });
}

/**
 * Maps a service answer with status ≥ 300 and its body (twin response or HTTP), keeping the IoT Hub error code and
 * the service's own explanation found in the body.
 */
export function errorFromServiceBody(statusCode: number, body: string, cause?: unknown): ClientError {
  return errorFromStatus(statusCode, parseIotHubErrorCode(body), cause, parseServiceMessage(body));
}

/**
 * Finds the service's explanation in an error body: `{"message": "…"}`, the text after `ErrorCode:Name;` in a
 * `Message` (IoT Hub's registry and twin errors), or the `message` of a `Message` that is itself JSON (what IoT Hub
 * sends for direct methods). At most 500 characters; undefined when there is none.
 */
export function parseServiceMessage(body: string, depth = 0): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || depth > 2) return undefined;
  const record = parsed as Record<string, unknown>;
  for (const key of ['Message', 'message']) {
    const value = record[key];
    if (typeof value !== 'string' || value.trim() === '') continue;
    if (value.trimStart().startsWith('{')) {
      const inner = parseServiceMessage(value, depth + 1);
      if (inner !== undefined) return inner;
      continue;
    }
    const text = value.replace(/^\s*ErrorCode:\s*[A-Za-z0-9]+;?/, '').trim();
    if (text !== '') return text.length > 500 ? `${text.slice(0, 500)}…` : text;
  }
  return undefined;
}

/** IoT Hub error names (as found in `Message: "ErrorCode:Name;…"`) and their numeric codes. */
const IOTHUB_ERROR_NAMES: Record<string, number> = {
  ArgumentInvalid: 400004,
  IotHubUnauthorizedAccess: 401002,
  IotHubQuotaExceeded: 403002,
  NotFound: 404000,
  DeviceNotFound: 404001,
  ModuleNotFound: 404010,
  DeviceNotOnline: 404103,
  PreconditionFailed: 412002,
  MessageTooLarge: 413002,
  ThrottlingException: 429001,
  ServerError: 500001,
  ServiceUnavailable: 503001,
  GatewayTimeout: 504101,
};

/**
 * Finds the numeric IoT Hub error code in an error body: `{"errorCode": 404103}`, `{"ErrorCode": "DeviceNotOnline"}`,
 * `{"Message": "ErrorCode:DeviceNotOnline;…"}`, or a `Message` that is itself JSON (what IoT Hub sends for methods).
 */
export function parseIotHubErrorCode(body: string, depth = 0): number | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return fromText(body);
  }
  if (typeof parsed !== 'object' || parsed === null || depth > 2) return undefined;
  const record = parsed as Record<string, unknown>;
  for (const key of ['errorCode', 'ErrorCode', 'code', 'Code']) {
    const value = record[key];
    if (typeof value === 'number' && Number.isInteger(value)) return value;
    if (typeof value === 'string') {
      const found = /^\d{6}$/.test(value) ? Number(value) : errorNumber(value);
      if (found !== undefined) return found;
    }
  }
  for (const key of ['Message', 'message', 'ExceptionMessage']) {
    const value = record[key];
    if (typeof value !== 'string') continue;
    const found = value.trimStart().startsWith('{') ? parseIotHubErrorCode(value, depth + 1) : fromText(value);
    if (found !== undefined) return found;
  }
  return undefined;

  function fromText(text: string): number | undefined {
    const match = /ErrorCode:\s*([A-Za-z]+|\d{6})/.exec(text);
    if (!match) return undefined;
    return /^\d+$/.test(match[1]!) ? Number(match[1]) : errorNumber(match[1]!);
  }
}

/** The numeric code of an IoT Hub error name; own keys only (a body saying `constructor` must not find Object's). */
function errorNumber(name: string): number | undefined {
  return Object.hasOwn(IOTHUB_ERROR_NAMES, name) ? IOTHUB_ERROR_NAMES[name] : undefined;
}
