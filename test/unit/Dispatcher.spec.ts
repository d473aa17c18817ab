// Handler / receive-mode dispatch as in the Python SDK: exclusivity, items held until a handler exists, inboxes, no
// escaping throws.
import assert from 'node:assert/strict';
import { Dispatcher } from '../../src/client/Dispatcher';
import { Message } from '../../src/client/models/Message';
import { MethodRequest } from '../../src/client/models/MethodRequest';
import { ClientError } from '../../src/client/errors';

function input(name: string, data: string): Message {
  const m = new Message(Buffer.from(data));
  m.inputName = name;
  return m;
}

describe('Dispatcher', () => {
  it('holds items until a handler is set, then delivers them in order', () => {
    const d = new Dispatcher(() => undefined);
    d.message(input('a', '1'));
    d.message(input('b', '2'));
    d.desired({ x: 1 }, true);
    const seen: string[] = [];
    d.setHandler('message', (m: Message) => {
      seen.push(String(m.data));
    });
    d.message(input('a', '3'));
    assert.deepEqual(seen, ['1', '2', '3']);
    const patches: Array<[unknown, boolean]> = [];
    d.setHandler('desired', (p: Record<string, unknown>, info: { full: boolean }) => {
      patches.push([p, info.full]);
    });
    assert.deepEqual(patches, [[{ x: 1 }, true]]);
  });

  it('catches and logs handler throws and rejections', async () => {
    const logged: string[] = [];
    const d = new Dispatcher((level, msg) => logged.push(`${level}: ${msg}`));
    d.setHandler('method', () => {
      throw new Error('sync boom');
    });
    d.method(new MethodRequest('1', 'm', null));
    d.setHandler('method', () => Promise.reject(new Error('async boom')));
    d.method(new MethodRequest('2', 'm', null));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(logged, [
      'error: onMethodRequestReceived handler threw: Error: sync boom',
      'error: onMethodRequestReceived handler rejected: Error: async boom',
    ]);
  });

  it('handler mode and receive mode exclude each other', () => {
    const a = new Dispatcher(() => undefined);
    a.setHandler('message', () => undefined);
    assert.throws(
      () => a.enterApiMode(),
      (e: unknown) => e instanceof ClientError && e.code === 'receive-mode-conflict',
    );
    const b = new Dispatcher(() => undefined);
    b.enterApiMode();
    assert.throws(
      () => b.setHandler('desired', () => undefined),
      (e: unknown) => e instanceof ClientError && e.code === 'receive-mode-conflict',
    );
    b.setHandler('desired', null);
    assert.throws(() => b.setHandler('desired', 5), TypeError);
  });

  it('receive mode: per-input inboxes, unknown inputs dropped with a warning, method inboxes by name then generic', async () => {
    const logged: string[] = [];
    const d = new Dispatcher((level, msg) => logged.push(`${level}: ${msg}`));
    d.method(new MethodRequest('0', 'early', 1));
    d.enterApiMode();
    const wanted = d.inputInbox('wanted');
    const first = wanted.next();
    d.message(input('other', 'x'));
    d.message(input('wanted', 'y'));
    d.message(input('wanted', 'z'));
    assert.equal(String((await first).data), 'y');
    assert.equal(String((await wanted.next()).data), 'z');
    assert.deepEqual(logged, ['warn: dropped an input message for other: nobody receives it']);
    const reboot = d.methodInbox('reboot');
    const any = d.methodInbox('');
    assert.equal((await any.next()).name, 'early');
    d.method(new MethodRequest('1', 'reboot', null));
    d.method(new MethodRequest('2', 'ping', null));
    assert.equal((await reboot.next()).requestId, '1');
    assert.equal((await any.next()).requestId, '2');
  });

  it('close rejects waiting receivers; purgeMethods drops held requests', async () => {
    const d = new Dispatcher(() => undefined);
    d.method(new MethodRequest('1', 'm', null));
    d.purgeMethods();
    const seen: string[] = [];
    d.setHandler('method', (r: MethodRequest) => {
      seen.push(r.requestId);
    });
    assert.deepEqual(seen, []);
    const e = new Dispatcher(() => undefined);
    e.enterApiMode();
    const waiting = e.desiredPatches().next();
    e.close(new Error('shut'));
    await assert.rejects(waiting, /shut/);
  });
});
