// Request and response plumbing of the local hub's HTTPS API: JSON bodies (size-limited) and `If-Match` etags.
import type http from 'node:http';
import { etagMatches } from '../validation';
import { HubError } from '../hubErrors';

/** Largest request body accepted (IoT Hub's own limits are lower per section; this only stops abuse). */
export const MAX_BODY_BYTES = 256 * 1024;

/**
 * Answers with a JSON body (none when `body` is undefined); only ends the response when headers were already sent.
 * @throws never
 */
export function send(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...(text ? { 'content-type': 'application/json; charset=utf-8' } : {}),
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/**
 * Reads the whole body (at most MAX_BODY_BYTES) and parses it as JSON; empty → undefined.
 * @throws HubError 413 MessageTooLarge, 400 ArgumentInvalid (not JSON).
 */
export async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES)
    throw new HubError('MessageTooLarge', `Request body is larger than ${MAX_BODY_BYTES} bytes.`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES)
      throw new HubError('MessageTooLarge', `Request body is larger than ${MAX_BODY_BYTES} bytes.`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new HubError('ArgumentInvalid', 'The request body is not valid JSON.');
  }
}

/**
 * Checks the request's `If-Match` against the current etag with IoT Hub's rules (see {@link etagMatches}).
 * @throws HubError 412 PreconditionFailed on a mismatch.
 */
export function checkIfMatch(req: http.IncomingMessage, etag: string): void {
  const header = req.headers['if-match'];
  if (!etagMatches(header, etag)) {
    throw new HubError(
      'PreconditionFailed',
      `Precondition failed: the etag ${header} does not match the current etag ${etag}.`,
    );
  }
}
