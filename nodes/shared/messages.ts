// Pure conversion between Node-RED messages and the library's Message: payload decoding by content type and
// encoding, system / application properties, and the edgeHub-added source identity.
import { types } from 'node:util';
import { Message } from '../../src/index';
import { NodeError, type JsonProblem } from './errors';
import type { NodeMessage } from './red';

/** Why a payload was delivered as a Buffer although its content type said otherwise. */
export type DecodeWarning = 'invalid-json' | 'invalid-text' | 'unknown-encoding';

export interface DecodedPayload {
  payload: unknown;
  warning?: DecodeWarning;
}

const ENCODINGS: Record<string, 'utf8' | 'utf16le' | 'latin1' | 'ascii'> = {
  'utf-8': 'utf8',
  utf8: 'utf8',
  'utf-16': 'utf16le',
  'utf-16le': 'utf16le',
  utf16le: 'utf16le',
  'ucs-2': 'utf16le',
  ucs2: 'utf16le',
  'iso-8859-1': 'latin1',
  latin1: 'latin1',
  'us-ascii': 'ascii',
  ascii: 'ascii',
};

function parseContentType(contentType: string | undefined): { mime: string; charset?: string } {
  const [mime = '', ...params] = (contentType ?? '').split(';');
  const result: { mime: string; charset?: string } = { mime: mime.trim().toLowerCase() };
  for (const param of params) {
    const [name, value] = param.split('=');
    if (name?.trim().toLowerCase() === 'charset' && value)
      result.charset = value.trim().replace(/^"|"$/g, '').toLowerCase();
  }
  return result;
}

function isJsonType(mime: string): boolean {
  return mime === 'application/json' || mime === 'text/json' || mime.endsWith('+json');
}

function decodeText(data: Buffer, encoding: 'utf8' | 'utf16le' | 'latin1' | 'ascii'): string | undefined {
  if (encoding === 'utf8') {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(data);
    } catch {
      return undefined;
    }
  }
  if (encoding === 'ascii') return data.every((b) => b < 0x80) ? data.toString('latin1') : undefined;
  if (encoding === 'utf16le' && data.length % 2 !== 0) return undefined;
  return data.toString(encoding);
}

/**
 * Decodes a received payload as its content type and encoding declare: JSON → value, text → string, anything
 * else (or `raw`) → the Buffer untouched. A payload that does not decode as declared stays a Buffer and the
 * result carries a warning; this never throws.
 */
export function decodePayload(
  data: Buffer,
  contentType?: string,
  contentEncoding?: string,
  raw = false,
): DecodedPayload {
  if (raw) return { payload: data };
  const { mime, charset } = parseContentType(contentType);
  const declaredEncoding = (contentEncoding ?? '').trim().toLowerCase() || charset;
  const json = isJsonType(mime);
  const text = !json && (mime.startsWith('text/') || (mime === '' && declaredEncoding !== undefined));
  if (!json && !text) return { payload: data };
  const encoding = ENCODINGS[declaredEncoding ?? 'utf-8'];
  if (encoding === undefined) return { payload: data, warning: 'unknown-encoding' };
  const decoded = decodeText(data, encoding);
  if (decoded === undefined) return { payload: data, warning: 'invalid-text' };
  if (!json) return { payload: decoded };
  try {
    return { payload: JSON.parse(decoded) };
  } catch {
    return { payload: data, warning: 'invalid-json' };
  }
}

/**
 * Application properties edgeHub uses for the source identity when it routes a module's output (see
 * learn.microsoft.com/azure/iot-edge/module-composition#declare-routes).
 */
const SOURCE_DEVICE = '$.cdid';
const SOURCE_MODULE = '$.cmid';

/** A received input message as a flow message, plus a decode warning when the payload stayed a Buffer. */
export function messageToMsg(
  message: Message,
  options: { raw?: boolean } = {},
): { msg: NodeMessage; warning?: DecodeWarning } {
  const data = Buffer.isBuffer(message.data) ? message.data : Buffer.from(String(message.data), 'utf8');
  const decoded = decodePayload(data, message.contentType, message.contentEncoding, options.raw === true);
  const properties: Record<string, string> = {};
  const custom = message.customProperties ?? {};
  for (const [key, value] of Object.entries(custom)) {
    // `$.`-keys are system properties the SDK files under custom properties (`$.on`, `$.cdid`, `$.cmid`…).
    if (!key.startsWith('$.')) properties[key] = value;
  }
  const msg: NodeMessage = { payload: decoded.payload, properties };
  if (message.inputName !== undefined) {
    msg.topic = message.inputName;
    msg.inputName = message.inputName;
  }
  const copy: Array<[string, unknown]> = [
    ['messageId', message.messageId],
    ['correlationId', message.correlationId],
    ['userId', message.userId],
    ['contentType', message.contentType],
    ['contentEncoding', message.contentEncoding],
    [
      'expiryTimeUtc',
      message.expiryTimeUtc instanceof Date ? message.expiryTimeUtc.toISOString() : message.expiryTimeUtc,
    ],
    ['connectionDeviceId', custom[SOURCE_DEVICE]],
    ['connectionModuleId', custom[SOURCE_MODULE]],
  ];
  for (const [name, value] of copy) if (value !== undefined && value !== null) msg[name] = value;
  return decoded.warning === undefined ? { msg } : { msg, warning: decoded.warning };
}

function optionalString(msg: NodeMessage, field: string): string | undefined {
  const value = msg[field];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  throw new NodeError('invalid-field', `msg.${field}`);
}

/**
 * Builds the Message to send from a flow message: Buffers (and typed arrays) go raw, strings as UTF-8 text, every
 * other JSON value as `application/json` UTF-8; msg.properties (string, number or boolean values; no `$.` keys),
 * msg.messageId, msg.correlationId, msg.contentType and msg.contentEncoding are honoured.
 * @throws NodeError `invalid-payload` (missing or not serialisable), `invalid-properties`, `invalid-field`.
 */
export function msgToMessage(msg: NodeMessage): Message {
  const payload = msg.payload;
  let data: string | Buffer;
  let contentType: string | undefined;
  let contentEncoding: string | undefined;
  if (payload === undefined) throw new NodeError('invalid-payload', 'msg.payload', undefined, 'undefined');
  if (Buffer.isBuffer(payload)) {
    data = payload;
  } else if (typeof payload === 'string') {
    data = payload;
    contentType = 'text/plain';
    contentEncoding = 'utf-8';
  } else if (ArrayBuffer.isView(payload)) {
    // Typed arrays and DataViews are bytes too: JSON would turn a Uint8Array into {"0":…,"1":…}.
    data = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  } else if (types.isArrayBuffer(payload)) {
    data = Buffer.from(payload);
  } else {
    const encoded = toJson(payload);
    if (encoded.json === undefined)
      throw new NodeError('invalid-payload', 'msg.payload', encoded.error, encoded.problem);
    data = encoded.json;
    contentType = 'application/json';
    contentEncoding = 'utf-8';
  }
  contentType = optionalString(msg, 'contentType') ?? contentType;
  contentEncoding = optionalString(msg, 'contentEncoding') ?? contentEncoding;
  const message = new Message(data);
  if (contentType !== undefined) message.contentType = contentType;
  if (contentEncoding !== undefined) message.contentEncoding = contentEncoding;
  const messageId = optionalString(msg, 'messageId');
  if (messageId !== undefined) message.messageId = messageId;
  const correlationId = optionalString(msg, 'correlationId');
  if (correlationId !== undefined) message.correlationId = correlationId;
  const properties = msg.properties;
  if (properties !== undefined && properties !== null) {
    if (typeof properties !== 'object' || Array.isArray(properties) || Buffer.isBuffer(properties)) {
      throw new NodeError('invalid-properties', 'msg.properties');
    }
    const record = properties as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      // `$.`-keys are system properties on the wire (`$.on` would re-route the message, `$.mid` set its id):
      // msg.messageId, msg.outputName… set those; an application property may not.
      if (key.startsWith('$.')) throw new NodeError('invalid-properties', `msg.properties.${key}`);
      const value = record[key];
      if (typeof value === 'string') message.customProperties[key] = value;
      else if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean')
        message.customProperties[key] = String(value);
      else if (value !== undefined && value !== null)
        throw new NodeError('invalid-properties', `msg.properties.${key}`);
    }
  }
  return message;
}

/**
 * The JSON value to answer or call a direct method with: Buffers are read as UTF-8 JSON when they parse, else as
 * text; undefined is null.
 * @throws NodeError `invalid-payload` when JSON cannot encode it (BigInt, Symbol, a function, a circular or too
 * deeply nested object): checked here so that the failure has its own code and happens before anything is sent.
 */
export function methodPayload(payload: unknown): unknown {
  if (payload === undefined) return null;
  if (Buffer.isBuffer(payload)) {
    const text = payload.toString('utf8');
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  const encoded = toJson(payload);
  if (encoded.json === undefined) throw new NodeError('invalid-payload', 'msg.payload', encoded.error, encoded.problem);
  return payload;
}

/**
 * The JSON text of `value`, or why JSON cannot encode it (with the encoder's error); never throws. A function or
 * Symbol nested in an object is left out, as JSON.stringify does; at the top it cannot be sent.
 */
export function toJson(
  value: unknown,
):
  | { json: string; problem?: undefined; error?: undefined }
  | { json?: undefined; problem: JsonProblem; error?: unknown } {
  if (value === undefined) return { problem: 'undefined' };
  if (typeof value === 'function') return { problem: 'function' };
  if (typeof value === 'symbol') return { problem: 'symbol' };
  let bigint = false;
  try {
    const json = JSON.stringify(value, function (this: unknown, _key: string, v: unknown) {
      if (typeof v === 'bigint') bigint = true;
      return v;
    });
    return json === undefined ? { problem: 'undefined' } : { json };
  } catch (error) {
    // The replacer saw a BigInt just before the encoder refused it; a RangeError is the encoder's stack running out;
    // a TypeError with a reference cycle in the value is the cycle; anything else came from a toJSON.
    if (bigint) return { problem: 'bigint', error };
    if (error instanceof RangeError) return { problem: 'too-deep', error };
    return { problem: error instanceof TypeError && isCircular(value) ? 'circular' : 'to-json', error };
  }
}

/** Whether `value` holds a reference cycle (walks plain objects and arrays, as JSON does). */
function isCircular(value: unknown): boolean {
  const path = new Set<object>();
  const walk = (v: unknown): boolean => {
    if (typeof v !== 'object' || v === null) return false;
    if (path.has(v)) return true;
    path.add(v);
    for (const child of Object.values(v)) if (walk(child)) return true;
    path.delete(v);
    return false;
  };
  try {
    return walk(value);
  } catch {
    return false;
  }
}

/**
 * What a queued message holds: its payload and property bytes (UTF-8), the measure of the output queue's byte bound.
 */
export function messageBytes(message: Message): number {
  const data = message.data;
  let bytes =
    typeof data === 'string'
      ? Buffer.byteLength(data, 'utf8')
      : Buffer.isBuffer(data)
        ? data.length
        : String(data).length;
  for (const [key, value] of Object.entries(message.customProperties))
    bytes += Buffer.byteLength(key, 'utf8') + Buffer.byteLength(value, 'utf8');
  for (const value of [
    message.messageId,
    message.correlationId,
    message.contentType,
    message.contentEncoding,
    message.outputName,
  ]) {
    if (typeof value === 'string') bytes += Buffer.byteLength(value, 'utf8');
  }
  return bytes;
}
