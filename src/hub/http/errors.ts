// IoT Hub-shaped HTTP errors for the local hub's HTTPS API: the error table, the error class and the two body shapes.
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import type { HubErrorShape } from '../types';

/** The IoT Hub errors the HTTPS API answers with: HTTP status, numeric code and the `ErrorCode:` name. */
export const ERRORS = {
  ArgumentInvalid: [400, 400004],
  IotHubUnauthorizedAccess: [401, 401002],
  DeviceNotFound: [404, 404001],
  ModuleNotFound: [404, 404010],
  DeviceNotOnline: [404, 404103],
  NotFound: [404, 404000],
  MethodNotAllowed: [405, 405000],
  DeviceAlreadyExists: [409, 409001],
  ModuleAlreadyExistsOnDevice: [409, 409301],
  PreconditionFailed: [412, 412002],
  MessageTooLarge: [413, 413002],
  ThrottlingException: [429, 429001],
  ServerError: [500, 500001],
  NotImplemented: [501, 501000],
  ServiceUnavailable: [503, 503000],
  GatewayTimeout: [504, 504101],
} as const satisfies Record<string, readonly [number, number]>;

/** The `ErrorCode:` names the API uses. */
export type ErrorName = keyof typeof ERRORS;

/**
 * The body shape of an error. IoT Hub answers in two, and the official service SDK (azure-iothub's
 * `Http.parseErrorBody`) only understands the first:
 * - legacy: `{"Message":"ErrorCode:<Name>;<text>","ExceptionMessage":"Tracking ID:…"}` (registry, twins, auth);
 * - json: `{"Message":"{\"errorCode\":404103,\"trackingId\":…,\"message\":…,\"info\":{…},\"timestampUtc\":…}","ExceptionMessage":""}`
 *   (direct methods), which azure-iothub reports by HTTP status only, exactly as against the real service.
 */
export type BodyStyle = 'legacy' | 'json';

/** A failure to send back as an IoT Hub error. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: number;
  constructor(readonly errorName: ErrorName, message: string, readonly style: BodyStyle = 'legacy', status?: number, code?: number) {
    super(message);
    this.status = status ?? ERRORS[errorName][0];
    this.code = code ?? ERRORS[errorName][1];
  }
}

function isHubError(err: unknown): err is HubErrorShape {
  return err instanceof Error && typeof (err as HubErrorShape).httpStatus === 'number' && typeof (err as HubErrorShape).errorCode === 'number';
}

/**
 * Maps any failure (an ApiError, a core HubErrorShape, anything else → 500 ServerError) to an ApiError in the body
 * style of the endpoint that answers.
 * @throws never
 */
export function fromHubError(err: unknown, style: BodyStyle): ApiError {
  // The endpoint decides the body shape, whichever helper raised the error.
  if (err instanceof ApiError) return err.style === style ? err : new ApiError(err.errorName, err.message, style, err.status, err.code);
  if (!isHubError(err)) return new ApiError('ServerError', err instanceof Error ? err.message : String(err), style);
  const known = (Object.keys(ERRORS) as ErrorName[]).find((name) => ERRORS[name][1] === err.errorCode);
  const byStatus: Record<number, ErrorName> = { 400: 'ArgumentInvalid', 401: 'IotHubUnauthorizedAccess', 404: 'NotFound', 409: 'DeviceAlreadyExists', 412: 'PreconditionFailed', 429: 'ThrottlingException', 504: 'GatewayTimeout' };
  const name = known ?? byStatus[err.httpStatus] ?? 'ServerError';
  return new ApiError(name, err.message, style, err.httpStatus, err.errorCode);
}

function errorBody(err: ApiError): string {
  const trackingId = randomBytes(16).toString('hex');
  const now = new Date();
  if (err.style === 'json') {
    const inner = { errorCode: err.code, trackingId, message: err.message, info: {}, timestampUtc: now.toISOString() };
    return JSON.stringify({ Message: JSON.stringify(inner), ExceptionMessage: '' });
  }
  // `;` separates the code from the text in the legacy shape: keep it out of the text.
  return JSON.stringify({
    Message: `ErrorCode:${err.errorName};${err.message.replace(/;/g, ',')}`,
    ExceptionMessage: `Tracking ID:${trackingId}-G:0-TimeStamp:${now.toISOString()}`,
  });
}

/**
 * Answers with the error (status, `iothub-errorcode` header, body in the error's style); only ends the response
 * when headers were already sent.
 * @throws never
 */
export function sendError(res: http.ServerResponse, err: ApiError): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = errorBody(err);
  res.writeHead(err.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    // IoT Hub names the error in a header too; clients may read it without parsing the body.
    'iothub-errorcode': err.errorName,
  });
  res.end(text);
}
