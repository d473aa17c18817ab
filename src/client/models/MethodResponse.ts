// The answer to a direct method request (the Python SDK's MethodResponse).
import type { MethodRequest } from './MethodRequest';

/** A response to a MethodRequest: status code and JSON payload. */
export class MethodResponse {
  requestId: string;
  status: number;
  payload: unknown;

  constructor(requestId: string, status: number, payload: unknown = null) {
    this.requestId = requestId;
    this.status = status;
    this.payload = payload;
  }

  /** Builds a response for `request`, copying its request id. */
  static createFromMethodRequest(request: MethodRequest, status: number, payload: unknown = null): MethodResponse {
    return new MethodResponse(request.requestId, status, payload);
  }
}
