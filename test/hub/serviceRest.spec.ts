// IoT Hub's service REST API on the real LocalHub (not the fake), over HTTPS on the hub's one TLS port — 401 cases,
// twin PATCH/PUT merge, version, etag and 400 cases, registry delete, and methods 404103 through REST.
import assert from 'node:assert/strict';
import { Twin } from 'azure-iothub';
import type { LocalHub } from '../../src/hub/LocalHub';
import { createSas, createServiceSas } from '../../src/hub/sas';
import type { ModuleIdentity } from '../../src/hub/types';
import { rawRequest, type HttpAnswer } from '../helpers/hubHttp';
import { serviceOracle, type ServiceOracle } from '../helpers/hubOracle';
import { SERVICE_API as API, innerErrorCode, nested, startHub, type LegacyBody } from './support';

describe('local hub: service REST API over HTTPS', () => {
  let hub: LocalHub;
  let mod: ModuleIdentity;
  let token: string;

  before(async () => {
    hub = await startHub();
    mod = hub.addModule('dev1', 'modA');
    token = createServiceSas(
      hub.hostName,
      'iothubowner',
      hub.serviceConnectionString.split('SharedAccessKey=')[1]!,
      3600,
    );
  });
  after(() => hub.close());

  function call(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = { authorization: token },
  ): Promise<HttpAnswer> {
    return rawRequest({
      method,
      path,
      port: hub.port,
      ca: hub.caCert,
      headers,
      ...(body !== undefined ? { body } : {}),
    });
  }

  describe('authentication', () => {
    const policyKey = (): string => hub.serviceConnectionString.split('SharedAccessKey=')[1]!;
    const moduleToken = (): string => createSas(`${hub.hostName}/devices/dev1/modules/modA`, mod.primaryKey, 3600);
    const cases: Array<[string, string, string, () => Record<string, string>]> = [
      ['no Authorization header', 'GET', '/twins/dev1/modules/modA', () => ({})],
      [
        'a token signed with another key',
        'GET',
        '/twins/dev1/modules/modA',
        () => ({
          authorization: createServiceSas(hub.hostName, 'iothubowner', Buffer.alloc(32, 7).toString('base64'), 3600),
        }),
      ],
      [
        'an expired token',
        'GET',
        '/devices/dev1',
        () => ({
          authorization: createServiceSas(
            hub.hostName,
            'iothubowner',
            policyKey(),
            10,
            Math.floor(Date.now() / 1000) - 60,
          ),
        }),
      ],
      [
        'another policy name',
        'GET',
        '/devices',
        () => ({ authorization: createServiceSas(hub.hostName, 'service', policyKey(), 3600) }),
      ],
      [
        'a module token on the registry',
        'GET',
        '/devices/dev1',
        () => ({ authorization: moduleToken(), 'x-ms-edge-moduleId': 'dev1/modA' }),
      ],
      [
        'a module token on methods without x-ms-edge-moduleId',
        'POST',
        '/twins/dev1/modules/modA/methods',
        () => ({ authorization: moduleToken() }),
      ],
      [
        'an expired module token on methods',
        'POST',
        '/twins/dev1/modules/modA/methods',
        () => ({
          authorization: createSas(
            `${hub.hostName}/devices/dev1/modules/modA`,
            mod.primaryKey,
            10,
            Math.floor(Date.now() / 1000) - 60,
          ),
          'x-ms-edge-moduleId': 'dev1/modA',
        }),
      ],
    ];
    for (const [name, method, path, headers] of cases) {
      it(`${method} ${path} with ${name} → 401`, async () => {
        const answer = await call(
          method,
          `${path}${API}`,
          method === 'POST' ? { methodName: 'm' } : undefined,
          headers(),
        );
        assert.equal(answer.status, 401);
        assert.equal(answer.headers['iothub-errorcode'], 'IotHubUnauthorizedAccess');
      });
    }
  });

  describe('twins', () => {
    it('PATCH merges tags and desired (null deletes), bumps version and desired.$version, returns the new etag', async () => {
      const before = (await call('GET', `/twins/dev1/modules/modA${API}`)).json as {
        etag: string;
        version: number;
        properties: { desired: { $version: number } };
      };
      const first = await call(
        'PATCH',
        `/twins/dev1/modules/modA${API}`,
        { tags: { site: 'lab' }, properties: { desired: { a: 1, b: { c: 2, d: 3 } } } },
        { authorization: token, 'if-match': `"${before.etag}"` },
      );
      assert.equal(first.status, 200);
      const second = await call('PATCH', `/twins/dev1/modules/modA${API}`, {
        properties: { desired: { a: null, b: { c: null, e: 'x' } } },
      });
      const twin = second.json as {
        etag: string;
        version: number;
        tags: unknown;
        properties: { desired: Record<string, unknown> };
      };
      assert.deepEqual(twin.tags, { site: 'lab' });
      assert.deepEqual(
        { ...twin.properties.desired, $metadata: undefined },
        { b: { d: 3, e: 'x' }, $version: before.properties.desired.$version + 2, $metadata: undefined },
      );
      assert.equal(twin.version, before.version + 2);
      assert.notEqual(twin.etag, before.etag);
      assert.equal(second.headers.etag, `"${twin.etag}"`);
    });

    it('a stale If-Match answers 412 PreconditionFailed and changes nothing', async () => {
      const version = hub.getTwin('dev1', 'modA').properties.desired.$version;
      const answer = await call(
        'PATCH',
        `/twins/dev1/modules/modA${API}`,
        { properties: { desired: { z: 1 } } },
        { authorization: token, 'if-match': '"stale"' },
      );
      assert.equal(answer.status, 412);
      assert.match((answer.json as LegacyBody).Message, /^ErrorCode:PreconditionFailed;/);
      assert.equal(hub.getTwin('dev1', 'modA').properties.desired.$version, version);
    });

    // IoT Hub's If-Match: `*` quoted (azure-iothub's `_ensureQuoted('*')`) or bare, the etag quoted or bare (the
    // Python service SDK passes a twin's `etag` field as it is), a weak marker ignored; anything else is 412.
    const ifMatchCases: Array<[string, (etag: string) => string, number]> = [
      ['"*"', () => '"*"', 200],
      ['bare *', () => '*', 200],
      ['the quoted etag', (etag) => `"${etag}"`, 200],
      ['the bare etag', (etag) => etag, 200],
      ['the weak quoted etag', (etag) => `W/"${etag}"`, 200],
      ['another quoted etag', () => '"AAAAAAAAAAA="', 412],
      ['an empty quoted etag', () => '""', 412],
      ['"**"', () => '"**"', 412],
    ];
    for (const method of ['PATCH', 'PUT']) {
      for (const [name, header, status] of ifMatchCases) {
        it(`${method} with If-Match ${name} → ${status}`, async () => {
          const before = hub.getTwin('dev1', 'modA');
          const answer = await call(
            method,
            `/twins/dev1/modules/modA${API}`,
            { properties: { desired: { ifMatch: name } } },
            { authorization: token, 'if-match': header(before.etag) },
          );
          assert.equal(answer.status, status, answer.text);
          const after = hub.getTwin('dev1', 'modA');
          if (status === 200) assert.equal(after.properties.desired.ifMatch, name);
          else
            assert.deepEqual(
              [answer.headers['iothub-errorcode'], after.version],
              ['PreconditionFailed', before.version],
            );
        });
      }
    }

    it('PUT replaces desired and tags', async () => {
      await call('PATCH', `/twins/dev1/modules/modA${API}`, { tags: { old: 1 }, properties: { desired: { old: 1 } } });
      const answer = await call('PUT', `/twins/dev1/modules/modA${API}`, {
        tags: { fresh: true },
        properties: { desired: { fresh: true } },
      });
      assert.equal(answer.status, 200);
      const twin = hub.getTwin('dev1', 'modA');
      assert.deepEqual(twin.tags, { fresh: true });
      assert.equal(twin.properties.desired.fresh, true);
      assert.equal('old' in twin.properties.desired, false);
    });

    const bad: Array<[string, unknown]> = [
      ['a desired key with .', { properties: { desired: { 'a.b': 1 } } }],
      ['a desired key with $', { properties: { desired: { a: { $b: 1 } } } }],
      ['a desired key with a space', { properties: { desired: { 'a b': 1 } } }],
      ['desired deeper than 10 levels', { properties: { desired: nested(11) } }],
      ['desired over 32 KB', { properties: { desired: { big: 'x'.repeat(32 * 1024) } } }],
      ['a tag key with .', { tags: { 'a.b': 1 } }],
      ['reported properties', { properties: { reported: { a: 1 } } }],
      ['desired that is not an object', { properties: { desired: [1] } }],
      ['a body that is not an object', 'null'],
    ];
    for (const [name, body] of bad) {
      it(`PATCH with ${name} → 400 ArgumentInvalid, no change`, async () => {
        const version = hub.getTwin('dev1', 'modA').version;
        const answer = await call('PATCH', `/twins/dev1/modules/modA${API}`, body);
        assert.equal(answer.status, 400);
        assert.match((answer.json as LegacyBody).Message, /^ErrorCode:ArgumentInvalid;/);
        assert.equal(hub.getTwin('dev1', 'modA').version, version);
      });
    }

    it('unknown identities → 404 DeviceNotFound (404001) / ModuleNotFound (404010)', async () => {
      const device = await call('GET', `/twins/nodev/modules/modA${API}`);
      const module = await call('GET', `/twins/dev1/modules/nomod${API}`);
      assert.deepEqual(
        [device.status, device.headers['iothub-errorcode'], module.status, module.headers['iothub-errorcode']],
        [404, 'DeviceNotFound', 404, 'ModuleNotFound'],
      );
    });
  });

  describe('registry and methods', () => {
    it('PUT creates a device with generated keys, DELETE removes it with its modules (204), GET then answers 404', async () => {
      const created = await call('PUT', `/devices/gone${API}`, { deviceId: 'gone' });
      assert.equal(created.status, 200);
      const keys = (created.json as { authentication: { symmetricKey: { primaryKey: string } } }).authentication
        .symmetricKey;
      assert.equal(Buffer.from(keys.primaryKey, 'base64').length, 32);
      assert.equal(
        (await call('PUT', `/devices/gone/modules/m${API}`, { deviceId: 'gone', moduleId: 'm' })).status,
        200,
      );
      assert.equal((await call('DELETE', `/devices/gone${API}`)).status, 204);
      assert.equal(hub.getModule('gone', 'm'), undefined);
      const after = await call('GET', `/devices/gone${API}`);
      assert.deepEqual([after.status, after.headers['iothub-errorcode']], [404, 'DeviceNotFound']);
    });

    it('DELETE and PUT-update of a module honour If-Match like IoT Hub: "*", *, quoted or bare etag; a stale one → 412', async () => {
      const etagOf = async (path: string): Promise<string> =>
        ((await call('GET', `${path}${API}`)).json as { etag: string }).etag;
      const variants: Array<(etag: string) => string> = [() => '"*"', () => '*', (etag) => `"${etag}"`, (etag) => etag];
      for (const [i, ifMatch] of variants.entries()) {
        const path = `/devices/dev1/modules/etag${i}`;
        assert.equal((await call('PUT', `${path}${API}`, { deviceId: 'dev1', moduleId: `etag${i}` })).status, 200);
        const etag = await etagOf(path);
        const update = await call(
          'PUT',
          `${path}${API}`,
          { deviceId: 'dev1', moduleId: `etag${i}` },
          { authorization: token, 'if-match': ifMatch(etag) },
        );
        assert.equal(update.status, 200, `update with If-Match ${ifMatch(etag)}`);
        const stale = await call('DELETE', `${path}${API}`, undefined, {
          authorization: token,
          'if-match': '"AAAAAAAAAAA="',
        });
        assert.deepEqual([stale.status, stale.headers['iothub-errorcode']], [412, 'PreconditionFailed']);
        const removed = await call('DELETE', `${path}${API}`, undefined, {
          authorization: token,
          'if-match': ifMatch(etag),
        });
        assert.equal(removed.status, 204, `delete with If-Match ${ifMatch(etag)}`);
      }
    });

    it('POST methods on an offline module → 404 with errorCode 404103', async () => {
      const answer = await call('POST', `/twins/dev1/modules/modA/methods${API}`, {
        methodName: 'm',
        responseTimeoutInSeconds: 5,
      });
      assert.equal(answer.status, 404);
      assert.equal(innerErrorCode(answer.text), 404103);
    });
  });

  describe('with the official azure-iothub SDK', () => {
    let oracle: ServiceOracle;
    before(() => {
      oracle = serviceOracle(hub.serviceConnectionString, hub.port, hub.caCert);
    });
    after(() => oracle.close());

    it('Registry.updateModuleTwin / updateTwin with etag "*" (sent as If-Match: "*") update unconditionally', async () => {
      hub.addDevice('sdkDev');
      await oracle.registry.updateModuleTwin('dev1', 'modA', { properties: { desired: { forced: 1 } } }, '*');
      await oracle.registry.updateTwin('sdkDev', { tags: { forced: true } }, '*');
      assert.equal(hub.getTwin('dev1', 'modA').properties.desired.forced, 1);
      assert.deepEqual(hub.getTwin('sdkDev').tags, { forced: true });
    });

    it('Twin.update of a twin made without an etag (etag "*") and of a fetched one (its etag) both pass', async () => {
      hub.addDevice('twinDev');
      const fresh = new Twin('twinDev', oracle.registry);
      await fresh.update({ properties: { desired: { fresh: 2 } } });
      const { responseBody: fetched } = await oracle.registry.getTwin('twinDev');
      await fetched.update({ properties: { desired: { fetched: 3 } } });
      const desired = hub.getTwin('twinDev').properties.desired;
      assert.deepEqual([desired.fresh, desired.fetched], [2, 3]);
    });

    it('Registry.update / updateModule(forceUpdate) / removeModule send If-Match "*" and pass', async () => {
      await oracle.registry.create({ deviceId: 'sdkDev2' });
      const { responseBody: device } = await oracle.registry.get('sdkDev2');
      await oracle.registry.update({ deviceId: 'sdkDev2', authentication: device.authentication });
      await oracle.registry.addModule({ deviceId: 'sdkDev2', moduleId: 'm' });
      const { responseBody: module } = await oracle.registry.getModule('sdkDev2', 'm');
      await oracle.registry.updateModule(module, true);
      await oracle.registry.updateModule(module, false);
      await oracle.registry.removeModule('sdkDev2', 'm');
      await oracle.registry.delete('sdkDev2');
      assert.equal(hub.getModule('sdkDev2', 'm'), undefined);
    });
  });
});
