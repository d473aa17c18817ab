// The broker's session store with a state directory: writes seen at once and written behind in order, flushed() as
// the barrier the hub acknowledges behind, and aedes-persistence-level's subscriptions stored before they resolve.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClassicLevel } from 'classic-level';
import aedesPersistenceLevel from 'aedes-persistence-level';
import { durableSessionStore, WriteBehindDb, type SessionDb } from '../../src/hub/sessionStore';

describe('hub session store (written behind)', function () {
  let dir: string;
  let level: ClassicLevel<string, Buffer>;
  let db: SessionDb;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hub-session-store-'));
    level = new ClassicLevel<string, Buffer>(path.join(dir, 'db'), { valueEncoding: 'buffer' });
    await level.open();
    db = level;
  });

  afterEach(async () => {
    await level.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const b = (s: string): Buffer => Buffer.from(s);

  it('answers reads from what was written before them, and has it all in the database after flushed()', async () => {
    const store = new WriteBehindDb(db);
    await level.put('old', b('on disk'));
    await store.put('a', b('1'));
    await store.put('a', b('2'));
    await store.batch([
      { type: 'put', key: 'b', value: b('x') },
      { type: 'del', key: 'old' },
    ]);
    await store.batch().put('c', b('y')).del('b').write();
    // Nothing awaited the database yet: the overlay answers.
    assert.equal((await store.get('a'))?.toString(), '2');
    assert.equal(await store.get('b'), undefined);
    assert.equal(await store.get('old'), undefined);
    assert.equal((await store.get('c'))?.toString(), 'y');
    await store.flushed();
    assert.deepEqual(
      (await level.iterator().all()).map(([k, v]) => [k, v.toString()]),
      [
        ['a', '2'],
        ['c', 'y'],
      ],
    );
  });

  it('writes the changes of one turn as one batch, in the order made, a clear being a step of its own', async () => {
    const steps: string[] = [];
    const spy: SessionDb = Object.create(db) as SessionDb;
    spy.batch = ((ops: Array<{ type: string; key: string }>) => {
      steps.push(ops.map((o) => `${o.type} ${o.key}`).join(', '));
      return db.batch(ops as never);
    }) as SessionDb['batch'];
    spy.clear = (range) => {
      steps.push(`clear ${range.gte}`);
      return db.clear(range);
    };
    const store = new WriteBehindDb(spy);
    await store.put('q:1', b('1'));
    await store.put('q:2', b('2'));
    await store.clear({ gte: 'q:', lt: 'q;' });
    await store.put('q:3', b('3'));
    assert.equal(await store.get('q:1'), undefined, 'cleared at once in the overlay');
    await store.flushed();
    assert.deepEqual(steps, ['put q:1, put q:2', 'clear q:', 'put q:3']);
    assert.deepEqual(await level.keys().all(), ['q:3']);
  });

  it('iterates only after the writes made before it are in the database', async () => {
    const store = new WriteBehindDb(db);
    await store.put('k:1', b('1'));
    await store.put('k:2', b('2'));
    const values: string[] = [];
    for await (const v of store.values({ gte: 'k:', lt: 'k;' })) values.push(v.toString());
    assert.deepEqual(values, ['1', '2']);
  });

  it('once closing, reads find nothing and an iteration ends instead of failing on the closed database', async () => {
    // aedes may still look up retained messages for a late SUBSCRIBE while the hub closes: an iteration failing on a
    // closed LevelDB emits its error on a stream nobody listens to, which ended the hub's process.
    const store = new WriteBehindDb(db);
    await store.put('k:1', b('1'));
    await store.flushed();
    const iterator = store.values({ gte: 'k:', lt: 'k;' })[Symbol.asyncIterator]();
    const closed = store.close();
    const values: string[] = [];
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) values.push(r.value.toString());
    await closed;
    assert.deepEqual(values, []);
    assert.equal(await store.get('k:2'), undefined);
    const after: string[] = [];
    for await (const v of store.values({ gte: 'k:', lt: 'k;' })) after.push(v.toString());
    assert.deepEqual(after, []);
    await level.open();
  });

  it('flushed() resolves once the writes made before it are stored, also when a batch fails (reported)', async () => {
    const errors: Error[] = [];
    const failing: SessionDb = Object.create(db) as SessionDb;
    failing.batch = (() => Promise.reject(new Error('disk full'))) as unknown as SessionDb['batch'];
    const store = new WriteBehindDb(failing, (err) => errors.push(err));
    await store.put('x', b('1'));
    await store.flushed();
    assert.deepEqual(
      errors.map((e) => e.message),
      ['disk full'],
    );
    await store.flushed();
  });

  it('aedes-persistence-level over it: subscriptions are in the database when they resolve; an outgoing message once flushed()', async () => {
    const behind = new WriteBehindDb(db);
    const store = durableSessionStore(aedesPersistenceLevel as unknown as (db: SessionDb) => object, behind) as {
      setup(broker: unknown): Promise<void>;
      addSubscriptions(client: { id: string }, subs: Array<{ topic: string; qos: number }>): Promise<void>;
      outgoingEnqueueCombi(
        subs: Array<{ clientId: string; topic: string; qos: number }>,
        packet: object,
      ): Promise<void>;
    };
    assert.equal(store.setup.constructor.name, 'AsyncFunction', 'aedes requires an async setup()');
    await store.setup({ id: 'broker' });
    await store.addSubscriptions({ id: 'd/m' }, [{ topic: 'devices/d/modules/m/inputs/#', qos: 1 }]);
    assert.equal(
      (await level.keys().all()).filter((k) => k.startsWith('subscriptions:')).length,
      1,
      'stored before the SUBACK',
    );
    await store.outgoingEnqueueCombi([{ clientId: 'd/m', topic: 'devices/d/modules/m/inputs/#', qos: 1 }], {
      cmd: 'publish',
      topic: 'devices/d/modules/m/inputs/in/',
      payload: b('hello'),
      qos: 1,
      retain: false,
      dup: false,
      brokerId: 'broker',
      brokerCounter: 1,
    });
    await behind.flushed();
    assert.equal((await level.keys().all()).filter((k) => k.startsWith('outgoing:')).length, 1);
  });
});
