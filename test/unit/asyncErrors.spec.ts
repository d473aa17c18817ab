// Every public method of IoTHubModuleClient that returns a promise reports every error, bad arguments included, by
// rejecting it and never by throwing (`.catch()` users would miss a synchronous throw). The list of methods is read
// from the source with the TypeScript parser, so a new async method without a row here fails this spec.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { IoTHubModuleClient, Message, MethodResponse } from '../../src/index';

const SOURCE = path.resolve(__dirname, '..', '..', 'src', 'client', 'IoTHubModuleClient.ts');
const CS = 'HostName=hub.example;DeviceId=d;ModuleId=m;SharedAccessKey=' + Buffer.alloc(32, 1).toString('base64');
const SAS = `SharedAccessSignature sr=hub.example%2Fdevices%2Fd%2Fmodules%2Fm&sig=abc&se=${Math.floor(Date.now() / 1000) + 3600}`;

/** The public methods (static and instance) of the client class that are async or declare a Promise return type. */
function publicAsyncMethods(): string[] {
  const file = ts.createSourceFile(SOURCE, fs.readFileSync(SOURCE, 'utf8'), ts.ScriptTarget.Latest, true);
  const names = new Set<string>();
  const visit = (node: ts.Node): void => {
    if (ts.isClassDeclaration(node) && node.name?.text === 'IoTHubModuleClient') {
      for (const member of node.members) {
        if (!ts.isMethodDeclaration(member) || !ts.isIdentifier(member.name)) continue;
        const modifiers = ts.getModifiers(member) ?? [];
        if (modifiers.some((m) => m.kind === ts.SyntaxKind.PrivateKeyword || m.kind === ts.SyntaxKind.ProtectedKeyword))
          continue;
        const isAsync = modifiers.some((m) => m.kind === ts.SyntaxKind.AsyncKeyword);
        const returnsPromise = member.type !== undefined && /^Promise</.test(member.type.getText(file));
        if (isAsync || returnsPromise) names.add(member.name.text);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return [...names].sort();
}

type Call = (c: IoTHubModuleClient) => unknown;

/** Fresh clients that never touch the network: autoConnect off, or shut down. */
function client(): IoTHubModuleClient {
  return IoTHubModuleClient.createFromConnectionString(CS, { autoConnect: false });
}
async function shutDownClient(): Promise<IoTHubModuleClient> {
  const c = client();
  await c.shutdown();
  return c;
}

/** Per method: calls with bad arguments (or, for methods without arguments, on a shut-down client). */
const CASES: Record<string, { bad: Array<[string, Call]>; onShutDown?: boolean }> = {
  sendMessage: {
    bad: [
      ['undefined', (c) => c.sendMessage(undefined as never)],
      ['a function', (c) => c.sendMessage(() => 1)],
      ['a BigInt', (c) => c.sendMessage(1n as never)],
      ['a Message with an object as data', (c) => c.sendMessage(new Message({} as never))],
      ['an oversize message', (c) => c.sendMessage('x'.repeat(262145))],
    ],
  },
  sendMessageToOutput: {
    bad: [
      ['no output name', (c) => c.sendMessageToOutput('x', undefined as never)],
      ['an empty output name', (c) => c.sendMessageToOutput('x', '')],
      ['an oversize message', (c) => c.sendMessageToOutput(Buffer.alloc(262145), 'o')],
      ['a symbol', (c) => c.sendMessageToOutput(Symbol('s') as never, 'o')],
    ],
  },
  patchTwinReportedProperties: {
    bad: [
      ['null', (c) => c.patchTwinReportedProperties(null as never)],
      ['an array', (c) => c.patchTwinReportedProperties([] as never)],
      ['a BigInt value', (c) => c.patchTwinReportedProperties({ a: 1n })],
      ['an oversize patch', (c) => c.patchTwinReportedProperties({ a: 'x'.repeat(262144) })],
    ],
  },
  sendMethodResponse: {
    bad: [
      ['null', (c) => c.sendMethodResponse(null as never)],
      ['a number', (c) => c.sendMethodResponse(5 as never)],
      ['a non-integer status', (c) => c.sendMethodResponse(new MethodResponse('r', 200.5))],
      ['an oversize payload', (c) => c.sendMethodResponse(new MethodResponse('r', 200, 'x'.repeat(262144)))],
    ],
  },
  invokeMethod: {
    bad: [
      ['no params', (c) => c.invokeMethod(undefined as never, 'd')],
      ['no device id', (c) => c.invokeMethod({ methodName: 'm' }, '')],
      ['a numeric module id', (c) => c.invokeMethod({ methodName: 'm' }, 'd', 5 as never)],
    ],
  },
  updateSastoken: {
    bad: [
      [
        'a number (client from a SAS token)',
        () => IoTHubModuleClient.createFromSastoken(SAS, { autoConnect: false }).updateSastoken(5 as never),
      ],
      [
        'a malformed token (client from a SAS token)',
        () => IoTHubModuleClient.createFromSastoken(SAS, { autoConnect: false }).updateSastoken('nope'),
      ],
      ['a client not created from a SAS token', (c) => c.updateSastoken(SAS)],
    ],
  },
  receiveMessageOnInput: { bad: [['a numeric input name', (c) => c.receiveMessageOnInput(5 as never)]] },
  receiveMethodRequest: { bad: [['a numeric method name', (c) => c.receiveMethodRequest(5 as never)]] },
  receiveTwinDesiredPropertiesPatch: { bad: [], onShutDown: true },
  getTwin: { bad: [], onShutDown: true },
  connect: { bad: [], onShutDown: true },
  disconnect: { bad: [], onShutDown: true },
  // shutdown() has no failure to report: a second call resolves.
  shutdown: { bad: [] },
  createFromEdgeEnvironment: {
    bad: [
      ['an unknown option', () => IoTHubModuleClient.createFromEdgeEnvironment({ nope: 1 } as never)],
      ['options that are not an object', () => IoTHubModuleClient.createFromEdgeEnvironment('x' as never)],
      ['an empty environment', () => IoTHubModuleClient.createFromEdgeEnvironment({ env: {} })],
    ],
  },
};

/** Calls `call` and asserts it returned a promise (no synchronous throw) that rejects. */
async function assertRejects(call: () => unknown, what: string): Promise<void> {
  let result: unknown;
  assert.doesNotThrow(() => {
    result = call();
  }, `${what}: threw synchronously`);
  assert.ok(result instanceof Promise, `${what}: did not return a promise`);
  await assert.rejects(result as Promise<unknown>, `${what}: did not reject`);
}

describe('every public async method of the client reports errors by rejecting, never by throwing', () => {
  it('this spec has a row for every public async method (read from the source)', () => {
    assert.deepEqual(Object.keys(CASES).sort(), publicAsyncMethods());
  });

  for (const [method, { bad, onShutDown }] of Object.entries(CASES)) {
    for (const [name, call] of bad) {
      it(`${method}: ${name} → rejected promise`, async () => {
        const c = client();
        try {
          await assertRejects(() => call(c), `${method} with ${name}`);
        } finally {
          await c.shutdown();
        }
      });
    }
    if (onShutDown) {
      it(`${method}: on a shut-down client → rejected promise (ClientError 'shut-down')`, async () => {
        const c = await shutDownClient();
        await assertRejects(
          () => (c as unknown as Record<string, () => unknown>)[method]!(),
          `${method} after shutdown`,
        );
        await assert.rejects(
          (c as unknown as Record<string, () => Promise<unknown>>)[method]!(),
          (e: unknown) => (e as { code?: string }).code === 'shut-down',
        );
      });
    }
  }

  it('the argument-less methods that do fail also reject rather than throw on a shut-down client (sendMessage too)', async () => {
    const c = await shutDownClient();
    await assertRejects(() => c.sendMessage('x'), 'sendMessage after shutdown');
    await assertRejects(() => c.receiveMessageOnInput('i'), 'receiveMessageOnInput after shutdown');
  });
});
