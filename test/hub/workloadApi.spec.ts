// The IoT Edge workload API (trust bundle, module-key signing) over real Unix sockets, one per module as on IoT Edge,
// against a fake LocalHubApi.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { moduleWorkloadSocketPath } from '../../src/hub/localIdentity';
import { startWorkloadServer, type WorkloadServer } from '../../src/hub/workloadApi';
import { FakeHub } from '../helpers/FakeHub';
import { rawRequest } from '../helpers/hubHttp';
import { until } from '../helpers/until';

const API = 'api-version=2018-06-28';

describe('hub workload api', () => {
  let dir: string;
  let socketPath: string;
  let hub: FakeHub;
  /** The module's own workload socket. */
  const socketOf = (moduleId: string): string => moduleWorkloadSocketPath(socketPath, 'dev1', moduleId);

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hub-workload-'));
    socketPath = path.join(dir, 'workload.sock');
    hub = new FakeHub();
    hub.addModule('dev1', 'modA');
    hub.addModule('dev1', '$edge mod');
  });

  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('requests', () => {
    let server: WorkloadServer;

    beforeEach(async () => {
      server = await startWorkloadServer(hub, socketPath);
    });

    afterEach(async () => {
      await server.close();
    });

    it('GET /trust-bundle returns the hub CA', async () => {
      const answer = await rawRequest({ method: 'GET', path: `/trust-bundle?${API}`, socketPath });
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.json, { certificate: hub.caCert });
    });

    it('signs with the module primary key (percent-encoded ids, as the Node SDK sends them)', async () => {
      const mod = hub.getModule('dev1', '$edge mod')!;
      const data = Buffer.from('local-hub%2Fdevices%2Fdev1\n1700000000').toString('base64');
      const answer = await rawRequest({
        method: 'POST',
        path: `/modules/${encodeURIComponent(mod.moduleId)}/genid/${encodeURIComponent(mod.generationId)}/sign?${API}`,
        socketPath: socketOf('$edge mod'),
        body: { keyId: 'primary', algo: 'HMACSHA256', data },
      });
      assert.equal(answer.status, 200);
      const expected = createHmac('sha256', Buffer.from(mod.primaryKey, 'base64'))
        .update(Buffer.from(data, 'base64'))
        .digest('base64');
      assert.deepEqual(answer.json, { digest: expected });
    });

    it('signs with the secondary key when asked', async () => {
      const mod = hub.getModule('dev1', 'modA')!;
      const answer = await rawRequest({
        method: 'POST',
        path: `/modules/modA/genid/${mod.generationId}/sign?${API}`,
        socketPath: socketOf('modA'),
        body: { keyId: 'secondary', algo: 'HMACSHA256', data: 'YWJj' },
      });
      const expected = createHmac('sha256', Buffer.from(mod.secondaryKey, 'base64')).update('abc').digest('base64');
      assert.deepEqual(answer.json, { digest: expected });
    });

    it("answers 404 on a module's socket for a generation id that is not the module's", async () => {
      const other = hub.getModule('dev1', '$edge mod')!;
      const answer = await rawRequest({
        method: 'POST',
        path: `/modules/modA/genid/${other.generationId}/sign?${API}`,
        socketPath: socketOf('modA'),
        body: { keyId: 'primary', algo: 'HMACSHA256', data: 'YWJj' },
      });
      assert.equal(answer.status, 404);
      assert.equal(typeof (answer.json as { message: string }).message, 'string');
    });

    it("signs only for the module the socket belongs to: another module (known or not) or the hub's socket gets 403", async () => {
      const other = hub.getModule('dev1', '$edge mod')!;
      const body = { keyId: 'primary', algo: 'HMACSHA256', data: 'YWJj' };
      const asks: Array<[string, string]> = [
        [socketOf('modA'), `/modules/${encodeURIComponent(other.moduleId)}/genid/${other.generationId}/sign`],
        [socketOf('modA'), `/modules/nope/genid/${other.generationId}/sign`],
        [socketPath, `/modules/${encodeURIComponent(other.moduleId)}/genid/${other.generationId}/sign`],
      ];
      for (const [socket, p] of asks) {
        const answer = await rawRequest({ method: 'POST', path: `${p}?${API}`, socketPath: socket, body });
        assert.equal(answer.status, 403, `${p} on ${socket}`);
        assert.equal((answer.json as { digest?: string }).digest, undefined);
      }
      // Every socket still serves the trust bundle.
      for (const socket of [socketPath, socketOf('modA')]) {
        assert.equal(
          (await rawRequest({ method: 'GET', path: `/trust-bundle?${API}`, socketPath: socket })).status,
          200,
        );
      }
    });

    it('opens a socket for a module added later and closes the socket of a removed one', async () => {
      const added = hub.addModule('dev1', 'later');
      server.addModule('dev1', 'later');
      // Synchronous: the socket accepts requests as soon as addModule returns.
      const answer = await rawRequest({
        method: 'POST',
        path: `/modules/later/genid/${added.generationId}/sign?${API}`,
        socketPath: socketOf('later'),
        body: { keyId: 'primary', algo: 'HMACSHA256', data: 'YWJj' },
      });
      assert.equal(answer.status, 200);
      server.removeModule('dev1', 'later');
      await until(() => !fs.existsSync(socketOf('later')), "the removed module's socket file to go");
    });

    const badBodies: Array<[string, unknown]> = [
      ['not JSON', '{keyId'],
      ['a JSON array', '[]'],
      ['an unknown keyId', { keyId: 'tertiary', algo: 'HMACSHA256', data: 'YWJj' }],
      ['another algorithm', { keyId: 'primary', algo: 'HMACSHA1', data: 'YWJj' }],
      ['no data', { keyId: 'primary', algo: 'HMACSHA256' }],
      ['data that is not base64', { keyId: 'primary', algo: 'HMACSHA256', data: 'not base64!' }],
    ];
    for (const [name, body] of badBodies) {
      it(`answers 400 for ${name}`, async () => {
        const mod = hub.getModule('dev1', 'modA')!;
        const answer = await rawRequest({
          method: 'POST',
          path: `/modules/modA/genid/${mod.generationId}/sign?${API}`,
          socketPath: socketOf('modA'),
          body,
        });
        assert.equal(answer.status, 400);
      });
    }

    it('answers 400 without api-version, 404 for other paths, 405 for other methods', async () => {
      assert.equal((await rawRequest({ method: 'GET', path: '/trust-bundle', socketPath })).status, 400);
      assert.equal((await rawRequest({ method: 'GET', path: `/modules?${API}`, socketPath })).status, 404);
      assert.equal(
        (await rawRequest({ method: 'POST', path: `/trust-bundle?${API}`, socketPath, body: {} })).status,
        405,
      );
    });

    it('makes every socket owner-only', () => {
      for (const socket of [socketPath, socketOf('modA'), socketOf('$edge mod')])
        assert.equal(fs.statSync(socket).mode & 0o777, 0o600);
    });
  });

  describe('socket file', () => {
    it('removes a stale socket left by a killed process, and its own socket on close', async () => {
      const child = spawn(
        process.execPath,
        ['-e', `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('ready'))`],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await once(child.stdout, 'data', { signal: AbortSignal.timeout(10_000) });
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
      assert.ok(fs.lstatSync(socketPath).isSocket(), 'the killed process left its socket file');
      const server = await startWorkloadServer(hub, socketPath);
      const answer = await rawRequest({ method: 'GET', path: `/trust-bundle?${API}`, socketPath });
      assert.equal(answer.status, 200);
      await server.close();
      assert.equal(fs.existsSync(socketPath), false);
      assert.equal(fs.existsSync(path.dirname(socketOf('modA'))), false, 'the module sockets are gone too');
    });

    it('refuses a path where another server is listening, and a path that is not a socket', async () => {
      const other = net.createServer();
      await new Promise<void>((resolve) => other.listen(socketPath, resolve));
      try {
        await assert.rejects(startWorkloadServer(hub, socketPath), /in use/);
      } finally {
        await new Promise<void>((resolve) => other.close(() => resolve()));
      }
      fs.writeFileSync(socketPath, 'precious');
      await assert.rejects(startWorkloadServer(hub, socketPath), /not a socket/);
      assert.equal(fs.readFileSync(socketPath, 'utf8'), 'precious');
    });
  });
});
