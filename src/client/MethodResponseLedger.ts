// The method-response ledger: a direct method request may be answered once, and only if it was received. The Python
// SDK's send_method_response does not check, so a second answer or a typo in the id would go unnoticed.
import { ClientError } from './errors';

/** How many received request ids are remembered; beyond it the oldest are forgotten (down to 90 %). */
const REMEMBERED_IDS = 10_000;

/** 'pending' until answered, 'responding' while the answer is being published, 'answered' after its PUBACK. */
type RequestState = 'pending' | 'responding' | 'answered';

/** Received method request ids and whether they were answered. */
export class MethodResponseLedger {
  /** Insertion-ordered (Map), so the oldest ids are forgotten first. */
  private readonly requests = new Map<string, RequestState>();

  /**
   * Records a received request id. Ids survive reconnects: a slow handler may answer after one.
   */
  received(requestId: string): void {
    this.requests.set(requestId, 'pending');
    if (this.requests.size <= REMEMBERED_IDS) return;
    for (const id of this.requests.keys()) {
      this.requests.delete(id);
      if (this.requests.size <= REMEMBERED_IDS * 0.9) break;
    }
  }

  /**
   * Marks a response as being sent.
   * @throws ClientError 'unknown-request-id' for an id never received (or long forgotten), 'already-responded' for
   *   one answered or being answered.
   */
  begin(requestId: string): void {
    const state = this.requests.get(requestId);
    if (state === undefined)
      throw new ClientError(`No pending method request with id ${requestId}`, { code: 'unknown-request-id' });
    if (state !== 'pending')
      throw new ClientError(`Method request ${requestId} was already answered`, { code: 'already-responded' });
    this.requests.set(requestId, 'responding');
  }

  /** Ends a {@link begin}: answered when `sent`, else open again so that the caller may retry. */
  end(requestId: string, sent: boolean): void {
    if (sent) this.requests.set(requestId, 'answered');
    else if (this.requests.get(requestId) === 'responding') this.requests.set(requestId, 'pending');
  }
}
