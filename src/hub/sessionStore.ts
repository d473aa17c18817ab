// The broker's MQTT session store with a state directory: aedes-persistence-level, given a LevelDB sublevel seen
// through a write-behind overlay, so that the four to six reads and writes it makes per QoS 1 message to a
// persistent session cost memory operations and reach LevelDB in batches.

/** The part of an abstract-level database aedes-persistence-level uses (keys are strings, values buffers). */
export interface SessionDb {
  get(key: string, options?: object): Promise<Buffer | undefined>;
  put(key: string, value: Buffer, options?: object): Promise<void>;
  del(key: string): Promise<void>;
  batch(ops: BatchOp[], options?: object): Promise<void>;
  batch(): ChainedBatch;
  values(options: { gte?: string; lt?: string }): AsyncIterable<Buffer>;
  clear(range: { gte?: string; lt?: string }): Promise<void>;
  close(): Promise<void>;
}

/** abstract-level's chained batch: operations collected, then written together. */
export interface ChainedBatch {
  put(key: string, value: Buffer): ChainedBatch;
  del(key: string): ChainedBatch;
  write(): Promise<void>;
}

type BatchOp = { type: 'put'; key: string; value: Buffer } | { type: 'del'; key: string };
type Range = { gte?: string; lt?: string };
type Step = BatchOp | { type: 'clear'; range: Range };

/** The pause between two batches when writes keep coming (ms). */
const BATCH_GAP_MS = 1;

function inRange(key: string, range: Range): boolean {
  return (range.gte === undefined || key >= range.gte) && (range.lt === undefined || key < range.lt);
}

/**
 * A database seen through an in-memory overlay. A write changes the overlay at once and resolves at once; the
 * writes reach the database in the order made, in batches: an idle writer starts on the next turn of the event loop,
 * a busy one gathers what came during its last write and about a millisecond more (a `clear` is a step of its own).
 * Reads see every write made before them: a key written through the overlay is answered from memory (the overlay keeps
 * the values written until they are deleted, as aedes' in-memory store would), others from the database; iterations
 * wait until the writes made before them are in the database. {@link flushed} is the barrier to wait on before
 * acknowledging what a write recorded.
 */
export class WriteBehindDb implements SessionDb {
  /** Values written through the overlay (null: deleted, and the delete not yet in the database). */
  private readonly known = new Map<string, Buffer | null>();
  private steps: Step[] = [];
  private issued = 0;
  private written = 0;
  private waiters: Array<{ seq: number; resolve: () => void }> = [];
  private draining = false;
  /**
   * Set when the hub starts to close the store. The broker may still be answering a late SUBSCRIBE (its
   * retained-message lookup) or a reconnect while it shuts down: from then on reads find nothing and iterations end,
   * instead of failing on a closed LevelDB (an iteration's error is emitted on a stream nobody listens to, which would
   * end the process).
   */
  private closing = false;

  constructor(
    private readonly db: SessionDb,
    private readonly onError: (err: Error) => void = () => undefined,
  ) {}

  async get(key: string, options?: object): Promise<Buffer | undefined> {
    const value = this.known.get(key);
    if (value !== undefined) return value ?? undefined;
    if (this.closing) return undefined;
    return this.db.get(key, options);
  }

  async put(key: string, value: Buffer): Promise<void> {
    this.known.set(key, value);
    this.push({ type: 'put', key, value });
  }

  async del(key: string): Promise<void> {
    this.known.set(key, null);
    this.push({ type: 'del', key });
  }

  batch(ops: BatchOp[]): Promise<void>;
  batch(): ChainedBatch;
  batch(ops?: BatchOp[]): Promise<void> | ChainedBatch {
    if (ops) {
      this.apply(ops);
      return Promise.resolve();
    }
    const collected: BatchOp[] = [];
    const chained: ChainedBatch = {
      put: (key, value) => (collected.push({ type: 'put', key, value }), chained),
      del: (key) => (collected.push({ type: 'del', key }), chained),
      write: async () => this.apply(collected),
    };
    return chained;
  }

  private apply(ops: BatchOp[]): void {
    for (const op of ops) {
      this.known.set(op.key, op.type === 'put' ? op.value : null);
      this.push(op);
    }
  }

  async clear(range: Range): Promise<void> {
    for (const key of this.known.keys()) if (inRange(key, range)) this.known.set(key, null);
    this.push({ type: 'clear', range });
  }

  async *values(options: Range & object): AsyncIterable<Buffer> {
    await this.flushed();
    if (this.closing) return;
    try {
      for await (const value of this.db.values(options)) {
        yield value;
        if (this.closing) return;
      }
    } catch (err) {
      if (!this.closing) throw err;
    }
  }

  /** Writes what is pending, then closes the database; reads from then on find nothing. */
  async close(): Promise<void> {
    this.closing = true;
    await this.flushed();
    await this.db.close();
  }

  /** Resolves once every write made before this call is in the database (never rejects). */
  flushed(): Promise<void> {
    if (this.written >= this.issued) return Promise.resolve();
    const seq = this.issued;
    return new Promise((resolve) => this.waiters.push({ seq, resolve }));
  }

  private push(step: Step): void {
    this.steps.push(step);
    this.issued++;
    if (!this.draining) {
      this.draining = true;
      // Writes made in this turn of the event loop go in the same batch.
      setImmediate(() => void this.drain());
    }
  }

  private async drain(): Promise<void> {
    let first = true;
    while (this.steps.length > 0) {
      // Under a steady stream of writes, gather about a millisecond's worth per batch: one batch per message would
      // cost a LevelDB write and its completion on every turn of the event loop. An idle writer starts at once.
      if (!first) await new Promise((resolve) => setTimeout(resolve, BATCH_GAP_MS));
      first = false;
      const head = this.steps[0]!;
      let taken: Step[];
      if (head.type === 'clear') {
        taken = this.steps.splice(0, 1);
      } else {
        const end = this.steps.findIndex((s) => s.type === 'clear');
        taken = this.steps.splice(0, end === -1 ? this.steps.length : end);
      }
      try {
        if (head.type === 'clear') await this.db.clear(head.range);
        else await this.db.batch(taken as BatchOp[]);
      } catch (err) {
        this.onError(err as Error);
      }
      this.written += taken.length;
      // A delete now in the database no longer needs its mark: a key still marked deleted is deleted there too
      // (a later put would have replaced the mark, a later delete keeps it true).
      for (const step of taken) {
        if (step.type === 'del') {
          if (this.known.get(step.key) === null) this.known.delete(step.key);
        } else if (step.type === 'clear') {
          for (const [key, value] of this.known) if (value === null && inRange(key, step.range)) this.known.delete(key);
        }
      }
      this.waiters = this.waiters.filter((w) => {
        if (w.seq > this.written) return true;
        w.resolve();
        return false;
      });
    }
    this.draining = false;
  }
}

/** aedes persistence methods whose callers answer a client (SUBACK, CONNACK, PUBACK of QoS 2) once they resolve. */
const DURABLE_METHODS = new Set([
  'addSubscriptions',
  'removeSubscriptions',
  'cleanSubscriptions',
  'storeRetained',
  'putWill',
  'delWill',
  'incomingStorePacket',
  'incomingDelPacket',
  'cleanIncoming',
]);

/**
 * The aedes persistence `make(db)` returns, over a {@link WriteBehindDb}: the methods whose result a client is told
 * (a subscription granted, a will stored) resolve once their writes are in the database; the outgoing queue's
 * (enqueue, message id update, clear on PUBACK) resolve at once, and the hub waits for {@link WriteBehindDb.flushed}
 * before it acknowledges a message it put in a session (the PUBACK of a routed message, an HTTP response).
 * A queue change lost in a crash before its batch is written is a message delivered again (at least once), never
 * one lost: its enqueue is written before the hub acknowledged it.
 */
export function durableSessionStore(make: (db: SessionDb) => object, db: WriteBehindDb): object {
  const store = make(db) as Record<string, unknown>;
  // aedes-persistence-level keeps its state in private fields: its methods run on the store itself, not a proxy.
  return new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      if (typeof prop === 'string' && DURABLE_METHODS.has(prop)) {
        return async (...args: unknown[]) => {
          const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          await db.flushed();
          return result;
        };
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
}
