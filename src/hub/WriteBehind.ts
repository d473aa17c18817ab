// Writing the hub's state behind its in-memory state: changes recorded at once, written to LevelDB in batches.

/** The part of an abstract-level database (or sublevel) a {@link WriteBehind} writes to. */
export interface BatchTarget<V> {
  batch(ops: Array<{ type: 'put'; key: string; value: V } | { type: 'del'; key: string }>): Promise<void>;
}

/** The pause between two batches while changes keep coming (ms). */
const BATCH_GAP_MS = 1;

/**
 * Changes of a database kept in memory and written behind, one batch at a time: an idle writer starts on the next
 * turn of the event loop (the changes of one turn go together), a busy one gathers what came during its last write
 * and about a millisecond more — one batch per message would cost a LevelDB write and its completion on every turn
 * of the event loop. A batch holds only the last change of each key — so a record that is made and
 * removed again before its batch is written (a queued message delivered and acknowledged at once) costs no write.
 * Given the keys the database holds, it also leaves out deletes of keys that were never written.
 * {@link settled} is the barrier to wait on before acknowledging what a change recorded.
 */
export class WriteBehind<V> {
  /** Changes not yet handed to the database (`undefined`: delete). */
  private pending = new Map<string, V | undefined>();
  private waiting: Array<() => void> = [];
  private draining = false;
  private closed = false;

  /**
   * @param stored the keys the database holds now, when known (kept up to date from then on); without them every
   * delete is written.
   */
  constructor(
    private readonly db: BatchTarget<V>,
    private readonly onError: (err: Error) => void,
    private readonly stored?: Set<string>,
  ) {}

  /** Records a value to be written (its state when its batch is written: later changes of the object count). */
  put(key: string, value: V): void {
    this.change(key, value);
  }

  /** Records a deletion to be written. */
  del(key: string): void {
    this.change(key, undefined);
  }

  /** Resolves once every change recorded before this call is in the database (never rejects). */
  settled(): Promise<void> {
    if (!this.draining && this.pending.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  /** Writes what is pending; changes recorded after this call are not written. */
  async close(): Promise<void> {
    await this.settled();
    this.closed = true;
  }

  private change(key: string, value: V | undefined): void {
    if (this.closed) return;
    this.pending.set(key, value);
    if (!this.draining) {
      this.draining = true;
      setImmediate(() => void this.drain());
    }
  }

  /**
   * Writes the pending changes as one batch at a time. A waiter registered while a batch is being written waits for
   * the next one (its changes are in the batch being written or in the next), or for the end when there is none.
   */
  private async drain(): Promise<void> {
    let first = true;
    while (this.pending.size > 0) {
      if (!first) await new Promise((resolve) => setTimeout(resolve, BATCH_GAP_MS));
      first = false;
      const changes = this.pending;
      this.pending = new Map();
      const done = this.waiting;
      this.waiting = [];
      const ops: Parameters<BatchTarget<V>['batch']>[0] = [];
      for (const [key, value] of changes) {
        if (value !== undefined) ops.push({ type: 'put', key, value });
        else if (!this.stored || this.stored.has(key)) ops.push({ type: 'del', key });
      }
      try {
        if (ops.length > 0) await this.db.batch(ops);
        if (this.stored)
          for (const op of ops) {
            if (op.type === 'put') this.stored.add(op.key);
            else this.stored.delete(op.key);
          }
      } catch (err) {
        this.onError(err as Error);
      }
      for (const resolve of done) resolve();
    }
    this.draining = false;
    const rest = this.waiting;
    this.waiting = [];
    for (const resolve of rest) resolve();
  }
}
