// Conversion of flows written for the archived node-red-contrib-azure-iot-edge-module pack, and its CLI.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  convertEdgeModuleFlow,
  LEGACY_TYPES,
  methodContextKey,
  type FlowNode,
} from '../../../nodes/shared/edgeModuleMigration';
import { main } from '../../../nodes/shared/edgeModuleMigrationCli';

const FIXTURE = path.join(__dirname, '..', '..', 'fixtures', 'edge-module-flow.json');
const example = (): FlowNode[] => JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as FlowNode[];
const byId = (nodes: FlowNode[], id: string): FlowNode => {
  const node = nodes.find((n) => n.id === id);
  assert.ok(node, `node ${id}`);
  return node;
};

describe('converting flows of the archived edge-module pack', () => {
  it('maps each archived node type, keeping ids, positions, names and the client reference', () => {
    const flow: FlowNode[] = [
      { id: 'c', type: 'edgeclient', module: '' },
      {
        id: 'i',
        type: 'moduleinput',
        z: 't',
        x: 100,
        y: 40,
        name: 'from sensor',
        client: 'c',
        input: 'temperature',
        wires: [['n']],
      },
      { id: 'o', type: 'moduleoutput', z: 't', x: 300, y: 40, client: 'c', output: 'alerts/high #1', wires: [] },
      { id: 'w', type: 'moduletwin', z: 't', x: 100, y: 120, client: 'c', wires: [['n']] },
      { id: 'n', type: 'debug', z: 't', x: 300, y: 120, wires: [] },
    ];
    const { nodes, converted, unmapped } = convertEdgeModuleFlow(flow);
    assert.deepEqual(unmapped, []);
    assert.deepEqual(
      converted.map((c) => `${c.from}:${c.id}→${c.into.join(',')}`),
      ['edgeclient:c→c', 'moduleinput:i→i', 'moduleoutput:o→o', 'moduletwin:w→w'],
    );
    const client = byId(nodes, 'c');
    assert.equal(client.type, 'iothub-module-client');
    assert.equal(client.connectionType, 'edge');
    assert.deepEqual(byId(nodes, 'i'), {
      id: 'i',
      type: 'iothub-module-input',
      z: 't',
      x: 100,
      y: 40,
      name: 'from sensor',
      client: 'c',
      inputName: 'temperature',
      raw: false,
      wires: [['n']],
    });
    assert.deepEqual(byId(nodes, 'o'), {
      id: 'o',
      type: 'iothub-module-output',
      z: 't',
      x: 300,
      y: 40,
      name: '',
      client: 'c',
      outputName: 'alerts/high #1',
      passThrough: false,
      outputs: 0,
      wires: [],
    });
    assert.deepEqual(byId(nodes, 'w'), {
      id: 'w',
      type: 'iothub-module-twin',
      z: 't',
      x: 100,
      y: 120,
      name: '',
      client: 'c',
      wires: [['n']],
    });
    assert.equal(byId(nodes, 'n'), flow[4], 'other nodes are kept as they are');
    assert.equal(nodes.length, flow.length);
  });

  it('uses the archived runtime defaults for an empty input or output name', () => {
    const { nodes } = convertEdgeModuleFlow([
      { id: 'c', type: 'edgeclient' },
      { id: 'i', type: 'moduleinput', client: 'c', input: '', wires: [[]] },
      { id: 'o', type: 'moduleoutput', client: 'c', output: ' ', wires: [] },
    ]);
    assert.equal(byId(nodes, 'i').inputName, 'input1');
    assert.equal(byId(nodes, 'o').outputName, 'output');
  });

  it('puts a json node in front of a twin that receives reports (the archived twin parsed JSON text)', () => {
    const { nodes, converted } = convertEdgeModuleFlow([
      { id: 'c', type: 'edgeclient' },
      { id: 'f', type: 'function', z: 't', wires: [['w', 'n']] },
      { id: 'w', type: 'moduletwin', z: 't', x: 200, y: 100, client: 'c', wires: [[]] },
      { id: 'n', type: 'debug', z: 't', wires: [] },
    ]);
    assert.deepEqual(converted.find((c) => c.id === 'w')?.into, ['w', 'w-json']);
    assert.deepEqual(byId(nodes, 'f').wires, [['w-json', 'n']]);
    assert.deepEqual(byId(nodes, 'w-json'), {
      id: 'w-json',
      type: 'json',
      z: 't',
      x: 200,
      y: 145,
      name: '',
      property: 'payload',
      action: 'obj',
      pretty: false,
      wires: [['w']],
    });
  });

  it('turns a modulemethod into method-request → (user logic) → status → statusCode → method-response', () => {
    const flow: FlowNode[] = [
      { id: 'c', type: 'edgeclient' },
      {
        id: 'm',
        type: 'modulemethod',
        z: 't',
        x: 400,
        y: 300,
        client: 'c',
        method: 'setValue',
        wires: [['logic', 'dbg']],
      },
      { id: 'logic', type: 'function', z: 't', wires: [['m']] },
      { id: 'dbg', type: 'debug', z: 't', wires: [] },
    ];
    const { nodes, converted } = convertEdgeModuleFlow(flow);
    assert.deepEqual(converted.find((c) => c.id === 'm')?.into, ['m', 'm-request', 'm-answer', 'm-response']);
    const request = byId(nodes, 'm');
    assert.equal(request.type, 'iothub-module-method-request');
    assert.equal(request.methodName, 'setValue');
    assert.equal(request.client, 'c');
    assert.deepEqual(request.wires, [['m-request']]);
    const remember = byId(nodes, 'm-request');
    assert.equal(remember.type, 'change');
    assert.deepEqual(remember.wires, [['logic', 'dbg']]);
    assert.deepEqual(remember.rules, [
      { t: 'set', p: methodContextKey('m'), pt: 'global', to: 'requestId', tot: 'msg' },
      { t: 'set', p: 'method', pt: 'msg', to: 'methodName', tot: 'msg' },
      { t: 'set', p: 'topic', pt: 'msg', to: 'method', tot: 'str' },
    ]);
    assert.deepEqual(byId(nodes, 'logic').wires, [['m-answer']], "the user's answer goes to the answer node");
    const answer = byId(nodes, 'm-answer');
    assert.deepEqual(answer.wires, [['m-response']]);
    assert.deepEqual((answer.rules as Array<Record<string, string>>)[0], {
      t: 'move',
      p: 'status',
      pt: 'msg',
      to: 'statusCode',
      tot: 'msg',
    });
    assert.equal(byId(nodes, 'm-response').type, 'iothub-module-method-response');
    assert.deepEqual(
      [byId(nodes, 'm-request').y, byId(nodes, 'm-answer').y, byId(nodes, 'm-response').x],
      [345, 390, 600],
    );
  });

  it("takes moduleclient (the config type the archived pack's own example flow used) as the client too", () => {
    const { nodes, unmapped } = convertEdgeModuleFlow([
      { id: 'cfg', type: 'moduleclient', z: '' },
      { id: 'm', type: 'modulemethod', z: 't', client: 'cfg', method: 'setValue', wires: [['f']] },
      { id: 'f', type: 'function', z: 't', wires: [['m']] },
    ]);
    assert.deepEqual(unmapped, []);
    assert.equal(byId(nodes, 'cfg').type, 'iothub-module-client');
    assert.equal(byId(nodes, 'cfg').z, undefined, 'a global config node');
    assert.equal(byId(nodes, 'm').client, 'cfg');
  });

  it('gives every converted node one IoT Edge environment client: a module has one identity (two would close each other)', () => {
    const { nodes, converted, unmapped } = convertEdgeModuleFlow([
      { id: 'c1', type: 'edgeclient' },
      { id: 'c2', type: 'edgeclient' },
      { id: 'i', type: 'moduleinput', client: 'c2', input: 'in', wires: [[]] },
      { id: 'o', type: 'moduleoutput', client: 'c1', output: 'out', wires: [] },
      { id: 'lost', type: 'moduleoutput', client: 'gone', output: 'out', wires: [] },
    ]);
    assert.deepEqual(
      nodes.filter((n) => n.type === 'iothub-module-client').map((n) => n.id),
      ['c1'],
    );
    assert.deepEqual(
      ['i', 'o', 'lost'].map((id) => byId(nodes, id).client),
      ['c1', 'c1', 'c1'],
    );
    assert.deepEqual(converted.find((c) => c.id === 'c2')?.into, []);
    assert.deepEqual(
      unmapped.map((u) => `${u.code} ${u.id}`),
      ['missing-client lost', 'merged-client c2'],
    );
  });

  it("uses the flow's own IoT Edge environment client of this pack when it has one (the Node-RED module's identity)", () => {
    const own = { id: 'mine', type: 'iothub-module-client', connectionType: 'edge', name: 'this module' };
    const { nodes, unmapped } = convertEdgeModuleFlow([
      own,
      { id: 'c', type: 'edgeclient' },
      { id: 'i', type: 'moduleinput', client: 'c', input: 'in', wires: [[]] },
      { id: 'o', type: 'moduleoutput', output: 'out', wires: [] },
    ]);
    assert.deepEqual(
      nodes.filter((n) => n.type === 'iothub-module-client'),
      [own],
    );
    assert.equal(byId(nodes, 'i').client, 'mine');
    assert.equal(byId(nodes, 'o').client, 'mine');
    assert.deepEqual(
      unmapped.map((u) => `${u.code} ${u.id}`),
      ['missing-client o', 'merged-client c'],
    );
  });

  it('context keys are safe for any node id', () => {
    assert.equal(methodContextKey('4710f5a.a66890c'), 'edgeModuleMethod_4710f5a_a66890c');
  });

  it('new ids never collide with ids already in the flow', () => {
    const { nodes } = convertEdgeModuleFlow([
      { id: 'c', type: 'edgeclient' },
      { id: 'm', type: 'modulemethod', client: 'c', method: 'x', wires: [[]] },
      { id: 'm-answer', type: 'debug', wires: [] },
    ]);
    assert.equal(new Set(nodes.map((n) => n.id)).size, nodes.length);
    assert.ok(nodes.some((n) => n.id === 'm-answer-2' && n.type === 'change'));
  });

  it('lists fields it cannot carry over and clients missing from the flow, and adds an IoT Edge client for them', () => {
    const { nodes, unmapped } = convertEdgeModuleFlow([
      { id: 'm', type: 'modulemethod', client: 'gone', method: 'setValue', response: '{}', wires: [[]] },
      { id: 'o', type: 'moduleoutput', output: 'out', wires: [] },
    ]);
    assert.deepEqual(
      unmapped.map((u) => `${u.code} ${u.id} ${u.field}`),
      ['unknown-field m response', 'missing-client m client', 'missing-client o client'],
    );
    assert.equal(byId(nodes, 'gone').type, 'iothub-module-client');
    const added = byId(nodes, 'o').client as string;
    assert.equal(byId(nodes, added).connectionType, 'edge');
  });

  it("converts the archived example flow's structure: every archived node replaced, every wire still leads somewhere", () => {
    const flow = example();
    const { nodes, converted, unmapped } = convertEdgeModuleFlow(flow);
    assert.deepEqual(unmapped, []);
    assert.ok(!nodes.some((n) => LEGACY_TYPES.includes(n.type)));
    assert.equal(converted.length, flow.filter((n) => LEGACY_TYPES.includes(n.type)).length);
    const ids = new Set(nodes.map((n) => n.id));
    for (const n of nodes)
      for (const port of n.wires ?? []) for (const target of port) assert.ok(ids.has(target), `${n.id} → ${target}`);
    // Positions of the user's own nodes are untouched.
    for (const n of flow.filter((x) => !LEGACY_TYPES.includes(x.type)))
      assert.deepEqual([byId(nodes, n.id).x, byId(nodes, n.id).y], [n.x, n.y]);
    assert.deepEqual(byId(nodes, 'legacy-reported').wires, [['legacy-twin-json']]);
    assert.deepEqual(byId(nodes, 'legacy-answer').wires, [['legacy-method-answer']]);
  });

  it('CLI: writes the converted flow and lists what it converted and could not', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'convert-cli-'));
    try {
      const input = path.join(dir, 'flows.json');
      fs.writeFileSync(
        input,
        JSON.stringify([
          ...example(),
          { id: 'legacy-odd', type: 'moduleoutput', client: 'legacy-client', output: 'x', retries: 3, wires: [] },
        ]),
      );
      const out = path.join(dir, 'converted.json');
      let stderr = '';
      assert.equal(
        main([input, out], {
          stdout: () => assert.fail('nothing on stdout with an output file'),
          stderr: (t) => (stderr += t),
        }),
        0,
      );
      const written = JSON.parse(fs.readFileSync(out, 'utf8')) as FlowNode[];
      assert.ok(written.some((n) => n.type === 'iothub-module-method-response'));
      assert.match(stderr, /^converted: 1 edgeclient, 1 moduletwin, 4 moduleoutput, 1 moduleinput, 1 modulemethod$/m);
      assert.match(
        stderr,
        /^not converted: legacy-odd \(moduleoutput\): moduleoutput field "retries" has no equivalent and was dropped$/m,
      );

      let stdout = '';
      assert.equal(main([input], { stdout: (t) => (stdout += t), stderr: () => undefined }), 0);
      assert.deepEqual(JSON.parse(stdout), written);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('CLI: usage and unreadable or non-flow files exit 2', () => {
    let stderr = '';
    const io = { stdout: () => undefined, stderr: (t: string) => (stderr += t) };
    assert.equal(main([], io), 2);
    assert.match(stderr, /^usage: azure-iot-convert-edge-flows/);
    assert.equal(main([path.join(os.tmpdir(), 'no-such-flows-file.json')], io), 2);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'convert-cli-'));
    try {
      fs.writeFileSync(path.join(dir, 'f.json'), '{"not":"a flow"}');
      assert.equal(main([path.join(dir, 'f.json')], io), 2);
      assert.match(stderr, /is not an exported Node-RED flow/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
