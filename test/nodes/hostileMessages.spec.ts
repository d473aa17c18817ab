// Hostile msgs against the flow nodes on a real LocalHub: whatever a flow sends, each node calls done exactly once
// (success observable on the hub, or done(err) with catalog text and a stable code), Node-RED stays alive, nothing
// escapes as an uncaught exception or unhandled rejection, and no secret reaches an error, a log line or a status.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { HubMessage, LocalHubApi } from '../../src/hub/types';
import {
  clientConfig,
  collect,
  DEVICE,
  helper,
  NODES,
  onTab,
  tlsConfig,
  untilSubscribed,
  useLocalHub,
} from './support';
import { until } from '../helpers/until';

type Msg = Record<string, unknown>;
/** What a case must end in: success observed on the hub, or done(err) with this code. */
type Expect = 'ok' | { code: string };
interface Case {
  name: string;
  msg: Msg;
  expect: Expect;
  /** Too deep for Node-RED to copy for a Catch node: the error must be logged instead. */
  uncatchable?: boolean;
}
interface Completion {
  nodeId: string;
  error?: { code?: unknown; message?: unknown };
}
interface Hooks {
  add(name: string, fn: (event: { msg?: Msg; error?: unknown; node: { id: string } }) => void): void;
  remove(name: string): void;
}

const CATALOG = (
  JSON.parse(
    fs.readFileSync(path.join(__dirname, '..', '..', 'locales', 'en-US', 'iothub-module-client.json'), 'utf8'),
  ) as {
    'iothub-module-client': { errors: Record<string, string> };
  }
)['iothub-module-client'].errors;

const ok: Expect = 'ok';
const err = (code: string): Expect => ({ code });

const DEEP = '10,000 levels deep';

function deeplyNested(levels: number): Msg {
  let value: Msg = { leaf: true };
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

function circular(): Msg {
  const value: Msg = { name: 'loop' };
  value.self = value;
  return value;
}

/** Values no JSON can carry, or that JSON would silently change (the hub must not see a guess). */
function hostilePayloads(): Array<{ name: string; payload: unknown }> {
  return [
    { name: 'undefined', payload: undefined },
    { name: 'null', payload: null },
    { name: 'NaN', payload: NaN },
    { name: 'Infinity', payload: Infinity },
    { name: '-0', payload: -0 },
    { name: 'BigInt', payload: 10n },
    { name: 'Symbol', payload: Symbol('s') },
    { name: 'function', payload: () => 1 },
    { name: 'circular object', payload: circular() },
    { name: 'Date', payload: new Date(0) },
    { name: 'Map', payload: new Map([['a', 1]]) },
    { name: DEEP, payload: deeplyNested(10_000) },
    { name: '300 KB string', payload: 'x'.repeat(300 * 1024) },
    { name: 'empty Buffer', payload: Buffer.alloc(0) },
    { name: 'typed array', payload: new Uint8Array([1, 2, 255]) },
  ];
}

describe('hostile messages to the flow nodes (flow, local hub)', function () {
  this.timeout(60_000);
  let hub: LocalHubApi;
  const saved: Record<string, string | undefined> = {};
  useLocalHub((h) => {
    hub = h;
    // The invoke node needs an IoT Edge environment client: the hub gives module `flow` its IOTEDGE_* variables.
    for (const [key, value] of Object.entries(hub.edgeEnvironment(DEVICE, 'flow'))) {
      saved[key] = process.env[key];
      process.env[key] = value;
    }
  });

  const escaped: Array<{ kind: string; reason: unknown }> = [];
  const onUncaught = (reason: unknown): void => void escaped.push({ kind: 'uncaughtException', reason });
  const onUnhandled = (reason: unknown): void => void escaped.push({ kind: 'unhandledRejection', reason });
  before(() => {
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUnhandled);
  });
  after(() => {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUnhandled);
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  // done() accounting, straight from the runtime: every completion of every node, by msg id.
  const completions = new Map<string, Completion[]>();
  const hooks = (): Hooks => (helper as unknown as { _RED: { hooks: Hooks } })._RED.hooks;
  beforeEach(() => {
    completions.clear();
    hooks().add('onComplete.hostile', (event) => {
      const id = String(event.msg?._msgid);
      const list = completions.get(id) ?? [];
      list.push({ nodeId: event.node.id, error: event.error as Completion['error'] });
      completions.set(id, list);
    });
  });
  afterEach(() => {
    hooks().remove('onComplete.hostile');
    const seen = escaped.splice(0).map((e) => `${e.kind}: ${String((e.reason as Error)?.stack ?? e.reason)}`);
    assert.deepEqual(seen, [], 'nothing escaped to the process');
  });

  async function load(): Promise<{ caught: Msg[]; results: Msg[]; requests: Msg[] }> {
    const tls = tlsConfig(hub);
    const peer = clientConfig(hub, 'peer', 'cfgPeer');
    const since = Date.now();
    await helper.load(
      NODES,
      onTab([
        tls.node,
        {
          id: 'cfg',
          type: 'iothub-module-client',
          connectionType: 'edge',
          tls: 'tls',
          operationTimeout: '10',
          connectionRetryInterval: '1',
        },
        peer.node,
        {
          id: 'out',
          type: 'iothub-module-output',
          client: 'cfg',
          outputName: '',
          queueSize: '1000',
          queueTimeout: '30',
          wires: [],
        },
        {
          id: 'outSmall',
          type: 'iothub-module-output',
          client: 'cfg',
          outputName: '',
          queueSize: '20',
          queueTimeout: '30',
          wires: [],
        },
        { id: 'twin', type: 'iothub-module-twin', client: 'cfg', wires: [['results']] },
        {
          id: 'req',
          type: 'iothub-module-method-request',
          client: 'cfg',
          methodName: 'hostile',
          timeout: '25',
          timeoutStatus: '504',
          wires: [['requests']],
        },
        { id: 'respond', type: 'iothub-module-method-response', statusCode: '200', wires: [] },
        {
          id: 'invoke',
          type: 'iothub-module-invoke',
          client: 'cfg',
          deviceId: DEVICE,
          deviceIdType: 'str',
          moduleId: 'peer',
          moduleIdType: 'str',
          methodName: 'ping',
          methodNameType: 'str',
          connectTimeout: '0',
          responseTimeout: '10',
          wires: [['results']],
        },
        {
          id: 'ping',
          type: 'iothub-module-method-request',
          client: 'cfgPeer',
          methodName: 'ping',
          timeout: '25',
          timeoutStatus: '504',
          wires: [['pong']],
        },
        { id: 'pong', type: 'iothub-module-method-response', statusCode: '200', wires: [] },
        { id: 'results', type: 'helper' },
        { id: 'requests', type: 'helper' },
        {
          id: 'catch',
          type: 'catch',
          scope: ['out', 'outSmall', 'twin', 'respond', 'invoke'],
          uncaught: false,
          wires: [['caught']],
        },
        { id: 'caught', type: 'helper' },
      ]),
      { tls: tls.credentials, cfgPeer: peer.credentials },
    );
    const caught = collect(helper.getNode('caught'));
    const results = collect(helper.getNode('results'));
    const requests = collect(helper.getNode('requests'));
    await untilSubscribed(hub, `${DEVICE}/flow`, '$iothub/methods/POST', since);
    await untilSubscribed(hub, `${DEVICE}/peer`, '$iothub/methods/POST', since);
    return { caught, results, requests };
  }

  let seq = 0;
  /**
   * Sends `c.msg` to `nodeId`, waits for its completion and checks it against `c.expect` (the success check is
   * `succeeded`).
   */
  async function run(nodeId: string, c: Case, caught: Msg[], succeeded: () => Promise<void> | void): Promise<void> {
    const id = `${nodeId}-${++seq}`;
    c.msg._msgid = id;
    helper.getNode(nodeId).receive(c.msg);
    const own = (): Completion[] => (completions.get(id) ?? []).filter((x) => x.nodeId === nodeId);
    await until(() => own().length > 0, `done() for ${nodeId} "${c.name}"`, 20_000);
    const [completion] = own();
    if (completion!.error === undefined) {
      assert.equal(c.expect, ok, `${nodeId} "${c.name}": succeeded, expected ${JSON.stringify(c.expect)}`);
      await succeeded();
      return;
    }
    const code = completion!.error.code;
    assert.notEqual(
      c.expect,
      ok,
      `${nodeId} "${c.name}": failed with ${String(code)}: ${String(completion!.error.message)}`,
    );
    assert.equal(
      code,
      (c.expect as { code: string }).code,
      `${nodeId} "${c.name}": ${String(completion!.error.message)}`,
    );
    const text = CATALOG[String(code)];
    assert.ok(text, `catalog text for ${String(code)}`);
    if (c.uncatchable) {
      const logged = errorsLoggedBy(nodeId).filter((m) => m.includes(`${text} (${String(code)}`));
      assert.ok(logged.length > 0, `${nodeId} "${c.name}": the error is logged`);
      return;
    }
    await until(() => caught.some((m) => m._msgid === id), `Catch node got "${c.name}"`, 10_000);
    const error = caught.find((m) => m._msgid === id)!.error as {
      code?: string;
      message: string;
      source?: { id?: string };
    };
    assert.equal(error.code, code);
    assert.equal(error.source?.id, nodeId);
    assert.ok(error.message.includes(`${text} (${String(code)}`), `catalog text in "${error.message}"`);
  }

  /** The messages of the errors `nodeId` logged without a msg (what the runtime log and debug sidebar show). */
  function errorsLoggedBy(nodeId: string): string[] {
    const spy = (
      helper as unknown as {
        _NodePrototype: { error: { getCalls(): Array<{ thisValue: { id: string }; args: unknown[] }> } };
      }
    )._NodePrototype.error;
    return spy
      .getCalls()
      .filter((call) => call.thisValue?.id === nodeId && call.args[1] === undefined)
      .map((call) => String((call.args[0] as Error)?.message ?? call.args[0]));
  }

  /** Every msg completed exactly once, by the node it was sent to. */
  function assertDoneOnce(prefix: string): void {
    for (const [id, list] of completions) {
      if (!id.startsWith(`${prefix}-`)) continue;
      // A Catch node passes the msg id on, and completes too: count the node's own completions.
      const own = list.filter((c) => c.nodeId === prefix).length;
      assert.equal(own, 1, `${id} completed ${own} times`);
    }
  }

  /** No secret in anything people or logs see: errors caught, statuses, warn / error / log / debug lines. */
  function assertNoSecrets(caught: Msg[]): void {
    const secrets = [
      hub.getModule(DEVICE, 'flow')!.primaryKey,
      hub.getModule(DEVICE, 'peer')!.primaryKey,
      hub.getModule(DEVICE, 'peer')!.secondaryKey,
    ];
    type Spy = { getCalls(): Array<{ args: unknown[] }> };
    const spies = helper as unknown as { _NodePrototype: Record<string, Spy>; _logSpy: Spy };
    const lines: string[] = [];
    const calls = ['warn', 'error', 'log', 'debug', 'status']
      .map((method) => spies._NodePrototype[method]!)
      .concat(spies._logSpy);
    for (const spy of calls) {
      for (const call of spy.getCalls())
        lines.push(...call.args.map((a) => (a instanceof Error ? `${a.message} ${a.stack}` : safeJson(a))));
    }
    assert.ok(lines.length > 0, 'the spies saw the nodes log');
    for (const m of caught) {
      const e = m.error as { message?: string; stack?: string; cause?: unknown };
      lines.push(String(e.message), String(e.stack), causeText(e.cause));
    }
    for (const line of lines) {
      for (const secret of secrets) assert.ok(!line.includes(secret), `a secret leaked: ${line.slice(0, 200)}`);
      assert.doesNotMatch(line, /SharedAccessSignature|sig=[A-Za-z0-9%]/, `a token leaked: ${line.slice(0, 200)}`);
    }
  }

  it('output: every hostile msg ends in exactly one done() or done(err) and the hub sees exactly what was meant', async () => {
    const { caught } = await load();
    const upstream: HubMessage[] = [];
    const listener = (m: HubMessage): void => void upstream.push(m);
    hub.events.on('upstream', listener);
    try {
      // ok = the body the hub must receive (JSON semantics for JSON values: NaN and Infinity are null, a Map is {}).
      const expectPayload: Record<string, { code: string } | string | Buffer> = {
        undefined: err('invalid-payload'),
        null: 'null',
        NaN: 'null',
        Infinity: 'null',
        '-0': '0',
        BigInt: err('invalid-payload'),
        Symbol: err('invalid-payload'),
        function: err('invalid-payload'),
        'circular object': err('invalid-payload'),
        Date: '"1970-01-01T00:00:00.000Z"',
        Map: '{}',
        [DEEP]: err('invalid-payload'),
        '300 KB string': err('message-too-large'),
        'empty Buffer': Buffer.alloc(0),
        'typed array': Buffer.from([1, 2, 255]),
      };
      const bodies = new Map<Case, string | Buffer>();
      const cases: Case[] = hostilePayloads().map(({ name, payload }) => {
        const expected = expectPayload[name]!;
        const c: Case = {
          name: `payload ${name}`,
          msg: { payload },
          expect: typeof expected === 'object' && !Buffer.isBuffer(expected) ? expected : ok,
          uncatchable: name === DEEP,
        };
        if (c.expect === ok) bodies.set(c, expected as string | Buffer);
        return c;
      });
      const oddKeys = {
        a$b: '1',
        'a&b': '2',
        'a=b': '3',
        'a%b': '4',
        'a#b': '5',
        'a b': '6',
        'ação ü 日本': '7',
        $x: '8',
        'a/b+?': '9',
      };
      const oddKeysCase: Case = {
        name: 'properties with odd keys',
        msg: { payload: 'odd', properties: oddKeys },
        expect: ok,
      };
      const oddIds: Case = {
        name: 'ids and output name with separators',
        msg: {
          payload: 'p',
          outputName: 'a/b#+?x=1&$.on=z',
          messageId: 'a&b=c/d',
          correlationId: '$.on=x',
          contentType: 'a&$.on=x',
        },
        expect: ok,
      };
      cases.push(
        { name: 'properties array', msg: { payload: 1, properties: ['a'] }, expect: err('invalid-properties') },
        { name: 'properties string', msg: { payload: 1, properties: 'a=b' }, expect: err('invalid-properties') },
        {
          name: 'properties object value',
          msg: { payload: 1, properties: { a: { b: 1 } } },
          expect: err('invalid-properties'),
        },
        {
          name: 'properties function value',
          msg: { payload: 1, properties: { a: () => 1 } },
          expect: err('invalid-properties'),
        },
        {
          name: 'properties NaN value',
          msg: { payload: 1, properties: { a: NaN } },
          expect: err('invalid-properties'),
        },
        {
          name: 'properties BigInt value',
          msg: { payload: 1, properties: { a: 1n } },
          expect: err('invalid-properties'),
        },
        {
          name: 'properties Buffer',
          msg: { payload: 1, properties: Buffer.from('a') },
          expect: err('invalid-properties'),
        },
        {
          name: 'properties re-routing with $.on',
          msg: { payload: 1, properties: { '$.on': 'elsewhere' } },
          expect: err('invalid-properties'),
        },
        {
          name: 'properties setting $.mid',
          msg: { payload: 1, properties: { '$.mid': 'forged' } },
          expect: err('invalid-properties'),
        },
        oddKeysCase,
        oddIds,
        { name: 'outputName number', msg: { payload: 1, outputName: 42 }, expect: err('invalid-output-name') },
        { name: 'outputName object', msg: { payload: 1, outputName: {} }, expect: err('invalid-output-name') },
        { name: 'outputName array', msg: { payload: 1, outputName: ['a'] }, expect: err('invalid-output-name') },
        { name: 'messageId object', msg: { payload: 1, messageId: {} }, expect: err('invalid-field') },
        { name: 'messageId boolean', msg: { payload: 1, messageId: true }, expect: err('invalid-field') },
        { name: 'messageId NaN', msg: { payload: 1, messageId: NaN }, expect: err('invalid-field') },
        { name: 'correlationId array', msg: { payload: 1, correlationId: ['c'] }, expect: err('invalid-field') },
        { name: 'correlationId Symbol', msg: { payload: 1, correlationId: Symbol('c') }, expect: err('invalid-field') },
        {
          name: 'contentType object',
          msg: { payload: 1, contentType: { type: 'json' } },
          expect: err('invalid-field'),
        },
        { name: 'contentType function', msg: { payload: 1, contentType: () => 'x' }, expect: err('invalid-field') },
        { name: 'contentEncoding BigInt', msg: { payload: 1, contentEncoding: 8n }, expect: err('invalid-field') },
        { name: 'action unknown', msg: { payload: 1, action: 'explode' }, expect: err('invalid-action') },
        { name: 'action number', msg: { payload: 1, action: 42 }, expect: err('invalid-action') },
        { name: 'action Symbol', msg: { payload: 1, action: Symbol('a') }, expect: err('invalid-action') },
        {
          name: 'action without prototype',
          msg: { payload: 1, action: Object.create(null) },
          expect: err('invalid-action'),
        },
        {
          name: 'action with a throwing toString',
          msg: {
            payload: 1,
            action: {
              toString: () => {
                throw new Error('boom');
              },
            },
          },
          expect: err('invalid-action'),
        },
      );
      for (const c of cases) {
        const before = upstream.length;
        await run('out', c, caught, async () => {
          await until(() => upstream.length === before + 1, `hub got "${c.name}"`, 10_000);
          const got = upstream[before]!;
          assert.equal(got.outputName, c === oddIds ? 'a/b#+?x=1&$.on=z' : undefined);
          const body = bodies.get(c);
          if (body !== undefined) assert.deepEqual(got.body, Buffer.isBuffer(body) ? body : Buffer.from(body), c.name);
          if (c === oddKeysCase) assert.deepEqual(got.properties, oddKeys);
          if (c === oddIds) {
            assert.equal(got.systemProperties['$.mid'], 'a&b=c/d');
            assert.equal(got.systemProperties['$.cid'], '$.on=x');
            assert.equal(got.systemProperties['$.ct'], 'a&$.on=x');
          }
        });
      }
      const before = upstream.length;
      await run('out', { name: 'a normal message', msg: { payload: { ok: true } }, expect: ok }, caught, () =>
        until(() => upstream.length === before + 1, 'normal message', 10_000),
      );
      assert.deepEqual(JSON.parse(upstream.at(-1)!.body.toString('utf8')), { ok: true });
      assertDoneOnce('out');
      assertNoSecrets(caught);
    } finally {
      hub.events.off('upstream', listener);
    }
  });

  it('twin: hostile actions and patches end in exactly one done() or done(err); reads and patches still work', async () => {
    const { caught, results } = await load();
    await untilSubscribed(hub, `${DEVICE}/flow`, '$iothub/twin/res', 0);
    const twinEvents: Array<{ kind: string; status: number }> = [];
    const listener = (e: { kind: string; status: number }): void => void twinEvents.push(e);
    hub.events.on('twin', listener);
    try {
      const reportedVersion = (): number => hub.getTwin(DEVICE, 'flow').properties.reported.$version;
      const expectPayload: Record<string, Expect> = {
        // an empty payload reads the twin
        undefined: ok,
        null: ok,
        'empty Buffer': ok,
        NaN: err('invalid-twin-patch'),
        Infinity: err('invalid-twin-patch'),
        '-0': err('invalid-twin-patch'),
        BigInt: err('invalid-twin-patch'),
        Symbol: err('invalid-twin-patch'),
        function: err('invalid-twin-patch'),
        // objects JSON cannot encode: the error says what is wrong with them, not that they are no objects
        'circular object': err('invalid-payload'),
        Date: err('invalid-twin-patch'),
        Map: err('invalid-twin-patch'),
        [DEEP]: err('invalid-payload'),
        '300 KB string': err('invalid-twin-patch'),
        'typed array': err('invalid-twin-patch'),
      };
      const cases: Case[] = hostilePayloads().map(({ name, payload }) => ({
        name: `payload ${name}`,
        msg: { payload },
        expect: expectPayload[name]!,
        uncatchable: name === DEEP,
      }));
      cases.push(
        { name: 'payload array', msg: { payload: [1, 2] }, expect: err('invalid-twin-patch') },
        { name: 'payload string', msg: { payload: 'not a patch' }, expect: err('invalid-twin-patch') },
        { name: 'payload number', msg: { payload: 42 }, expect: err('invalid-twin-patch') },
        { name: 'report with an array', msg: { action: 'report', payload: [1] }, expect: err('invalid-twin-patch') },
        { name: 'report without payload', msg: { action: 'report' }, expect: err('invalid-twin-patch') },
        {
          name: 'report with a BigInt inside',
          msg: { action: 'report', payload: { n: 1n } },
          expect: err('invalid-payload'),
        },
        {
          name: 'report with a function inside (JSON drops it)',
          msg: { action: 'report', payload: { f: () => 1, kept: 1 } },
          expect: ok,
        },
        {
          name: 'report 300 KB',
          msg: { action: 'report', payload: { big: 'x'.repeat(300 * 1024) } },
          expect: err('message-too-large'),
        },
        { name: 'action unknown', msg: { action: 'delete' }, expect: err('invalid-action') },
        { name: 'action number', msg: { action: 7, payload: { a: 1 } }, expect: err('invalid-action') },
        { name: 'action object', msg: { action: { get: true } }, expect: err('invalid-action') },
        { name: 'action without prototype', msg: { action: Object.create(null) }, expect: err('invalid-action') },
        { name: 'action get with a hostile payload', msg: { action: 'get', payload: Symbol('x') }, expect: ok },
        {
          name: 'a patch with odd keys',
          msg: { payload: { 'a#b': 1, ação: 'é', nested: { x: [1, 'two'] } } },
          expect: ok,
        },
      );
      for (const c of cases) {
        const before = twinEvents.length;
        const version = reportedVersion();
        await run('twin', c, caught, async () => {
          await until(() => twinEvents.length > before, `hub twin request for "${c.name}"`, 10_000);
          const event = twinEvents[before]!;
          assert.ok(event.status < 300, `${c.name}: hub answered ${event.status}`);
          if (event.kind === 'get')
            await until(
              () => results.some((m) => m._msgid === c.msg._msgid && m.topic === 'twin'),
              `twin read for "${c.name}"`,
              10_000,
            );
          else assert.ok(reportedVersion() > version, `${c.name}: reported patched`);
        });
      }
      assert.equal(hub.getTwin(DEVICE, 'flow').properties.reported['ação'], 'é');
      await run(
        'twin',
        { name: 'a normal patch', msg: { payload: { alive: true } }, expect: ok },
        caught,
        () => undefined,
      );
      assert.equal(hub.getTwin(DEVICE, 'flow').properties.reported.alive, true);
      assertDoneOnce('twin');
      assertNoSecrets(caught);
    } finally {
      hub.events.off('twin', listener);
    }
  });

  it('method-response: hostile request ids, status codes and payloads end in exactly one done() or done(err); an answer that cannot be sent answers 500', async () => {
    const { caught, requests } = await load();
    /** Calls method `hostile` on the flow module and resolves with the request id the flow sees and the call. */
    async function request(): Promise<{ requestId: string; call: Promise<{ status: number; payload: unknown }> }> {
      const seen = requests.length;
      const call = hub.invokeMethod(DEVICE, 'flow', {
        methodName: 'hostile',
        payload: { q: 1 },
        responseTimeoutInSeconds: 20,
        connectTimeoutInSeconds: 5,
      });
      call.catch(() => undefined);
      await until(() => requests.length > seen, 'method request in the flow', 10_000);
      return { requestId: String(requests[seen]!.requestId), call };
    }
    // Bad ids: no request is involved.
    const { requestId: answered, call: firstCall } = await request();
    await run(
      'respond',
      { name: 'a normal answer', msg: { requestId: answered, payload: { fine: true } }, expect: ok },
      caught,
      async () => {
        assert.deepEqual(await firstCall, { status: 200, payload: { fine: true } });
      },
    );
    const idCases: Case[] = [
      { name: 'requestId missing', msg: { payload: 1 }, expect: err('invalid-request-id') },
      { name: 'requestId empty', msg: { requestId: '', payload: 1 }, expect: err('invalid-request-id') },
      { name: 'requestId number', msg: { requestId: 42, payload: 1 }, expect: err('invalid-request-id') },
      { name: 'requestId object', msg: { requestId: { id: answered }, payload: 1 }, expect: err('invalid-request-id') },
      { name: 'requestId array', msg: { requestId: [answered], payload: 1 }, expect: err('invalid-request-id') },
      { name: 'requestId unknown', msg: { requestId: 'nope@nowhere', payload: 1 }, expect: err('unknown-request-id') },
      {
        name: 'requestId of another config node',
        msg: { requestId: answered.replace('@cfg/', '@cfgPeer/'), payload: 1 },
        expect: err('unknown-request-id'),
      },
      { name: 'requestId used twice', msg: { requestId: answered, payload: 1 }, expect: err('already-responded') },
      {
        name: 'requestId 300 KB',
        msg: { requestId: 'r'.repeat(300 * 1024), payload: 1 },
        expect: err('unknown-request-id'),
      },
    ];
    for (const c of idCases) await run('respond', c, caught, () => undefined);
    const longId = caught.find((m) => (m.error as { message: string }).message.includes('rrrr'))!;
    assert.ok((longId.error as { message: string }).message.length < 1000, 'an error detail is bounded');

    // Bad status codes and payloads on a real request: the caller gets a 500 with the reason at once.
    const statusCases: Array<{
      name: string;
      statusCode?: unknown;
      payload?: unknown;
      expect: Expect;
      status?: number;
      answer?: unknown;
    }> = [
      { name: 'statusCode non-integer', statusCode: 200.5, expect: err('invalid-status-code') },
      { name: 'statusCode text', statusCode: 'two hundred', expect: err('invalid-status-code') },
      { name: 'statusCode negative', statusCode: -1, expect: err('invalid-status-code') },
      { name: 'statusCode 1000', statusCode: 1000, expect: err('invalid-status-code') },
      { name: 'statusCode NaN', statusCode: NaN, expect: err('invalid-status-code') },
      { name: 'statusCode BigInt', statusCode: 200n, expect: err('invalid-status-code') },
      {
        name: 'statusCode object without prototype',
        statusCode: Object.create(null),
        expect: err('invalid-status-code'),
      },
      { name: 'statusCode numeric string', statusCode: '404', expect: ok, status: 404, answer: null },
      ...hostilePayloads().map(({ name, payload }) => ({
        name: `payload ${name}`,
        payload,
        ...methodPayloadExpectation(name, payload),
      })),
    ];
    for (const s of statusCases) {
      const { requestId, call } = await request();
      const msg: Msg = { requestId, payload: s.payload };
      if ('statusCode' in s) msg.statusCode = s.statusCode;
      const c: Case = { name: s.name, msg, expect: s.expect, uncatchable: s.name === `payload ${DEEP}` };
      await run('respond', c, caught, async () => {
        const result = await call;
        assert.equal(result.status, s.status ?? 200, s.name);
        assert.deepEqual(result.payload, s.answer, s.name);
      });
      if (s.expect !== ok) {
        // The answer that could not be sent was replaced by a 500 carrying the reason, which used the request up.
        const result = await call;
        assert.equal(result.status, 500, s.name);
        assert.equal((result.payload as { code?: string }).code, s.expect.code, s.name);
        await run(
          'respond',
          {
            name: `answer after "${s.name}"`,
            msg: { requestId, statusCode: 201, payload: 'too late' },
            expect: err('already-responded'),
          },
          caught,
          () => undefined,
        );
      }
    }
    assertDoneOnce('respond');
    assertNoSecrets(caught);
  });

  it('invoke: hostile targets, timeouts and payloads end in exactly one done() or done(err); calls still work', async () => {
    const { caught, results } = await load();
    const returned = (c: Case): Msg | undefined => results.find((m) => m._msgid === c.msg._msgid);
    const cases: Case[] = [
      { name: 'deviceId number', msg: { payload: 1, deviceId: 42 }, expect: err('invalid-target') },
      { name: 'deviceId empty', msg: { payload: 1, deviceId: '' }, expect: err('invalid-target') },
      { name: 'deviceId object', msg: { payload: 1, deviceId: { id: DEVICE } }, expect: err('invalid-target') },
      { name: 'deviceId Symbol', msg: { payload: 1, deviceId: Symbol('d') }, expect: err('invalid-target') },
      { name: 'deviceId with path segments', msg: { payload: 1, deviceId: `../${DEVICE}` }, expect: err('not-found') },
      { name: 'moduleId number', msg: { payload: 1, moduleId: 7 }, expect: err('invalid-target') },
      { name: 'moduleId array', msg: { payload: 1, moduleId: ['peer'] }, expect: err('invalid-target') },
      { name: 'moduleId with a query', msg: { payload: 1, moduleId: 'peer?api-version=1' }, expect: err('not-found') },
      { name: 'methodName empty', msg: { payload: 1, methodName: '' }, expect: err('invalid-target') },
      { name: 'methodName function', msg: { payload: 1, methodName: () => 'ping' }, expect: err('invalid-target') },
      { name: 'responseTimeout negative', msg: { payload: 1, responseTimeout: -1 }, expect: err('invalid-timeout') },
      { name: 'responseTimeout huge', msg: { payload: 1, responseTimeout: 1e12 }, expect: err('invalid-timeout') },
      { name: 'responseTimeout text', msg: { payload: 1, responseTimeout: 'soon' }, expect: err('invalid-timeout') },
      {
        name: 'responseTimeout Infinity',
        msg: { payload: 1, responseTimeout: Infinity },
        expect: err('invalid-timeout'),
      },
      { name: 'responseTimeout BigInt', msg: { payload: 1, responseTimeout: 5n }, expect: err('invalid-timeout') },
      { name: 'connectTimeout negative', msg: { payload: 1, connectTimeout: -5 }, expect: err('invalid-timeout') },
      {
        name: 'connectTimeout huge',
        msg: { payload: 1, connectTimeout: Number.MAX_SAFE_INTEGER },
        expect: err('invalid-timeout'),
      },
      { name: 'connectTimeout text', msg: { payload: 1, connectTimeout: 'later' }, expect: err('invalid-timeout') },
      { name: 'connectTimeout object', msg: { payload: 1, connectTimeout: {} }, expect: err('invalid-timeout') },
      {
        name: 'timeouts as numeric strings',
        msg: { payload: 'fine', responseTimeout: '5', connectTimeout: '0' },
        expect: ok,
      },
      ...hostilePayloads().map(({ name, payload }) => {
        // Too large for a direct method: the hub refuses the call (IoT Hub's 413002).
        const expect = name === '300 KB string' ? err('service-error') : methodPayloadExpectation(name, payload).expect;
        return { name: `payload ${name}`, msg: { payload }, expect, uncatchable: name === DEEP };
      }),
    ];
    for (const c of cases) {
      await run('invoke', c, caught, async () => {
        await until(() => returned(c) !== undefined, `result of "${c.name}"`, 10_000);
        assert.equal(returned(c)!.statusCode, 200, c.name);
      });
    }
    const normal: Case = { name: 'a normal call', msg: { payload: { hello: 'é' } }, expect: ok };
    await run('invoke', normal, caught, () => until(() => returned(normal) !== undefined, 'normal result', 10_000));
    assert.deepEqual(returned(normal)!.payload, { hello: 'é' });
    assertDoneOnce('invoke');
    assertNoSecrets(caught);
  });

  it('output: 500 messages in a burst while the hub drops every connection each end in exactly one done() or done(err)', async () => {
    const { caught } = await load();
    await until(() => hub.isConnected(`${DEVICE}/flow`), 'connected', 10_000);
    const upstream: HubMessage[] = [];
    const listener = (m: HubMessage): void => void upstream.push(m);
    hub.events.on('upstream', listener);
    try {
      // Half to a node with a large queue (they wait for the reconnect), half to one whose queue of 20 overflows.
      const sent: Array<{ id: string; node: string; i: number }> = [];
      for (let i = 0; i < 500; i++) {
        const node = i % 2 === 0 ? 'out' : 'outSmall';
        const id = `burst-${i}`;
        sent.push({ id, node, i });
        helper.getNode(node).receive({ _msgid: id, payload: { i } });
        // Drops while publishes are in flight and while messages wait in the queues.
        if (i % 25 === 24) await new Promise<void>((resolve) => setImmediate(resolve));
        if (i === 99 || i === 249 || i === 399) {
          // From the second drop on, drop a connection that is up again (with its resent and queued messages in
          // flight).
          if (i > 99) await until(() => hub.isConnected(`${DEVICE}/flow`), 'reconnected', 10_000);
          hub.faults.dropAll();
        }
      }
      const own = (s: { id: string; node: string }): Completion[] =>
        (completions.get(s.id) ?? []).filter((c) => c.nodeId === s.node);
      await until(() => sent.every((s) => own(s).length > 0), 'every burst message completed', 45_000);
      for (const s of sent) assert.equal(own(s).length, 1, `${s.id} completed ${own(s).length} times`);
      const failed = sent.filter((s) => own(s)[0]!.error !== undefined);
      for (const s of failed) {
        const code = String(own(s)[0]!.error!.code);
        assert.ok(CATALOG[code] && code !== 'unknown-error', `${s.id}: stable code, got ${code}`);
      }
      await until(() => failed.every((s) => caught.some((m) => m._msgid === s.id)), 'every failure caught', 10_000);
      // A success means the hub has it (at least once: QoS 1 may repeat a message after a reconnect).
      const arrived = new Set(upstream.map((m) => (JSON.parse(m.body.toString('utf8')) as { i: number }).i));
      for (const s of sent)
        if (own(s)[0]!.error === undefined) assert.ok(arrived.has(s.i), `${s.id} completed but never reached the hub`);
      assert.ok(hub.observed.counters.disconnects >= 3, 'the hub dropped the connections');
      assert.ok(failed.length < sent.length, 'some messages went through');
      // Node-RED and the connection are alive afterwards.
      const before = upstream.length;
      await run('out', { name: 'after the burst', msg: { payload: 'alive' }, expect: ok }, caught, () =>
        until(() => upstream.slice(before).some((m) => m.body.toString('utf8') === 'alive'), 'alive', 10_000),
      );
      assertNoSecrets(caught);
    } finally {
      hub.events.off('upstream', listener);
    }
  });
});

/** What a direct-method answer (method-response) or call (invoke) must do with a hostile payload. */
function methodPayloadExpectation(name: string, payload: unknown): { expect: Expect; answer?: unknown } {
  switch (name) {
    case 'BigInt':
    case 'Symbol':
    case 'function':
    case 'circular object':
    case DEEP:
      return { expect: err('invalid-payload') };
    case '300 KB string':
      return { expect: err('message-too-large') };
    case 'empty Buffer':
      // Buffers are read as UTF-8 JSON, else as text.
      return { expect: ok, answer: '' };
    default:
      // JSON semantics: undefined → null, NaN / Infinity → null, a Date → its ISO text, a Map → {}.
      return {
        expect: ok,
        answer: payload === undefined ? null : JSON.parse(JSON.stringify(payload ?? null) ?? 'null'),
      };
  }
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function causeText(cause: unknown, depth = 0): string {
  if (cause === undefined || cause === null || depth > 5) return '';
  const e = cause as { message?: unknown; stack?: unknown; cause?: unknown };
  return `${String(e.message)} ${String(e.stack)} ${causeText(e.cause, depth + 1)}`;
}
