// What the client receives, turned into the public models: input messages, method requests and desired
// property patches. Topic and property-bag parsing is in transport/topics.ts and transport/properties.ts.
import { ClientError } from './errors';
import { Message } from './models/Message';
import { MethodRequest } from './models/MethodRequest';
import type { DecodedProperties } from './transport/properties';
import type { TwinDocument } from './types';

/** A received input message: raw payload bytes (never decoded), its input name and every property. */
export function inputMessage(inputName: string, properties: DecodedProperties, payload: Buffer): Message {
  const message = new Message(payload);
  const p = properties;
  message.inputName = inputName;
  message.customProperties = p.customProperties;
  if (p.messageId !== undefined) message.messageId = p.messageId;
  if (p.correlationId !== undefined) message.correlationId = p.correlationId;
  if (p.userId !== undefined) message.userId = p.userId;
  if (p.contentType !== undefined) message.contentType = p.contentType;
  if (p.contentEncoding !== undefined) message.contentEncoding = p.contentEncoding;
  if (p.expiryTimeUtc !== undefined) message.expiryTimeUtc = p.expiryTimeUtc;
  if (p.ack !== undefined) message.ack = p.ack;
  return message;
}

/**
 * A received method request; its payload is JSON (an empty one is `null`, as in the Python SDK's
 * `json.loads(… or 'null')`).
 * @throws ClientError 'protocol-error' for a payload that is not JSON (the Python SDK loses the request and reports
 *   it), or for a request without `$rid` (it could never be answered).
 */
export function methodRequest(requestId: string, methodName: string, payload: Buffer): MethodRequest {
  if (requestId === '') throw new ClientError(`Method request ${methodName} has no $rid`, { code: 'protocol-error' });
  try {
    return new MethodRequest(requestId, methodName, JSON.parse(payload.toString('utf8') || 'null'));
  } catch (err) {
    throw new ClientError(`Method request ${methodName} has an invalid JSON payload`, {
      code: 'protocol-error',
      cause: err,
    });
  }
}

/**
 * A received desired properties patch (with its `$version` inside, as IoT Hub sends it).
 * @throws ClientError 'protocol-error' when it is not a JSON object.
 */
export function desiredPatch(payload: Buffer): Record<string, unknown> {
  let patch: unknown;
  try {
    patch = JSON.parse(payload.toString('utf8') || 'null');
  } catch (err) {
    throw new ClientError('Desired properties patch is not valid JSON', { code: 'protocol-error', cause: err });
  }
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
    throw new ClientError('Desired properties patch is not a JSON object', { code: 'protocol-error' });
  }
  return patch as Record<string, unknown>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A twin document from a GET response: a JSON object whose `desired` and `reported` sections are objects.
 * @throws ClientError 'protocol-error' otherwise (the caller would find nothing usable in it).
 */
export function twinDocument(payload: Buffer): TwinDocument {
  let twin: unknown;
  try {
    twin = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    throw new ClientError('Twin document is not valid JSON', { code: 'protocol-error', cause: err });
  }
  if (!isRecord(twin) || !isRecord(twin.desired) || !isRecord(twin.reported)) {
    throw new ClientError('Twin document is not an object with desired and reported sections', {
      code: 'protocol-error',
    });
  }
  return twin as unknown as TwinDocument;
}
