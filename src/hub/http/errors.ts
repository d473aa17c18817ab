// How the local hub's HTTPS API answers a failure: IoT Hub's two error body shapes, the status and the error header.
// The errors themselves (names, statuses, codes) are in ../hubErrors.ts.
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import type { HubError } from '../hubErrors';

/**
 * The body shape of an error. IoT Hub answers in two, and the official service SDK (azure-iothub's
 * `Http.parseErrorBody`) only understands the first:
 * - legacy: `{"Message":"ErrorCode:<Name>;<text>","ExceptionMessage":"Tracking ID:…"}` (registry, twins, auth);
 * - json:
 * `{"Message":"{\"errorCode\":404103,\"trackingId\":…,\"message\":…,\"info\":{…},\"timestampUtc\":…}",
 * "ExceptionMessage":""}`
 *   (direct methods), which azure-iothub reports by HTTP status only, exactly as against the real service.
 */
export type BodyStyle = 'legacy' | 'json';

function errorBody(err: HubError, style: BodyStyle): string {
  const trackingId = randomBytes(16).toString('hex');
  const now = new Date();
  if (style === 'json') {
    const inner = {
      errorCode: err.errorCode,
      trackingId,
      message: err.message,
      info: {},
      timestampUtc: now.toISOString(),
    };
    return JSON.stringify({ Message: JSON.stringify(inner), ExceptionMessage: '' });
  }
  // `;` separates the code from the text in the legacy shape: keep it out of the text.
  return JSON.stringify({
    Message: `ErrorCode:${err.errorName};${err.message.replace(/;/g, ',')}`,
    ExceptionMessage: `Tracking ID:${trackingId}-G:0-TimeStamp:${now.toISOString()}`,
  });
}

/**
 * Answers with the error (status, `iothub-errorcode` header, body in the endpoint's style); only ends the response
 * when headers were already sent.
 * @throws never
 */
export function sendError(res: http.ServerResponse, err: HubError, style: BodyStyle): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = errorBody(err, style);
  res.writeHead(err.httpStatus, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    // IoT Hub names the error in a header too; clients may read it without parsing the body.
    'iothub-errorcode': err.errorName,
  });
  res.end(text);
}
