// What the client receives, turned into the public models (A3.2, A3.3): input messages, method requests and desired
// property patches. Topic and property-bag parsing is in transport/topics.ts and transport/properties.ts.
import { ClientError } from './errors';
import { Message } from './models/Message';
import { MethodRequest } from './models/MethodRequest';
import type { DecodedProperties } from './transport/properties';

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
 * A received method request; its payload is JSON (an empty one is `null`, as the seed's `json.loads(… or 'null')`).
 * @throws ClientError 'protocol-error' for a payload that is not JSON (the seed loses the request and reports it).
 */
export function methodRequest(requestId: string, methodName: string, payload: Buffer): MethodRequest {
  try {
    return new MethodRequest(requestId, methodName, JSON.parse(payload.toString('utf8') || 'null'));
  } catch (err) {
    throw new ClientError(`Method request ${methodName} has an invalid JSON payload`, { code: 'protocol-error', cause: err });
  }
}

/**
 * A received desired properties patch (with its `$version` inside, A5).
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
