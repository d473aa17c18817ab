// A direct method request received from the hub (the Python SDK's MethodRequest).

/** A direct method call addressed to this module; answer it with a MethodResponse carrying its `requestId`. */
export class MethodRequest {
  /** The `$rid` of the request. */
  readonly requestId: string;
  /** The method name (URL-decoded). */
  readonly name: string;
  /** The parsed JSON payload (null when empty). */
  readonly payload: unknown;

  constructor(requestId: string, name: string, payload: unknown) {
    this.requestId = requestId;
    this.name = name;
    this.payload = payload;
  }
}
