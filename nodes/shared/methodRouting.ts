// Routes a direct method request to the method-request nodes listening for it: a method nobody handles is answered
// at once with 501, as a module without that method would be; otherwise the request is recorded in the runtime's
// request table (answered automatically when the flow is too slow) and handed to every matching node.
import { MethodResponse, type IoTHubModuleClient, type MethodRequest } from '../../src/index';
import type { MethodListener } from './HostListeners';
import { addPendingRequest } from './methodRegistry';

/** Where routing failures go (already described for people). */
export interface RouterLog {
  /** A failure of the hub or the client (e.g. the 501 could not be sent). */
  failed(err: unknown): void;
  /** A listener threw. */
  listenerFailed(err: unknown): void;
}

/**
 * Hands `request`, received by `client` of config node `owner.id` on hub connection `owner.connection` (a
 * `newConnectionTag`), to the `listeners` whose method name matches. Never throws.
 */
export function routeMethodRequest(
  request: MethodRequest,
  listeners: readonly MethodListener[],
  client: IoTHubModuleClient,
  owner: { id: string; connection: string },
  log: RouterLog,
): void {
  const matching = listeners.filter((l) => l.methodName === '' || l.methodName === request.name);
  const respond = (rid: string, status: number, payload: unknown): Promise<void> =>
    client.sendMethodResponse(new MethodResponse(rid, status, payload));
  if (matching.length === 0) {
    // Nobody handles this method: answer at once, as a module without that method would (501 Not Implemented).
    respond(request.requestId, 501, { message: `method '${request.name}' not implemented` }).catch((err: unknown) =>
      log.failed(err),
    );
    return;
  }
  // The listener with the shortest automatic-answer time decides when and how the hub is answered for a slow flow.
  const first = matching.reduce((a, b) => (b.autoAnswerMs < a.autoAnswerMs ? b : a));
  const requestId = addPendingRequest({
    ownerId: owner.id,
    connection: owner.connection,
    hubRequestId: request.requestId,
    methodName: request.name,
    respond,
    autoAnswer: {
      afterMs: first.autoAnswerMs,
      status: first.autoAnswerStatus,
      payload: { message: 'no answer from the flow in time' },
      onExpire: (err) => first.warnExpired(requestId, err),
    },
  });
  for (const listener of matching) {
    try {
      listener.emit(request, requestId);
    } catch (err) {
      log.listenerFailed(err);
    }
  }
}
