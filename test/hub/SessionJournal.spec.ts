// The broker's sessions in a state directory: aedes' in-memory store journaled to LevelDB behind it. Changes are
// written in batches holding the last change of each key, a message acknowledged before its batch costs no write,
// subscriptions and wills are stored before they resolve, and a restarted hub finds every session as it was.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HubState } from '../../src/hub/HubState';
import type { SessionJournal } from '../../src/hub/SessionJournal';
import { WriteBehind, type BatchTarget } from '../../src/hub/WriteBehind';

type Op = Parameters<BatchTarget<string>['batch']>[0][number];

/** A database that records the batches written to it. */
function recordingDb(fail = false): BatchTarget<string> & { batches: string[][] } {
  const batches: string[][] = [];
  return {
    batches,
    batch: async (ops: Op[]) => {
      batches.push(ops.map((op) => (op.type === 'put' ? `put ${op.key}=${op.value}` : `del ${op.key}`)));
      if (fail) throw new Error('disk full');
    },
  };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('hub state: changes written behind', () => {
  it('writes the last change of each key, one batch per turn, and settled() resolves once it is written', async () => {
    const db = recordingDb();
    const behind = new WriteBehind(db, assert.fail);
    behind.put('a', '1');
    behind.put('a', '2');
    behind.put('b', '1');
    const settled = behind.settled();
    assert.deepEqual(db.batches, [], 'nothing written before the next turn');
    await settled;
    assert.deepEqual(db.batches, [['put a=2', 'put b=1']]);
    behind.del('a');
    await behind.settled();
    assert.deepEqual(db.batches[1], ['del a']);
  });

  it('given the keys the database holds, a key made and removed before its batch costs no write', async () => {
    const db = recordingDb();
    const behind = new WriteBehind(db, assert.fail, new Set(['old']));
    behind.put('new', '1');
    behind.del('new');
    behind.del('never');
    behind.del('old');
    await behind.settled();
    assert.deepEqual(db.batches, [['del old']]);
    behind.put('x', '1');
    await behind.settled();
    behind.del('x');
    await behind.settled();
    assert.deepEqual(db.batches.slice(1), [['put x=1'], ['del x']], 'a key written before is deleted in the db');
  });

  it('reports a failed batch and still settles; changes after close() are not written', async () => {
    const errors: string[] = [];
    const db = recordingDb(true);
    const behind = new WriteBehind(db, (err) => errors.push(err.message));
    behind.put('a', '1');
    await behind.settled();
    assert.deepEqual(errors, ['disk full']);
    await behind.close();
    behind.put('b', '1');
    await turn();
    await behind.settled();
    assert.equal(db.batches.length, 1);
  });
});

describe('hub state: MQTT sessions journaled', function () {
  let dir: string;
  let state: HubState | undefined;
  const errors: Error[] = [];
  const client = { id: 'edge-device/filter' };
  const inputs = 'devices/edge-device/modules/filter/inputs/#';

  /** Opens the state directory and sets up its session store as aedes does at start. */
  async function open(brokerId: string): Promise<SessionJournal> {
    state = await HubState.open(dir, (err) => errors.push(err));
    const sessions = state.brokerPersistence() as SessionJournal;
    assert.equal(sessions.setup.constructor.name, 'AsyncFunction', 'aedes requires an async setup()');
    await sessions.setup({ id: brokerId });
    return sessions;
  }

  async function restart(brokerId: string): Promise<SessionJournal> {
    await state!.close();
    return open(brokerId);
  }

  /** The records of the sessions sublevel, read directly from LevelDB. */
  async function recordKeys(): Promise<string[]> {
    const { ClassicLevel } = await import('classic-level');
    await state!.close();
    state = undefined;
    const db = new ClassicLevel<string, unknown>(path.join(dir, 'db'));
    try {
      return await db.sublevel('sessions').keys().all();
    } finally {
      await db.close();
    }
  }

  let counter = 0;
  const message = (brokerId: string, text: string): Record<string, unknown> => ({
    cmd: 'publish',
    topic: 'devices/edge-device/modules/filter/inputs/in/',
    payload: Buffer.from(text),
    qos: 1,
    retain: false,
    dup: false,
    brokerId,
    brokerCounter: ++counter,
    messageExpiry: 1_900_000_000_000,
  });
  const sub = [{ clientId: client.id, topic: inputs, qos: 1 }];
  type Packet = Parameters<SessionJournal['outgoingEnqueueCombi']>[1];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hub-sessions-'));
    errors.length = 0;
  });

  afterEach(async () => {
    await state?.close();
    state = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a subscription is in the database when it resolves (the SUBACK waits for it)', async () => {
    const sessions = await open('b1');
    await sessions.addSubscriptions(client, [{ topic: inputs, qos: 1 }]);
    assert.deepEqual(await recordKeys(), [`sub:edge-device%2Ffilter:${inputs}`]);
  });

  it('a message delivered and acknowledged before its batch is never written; one still queued is', async () => {
    const sessions = await open('b1');
    await sessions.addSubscriptions(client, [{ topic: inputs, qos: 1 }]);
    const acked = message('b1', 'acked') as Packet;
    await sessions.outgoingEnqueueCombi(sub, acked);
    await sessions.outgoingUpdate(client, { ...acked, messageId: 1 });
    assert.equal((await sessions.outgoingClearMessageId(client, { messageId: 1 }))?.payload.toString(), 'acked');
    await sessions.outgoingEnqueueCombi(sub, message('b1', 'queued') as Packet);
    await state!.settled();
    const keys = await recordKeys();
    assert.deepEqual(
      keys.filter((k) => k.startsWith('out:')),
      ['out:edge-device%2Ffilter:0000000000000002'],
    );
  });

  it('after a restart: subscriptions, queued messages in the order queued (whatever the broker id), packet ids and wills', async () => {
    let sessions = await open('zz-first-broker');
    await sessions.addSubscriptions(client, [{ topic: inputs, qos: 1 }]);
    const first = message('zz-first-broker', 'one') as Packet;
    await sessions.outgoingEnqueueCombi(sub, first);
    await sessions.outgoingUpdate(client, { ...first, messageId: 7 });
    await sessions.putWill(client, {
      topic: 'devices/edge-device/modules/filter/messages/events/',
      payload: Buffer.from('bye'),
    } as never);
    await state!.settled();

    sessions = await restart('aa-second-broker');
    await sessions.outgoingEnqueueCombi(sub, message('aa-second-broker', 'two') as Packet);
    await state!.settled();

    sessions = await restart('mm-third-broker');
    assert.deepEqual(await sessions.subscriptionsByClient(client), [
      { topic: inputs, qos: 1, rh: undefined, rap: undefined, nl: undefined },
    ]);
    assert.equal((await sessions.subscriptionsByTopic('devices/edge-device/modules/filter/inputs/in/')).length, 1);
    const queued: Array<{ payload: Buffer; messageId?: number; messageExpiry?: number }> = [];
    for await (const p of sessions.outgoingStream(client)) queued.push(p as (typeof queued)[number]);
    assert.deepEqual(
      queued.map((p) => [p.payload.toString(), p.messageId, p.messageExpiry]),
      [
        ['one', 7, 1_900_000_000_000],
        ['two', undefined, 1_900_000_000_000],
      ],
    );
    const will = (await sessions.getWill(client)) as { brokerId: string; payload: Buffer };
    assert.equal(will.payload.toString(), 'bye');
    assert.equal(will.brokerId, 'zz-first-broker', 'the will keeps the id of the broker its client was on');
    assert.deepEqual(errors, []);
  });

  it("a queued message replaced by one with its packet id from another broker is stored without aedes' callback", async () => {
    let sessions = await open('b1');
    const queued = message('b1', 'old') as Packet;
    await sessions.outgoingEnqueueCombi(sub, queued);
    await sessions.outgoingUpdate(client, { ...queued, messageId: 5 });
    const resent = { ...(message('b2', 'resent') as Packet), messageId: 5, writeCallback: () => undefined };
    await sessions.outgoingUpdate(client, resent);
    await state!.settled();
    sessions = await restart('b3');
    const stored: Array<{ payload: Buffer; messageId?: number; brokerId: string }> = [];
    for await (const p of sessions.outgoingStream(client)) stored.push(p as (typeof stored)[number]);
    assert.deepEqual(
      stored.map((p) => [p.payload.toString(), p.messageId, p.brokerId]),
      [['resent', 5, 'b2']],
    );
    assert.deepEqual(errors, []);
  });

  it('cleaning a session (a clean-session connect) removes its subscriptions from the database', async () => {
    const sessions = await open('b1');
    await sessions.addSubscriptions(client, [
      { topic: inputs, qos: 1 },
      { topic: '$iothub/methods/POST/#', qos: 0 },
    ]);
    await sessions.cleanSubscriptions(client);
    assert.deepEqual(await recordKeys(), []);
  });

  it('sessions in the layout of earlier hubs are dropped once, saying so', async () => {
    const { ClassicLevel } = await import('classic-level');
    const db = new ClassicLevel<string, Buffer>(path.join(dir, 'db'), { valueEncoding: 'buffer' });
    await db
      .sublevel<string, Buffer>('mqtt', { valueEncoding: 'buffer' })
      .put('subscriptions:x:topic', Buffer.from('x'));
    await db.close();
    await open('b1');
    assert.deepEqual(
      errors.map((e) => e.message),
      ['MQTT sessions stored by an earlier version of the hub were not kept'],
    );
    await restart('b2');
    assert.equal(errors.length, 1, 'said once');
  });
});
