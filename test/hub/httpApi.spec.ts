// The hub's HTTPS API (service REST subset + module-to-module methods) over real HTTP, against a fake LocalHubApi.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpApi } from '../../src/hub/httpApi';
import { createSas, createServiceSas } from '../../src/hub/sas';
import { FakeHub, hubError } from '../helpers/FakeHub';
import { rawRequest, type HttpAnswer } from '../helpers/hubHttp';

import { SERVICE_API as API, innerErrorCode, type LegacyBody } from './support';

describe('hub http api', () => {
  let hub: FakeHub;
  let server: http.Server;
  let port: number;
  let serviceToken: string;

  function call(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<HttpAnswer> {
    return rawRequest({
      method,
      path,
      port,
      headers: { authorization: serviceToken, ...headers },
      ...(body !== undefined ? { body } : {}),
    });
  }

  beforeEach(async () => {
    hub = new FakeHub();
    hub.addModule('dev1', 'modA');
    hub.addModule('dev1', 'modB');
    serviceToken = createServiceSas(hub.hostName, 'iothubowner', hub.policyKey, 3600);
    server = http.createServer(createHttpApi(hub, { name: 'iothubowner', key: hub.policyKey }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  describe('service authentication', () => {
    const cases: Array<[string, () => string | undefined]> = [
      ['no Authorization header', () => undefined],
      ['a malformed token', () => 'Bearer abc'],
      ['another policy name', () => createServiceSas(hub.hostName, 'registryRead', hub.policyKey, 3600)],
      [
        'another hub as audience',
        () => createServiceSas('other.azure-devices.net', 'iothubowner', hub.policyKey, 3600),
      ],
      [
        'a wrong key',
        () => createServiceSas(hub.hostName, 'iothubowner', Buffer.alloc(32, 1).toString('base64'), 3600),
      ],
      [
        'an expired token',
        () => createServiceSas(hub.hostName, 'iothubowner', hub.policyKey, 10, Math.floor(Date.now() / 1000) - 100),
      ],
      [
        'a module token on the twin API',
        () => createSas(`${hub.hostName}/devices/dev1/modules/modA`, hub.getModule('dev1', 'modA')!.primaryKey, 3600),
      ],
    ];
    for (const [name, token] of cases) {
      it(`answers 401 IotHubUnauthorizedAccess for ${name}`, async () => {
        const t = token();
        const answer = await rawRequest({
          method: 'GET',
          path: `/twins/dev1/modules/modA${API}`,
          port,
          headers: t ? { authorization: t } : {},
        });
        assert.equal(answer.status, 401);
        assert.equal(answer.headers['iothub-errorcode'], 'IotHubUnauthorizedAccess');
        assert.match((answer.json as LegacyBody).Message, /^ErrorCode:IotHubUnauthorizedAccess;/);
        assert.match((answer.json as LegacyBody).ExceptionMessage, /^Tracking ID:/);
      });
    }

    it('accepts the audience in any case and without api-version', async () => {
      serviceToken = createServiceSas(hub.hostName.toUpperCase(), 'iothubowner', hub.policyKey, 3600);
      const answer = await call('GET', '/twins/dev1/modules/modA');
      assert.equal(answer.status, 200);
    });
  });

  describe('twins', () => {
    it('GET returns the IoT Hub-shaped module twin with its etag', async () => {
      hub.connected.add('dev1/modA');
      const answer = await call('GET', `/twins/dev1/modules/modA${API}`);
      assert.equal(answer.status, 200);
      const twin = answer.json as Record<string, unknown>;
      assert.equal(twin.deviceId, 'dev1');
      assert.equal(twin.moduleId, 'modA');
      assert.equal(twin.connectionState, 'Connected');
      assert.equal(twin.etag, hub.getTwin('dev1', 'modA').etag);
      assert.equal(answer.headers.etag, `"${twin.etag}"`);
      assert.deepEqual(twin.properties, { desired: { $version: 1 }, reported: { $version: 1 } });
    });

    it('GET of a device twin has no moduleId', async () => {
      const answer = await call('GET', `/twins/dev1${API}`);
      assert.equal(answer.status, 200);
      assert.equal((answer.json as Record<string, unknown>).moduleId, undefined);
      assert.equal((answer.json as Record<string, unknown>).deviceId, 'dev1');
    });

    it('GET of unknown identities answers 404 DeviceNotFound / ModuleNotFound', async () => {
      const noDevice = await call('GET', `/twins/nope/modules/modA${API}`);
      assert.equal(noDevice.status, 404);
      assert.match((noDevice.json as LegacyBody).Message, /^ErrorCode:DeviceNotFound;/);
      const noModule = await call('GET', `/twins/dev1/modules/nope${API}`);
      assert.equal(noModule.status, 404);
      assert.match((noModule.json as LegacyBody).Message, /^ErrorCode:ModuleNotFound;/);
    });

    it('PATCH merges desired properties through the core and returns the new twin', async () => {
      const answer = await call(
        'PATCH',
        `/twins/dev1/modules/modA${API}`,
        { properties: { desired: { speed: 5, nested: { a: 1 } } } },
        { 'if-match': '*' },
      );
      assert.equal(answer.status, 200);
      assert.deepEqual(hub.calls.desired, [{ speed: 5, nested: { a: 1 } }]);
      const twin = answer.json as { properties: { desired: Record<string, unknown> }; etag: string };
      assert.equal(twin.properties.desired.speed, 5);
      assert.equal(twin.properties.desired.$version, 2);
      assert.equal(twin.etag, hub.getTwin('dev1', 'modA').etag);
    });

    it('PATCH honours If-Match: the current etag passes, a stale one gets 412 PreconditionFailed', async () => {
      const etag = hub.getTwin('dev1', 'modA').etag;
      const ok = await call(
        'PATCH',
        `/twins/dev1/modules/modA${API}`,
        { properties: { desired: { a: 1 } } },
        { 'if-match': `"${etag}"` },
      );
      assert.equal(ok.status, 200);
      const stale = await call(
        'PATCH',
        `/twins/dev1/modules/modA${API}`,
        { properties: { desired: { a: 2 } } },
        { 'if-match': `"${etag}"` },
      );
      assert.equal(stale.status, 412);
      assert.match((stale.json as LegacyBody).Message, /^ErrorCode:PreconditionFailed;/);
      assert.equal(hub.getTwin('dev1', 'modA').properties.desired.a, 1);
    });

    it('PUT replaces desired properties (removed keys become null in the patch)', async () => {
      hub.updateDesired('dev1', 'modA', { keep: 1, drop: 2, obj: { x: 1, y: 2 } });
      const answer = await call('PUT', `/twins/dev1/modules/modA${API}`, {
        properties: { desired: { keep: 1, obj: { x: 1 }, add: true } },
      });
      assert.equal(answer.status, 200);
      assert.deepEqual(hub.calls.desired.at(-1), { drop: null, obj: { y: null }, add: true });
      const desired = hub.getTwin('dev1', 'modA').properties.desired;
      assert.deepEqual({ ...desired, $version: 0 }, { keep: 1, obj: { x: 1 }, add: true, $version: 0 });
    });

    it('PATCH merges tags, PUT replaces them', async () => {
      const patched = await call('PATCH', `/twins/dev1/modules/modA${API}`, { tags: { site: 'x', floor: 1 } });
      assert.equal(patched.status, 200);
      assert.deepEqual((patched.json as { tags: unknown }).tags, { site: 'x', floor: 1 });
      const replaced = await call('PUT', `/twins/dev1/modules/modA${API}`, { tags: { site: 'y' } });
      assert.deepEqual((replaced.json as { tags: unknown }).tags, { site: 'y' });
      assert.deepEqual(hub.getTwin('dev1', 'modA').tags, { site: 'y' });
    });

    it('PATCH of the device twin targets the device (no module id)', async () => {
      const answer = await call('PATCH', `/twins/dev1${API}`, { properties: { desired: { d: 1 } } });
      assert.equal(answer.status, 200);
      assert.equal(hub.getTwin('dev1').properties.desired.d, 1);
    });

    const badBodies: Array<[string, string | object, number, RegExp]> = [
      ['bad JSON', '{"properties":', 400, /^ErrorCode:ArgumentInvalid;/],
      ['a JSON array', '[1]', 400, /^ErrorCode:ArgumentInvalid;/],
      ['reported properties', { properties: { reported: { a: 1 } } }, 400, /^ErrorCode:ArgumentInvalid;/],
      ['desired not an object', { properties: { desired: 3 } }, 400, /^ErrorCode:ArgumentInvalid;/],
    ];
    for (const [name, body, status, message] of badBodies) {
      it(`PATCH with ${name} answers ${status} and changes nothing`, async () => {
        const answer = await call('PATCH', `/twins/dev1/modules/modA${API}`, body);
        assert.equal(answer.status, status);
        assert.match((answer.json as LegacyBody).Message, message);
        assert.deepEqual(hub.calls.desired, []);
      });
    }

    it('an over-sized body answers 413 MessageTooLarge', async () => {
      const answer = await call('PATCH', `/twins/dev1/modules/modA${API}`, {
        properties: { desired: { big: 'x'.repeat(300 * 1024) } },
      });
      assert.equal(answer.status, 413);
      assert.match((answer.json as LegacyBody).Message, /^ErrorCode:MessageTooLarge;/);
    });

    it('a core failure that is not a HubErrorShape answers 500 ServerError (the handler never throws)', async () => {
      hub.twinFailure = new Error('boom');
      const answer = await call('GET', `/twins/dev1/modules/modA${API}`);
      assert.equal(answer.status, 500);
      assert.match((answer.json as LegacyBody).Message, /^ErrorCode:ServerError;boom/);
    });
  });

  describe('direct methods (service)', () => {
    it('POST invokes the method and answers {status, payload}', async () => {
      const answer = await call('POST', `/twins/dev1/modules/modA/methods${API}`, {
        methodName: 'ping',
        payload: { n: 1 },
        responseTimeoutInSeconds: 30,
        connectTimeoutInSeconds: 0,
      });
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.json, { status: 200, payload: { echo: { n: 1 } } });
      assert.deepEqual(hub.calls.invoke, [
        {
          deviceId: 'dev1',
          moduleId: 'modA',
          invocation: {
            methodName: 'ping',
            payload: { n: 1 },
            responseTimeoutInSeconds: 30,
            connectTimeoutInSeconds: 0,
          },
        },
      ]);
    });

    it('POST on a device invokes without module id; a missing payload becomes null', async () => {
      const answer = await call('POST', `/twins/dev1/methods${API}`, { methodName: 'reboot' });
      assert.equal(answer.status, 200);
      assert.deepEqual(hub.calls.invoke, [{ deviceId: 'dev1', invocation: { methodName: 'reboot', payload: null } }]);
    });

    it('a module that is not online answers 404 with errorCode 404103 inside Message (as IoT Hub does)', async () => {
      hub.methodHandler = () => Promise.reject(hubError(404, 404103, 'Timed out waiting for device to connect.'));
      const answer = await call('POST', `/twins/dev1/modules/modA/methods${API}`, { methodName: 'ping' });
      assert.equal(answer.status, 404);
      assert.equal(answer.headers['iothub-errorcode'], 'DeviceNotOnline');
      assert.equal(innerErrorCode(answer.text), 404103);
      assert.equal((answer.json as LegacyBody).ExceptionMessage, '');
    });

    it('a module that does not answer in time answers 504 with errorCode 504101', async () => {
      hub.methodHandler = () =>
        Promise.reject(hubError(504, 504101, 'Timed out waiting for the response from device.'));
      const answer = await call('POST', `/twins/dev1/modules/modA/methods${API}`, { methodName: 'ping' });
      assert.equal(answer.status, 504);
      assert.equal(innerErrorCode(answer.text), 504101);
    });

    const badInvocations: Array<[string, unknown]> = [
      ['no methodName', { payload: 1 }],
      ['an empty methodName', { methodName: '' }],
      ['a response timeout under 5 s', { methodName: 'x', responseTimeoutInSeconds: 1 }],
      ['a response timeout over 300 s', { methodName: 'x', responseTimeoutInSeconds: 301 }],
      ['a negative connect timeout', { methodName: 'x', connectTimeoutInSeconds: -1 }],
      ['bad JSON', '{methodName'],
    ];
    for (const [name, body] of badInvocations) {
      it(`${name} answers 400 with errorCode 400004`, async () => {
        const answer = await call('POST', `/twins/dev1/modules/modA/methods${API}`, body);
        assert.equal(answer.status, 400);
        assert.equal(innerErrorCode(answer.text), 400004);
        assert.deepEqual(hub.calls.invoke, []);
      });
    }

    it('an unknown target module answers 404 ModuleNotFound (404010)', async () => {
      const answer = await call('POST', `/twins/dev1/modules/nope/methods${API}`, { methodName: 'x' });
      assert.equal(answer.status, 404);
      assert.equal(innerErrorCode(answer.text), 404010);
    });

    it('GET on the methods path answers 405', async () => {
      const answer = await call('GET', `/twins/dev1/modules/modA/methods${API}`);
      assert.equal(answer.status, 405);
    });
  });

  describe('module-to-module methods (edgeHub)', () => {
    function moduleToken(deviceId: string, moduleId: string, key?: string): string {
      return createSas(
        `${hub.hostName}/devices/${deviceId}/modules/${moduleId}`,
        key ?? hub.getModule(deviceId, moduleId)!.primaryKey,
        3600,
      );
    }

    it('accepts the caller module token with a matching x-ms-edge-moduleId and invokes the target', async () => {
      const answer = await rawRequest({
        method: 'POST',
        path: '/twins/dev1/modules/modB/methods',
        port,
        headers: { authorization: moduleToken('dev1', 'modA'), 'x-ms-edge-moduleId': 'dev1/modA' },
        body: { methodName: 'hello', payload: 'hi' },
      });
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.json, { status: 200, payload: { echo: 'hi' } });
      assert.equal(hub.calls.invoke[0]!.moduleId, 'modB');
    });

    it('accepts the secondary key too', async () => {
      const answer = await rawRequest({
        method: 'POST',
        path: '/twins/dev1/modules/modB/methods',
        port,
        headers: {
          authorization: moduleToken('dev1', 'modA', hub.getModule('dev1', 'modA')!.secondaryKey),
          'x-ms-edge-moduleId': 'dev1/modA',
        },
        body: { methodName: 'hello' },
      });
      assert.equal(answer.status, 200);
    });

    const refused: Array<[string, () => Record<string, string>]> = [
      ['no x-ms-edge-moduleId', () => ({ authorization: moduleToken('dev1', 'modA') })],
      [
        'a header naming another module',
        () => ({ authorization: moduleToken('dev1', 'modA'), 'x-ms-edge-moduleId': 'dev1/modB' }),
      ],
      [
        'a token signed with another module key',
        () => ({
          authorization: moduleToken('dev1', 'modA', hub.getModule('dev1', 'modB')!.primaryKey),
          'x-ms-edge-moduleId': 'dev1/modA',
        }),
      ],
      [
        'a device token',
        () => ({
          authorization: createSas(`${hub.hostName}/devices/dev1`, hub.listDevices()[0]!.primaryKey, 3600),
          'x-ms-edge-moduleId': 'dev1/modA',
        }),
      ],
    ];
    for (const [name, headers] of refused) {
      it(`refuses ${name} with 401 (errorCode 401002)`, async () => {
        const answer = await rawRequest({
          method: 'POST',
          path: '/twins/dev1/modules/modB/methods',
          port,
          headers: headers(),
          body: { methodName: 'x' },
        });
        assert.equal(answer.status, 401);
        assert.equal(innerErrorCode(answer.text), 401002);
        assert.deepEqual(hub.calls.invoke, []);
      });
    }
  });

  describe('registry', () => {
    it('PUT /devices/{d} creates a device and returns its generated keys', async () => {
      const answer = await call('PUT', `/devices/newdev${API}`, {
        deviceId: 'newdev',
        authentication: { type: 'sas', symmetricKey: { primaryKey: '', secondaryKey: '' } },
      });
      assert.equal(answer.status, 200);
      const device = answer.json as {
        deviceId: string;
        authentication: { type: string; symmetricKey: { primaryKey: string; secondaryKey: string } };
      };
      assert.equal(device.deviceId, 'newdev');
      assert.equal(device.authentication.type, 'sas');
      assert.equal(
        device.authentication.symmetricKey.primaryKey,
        hub.listDevices().find((d) => d.deviceId === 'newdev')!.primaryKey,
      );
      assert.equal(Buffer.from(device.authentication.symmetricKey.secondaryKey, 'base64').length, 32);
    });

    it('PUT keeps given keys; a second PUT without If-Match answers 409 DeviceAlreadyExists', async () => {
      const primaryKey = Buffer.alloc(32, 3).toString('base64');
      const first = await call('PUT', `/devices/keyed${API}`, {
        deviceId: 'keyed',
        authentication: { symmetricKey: { primaryKey } },
      });
      assert.equal(
        (first.json as { authentication: { symmetricKey: { primaryKey: string } } }).authentication.symmetricKey
          .primaryKey,
        primaryKey,
      );
      const again = await call('PUT', `/devices/keyed${API}`, { deviceId: 'keyed' });
      assert.equal(again.status, 409);
      assert.match((again.json as LegacyBody).Message, /^ErrorCode:DeviceAlreadyExists;/);
      const update = await call('PUT', `/devices/keyed${API}`, { deviceId: 'keyed' }, { 'if-match': '"*"' });
      assert.equal(update.status, 200);
    });

    const badDevices: Array<[string, string, unknown]> = [
      [
        'a key that is not base64 of 16-64 bytes',
        'k1',
        { authentication: { symmetricKey: { primaryKey: 'c2hvcnQ=' } } },
      ],
      ['a body deviceId different from the path', 'k2', { deviceId: 'other' }],
      ['an invalid device id', 'bad%20id', { deviceId: 'bad id' }],
      ['an unsupported authentication type', 'k3', { authentication: { type: 'certificateAuthority' } }],
    ];
    for (const [name, id, body] of badDevices) {
      it(`PUT with ${name} answers 400 ArgumentInvalid`, async () => {
        const answer = await call('PUT', `/devices/${id}${API}`, body);
        assert.equal(answer.status, 400);
        assert.match((answer.json as LegacyBody).Message, /^ErrorCode:ArgumentInvalid;/);
      });
    }

    it('PUT with self-signed thumbprints creates an X.509 identity', async () => {
      const tp = 'A'.repeat(40);
      const answer = await call('PUT', `/devices/x509dev${API}`, {
        deviceId: 'x509dev',
        authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: tp, secondaryThumbprint: null } },
      });
      assert.equal(answer.status, 200);
      const auth = (answer.json as { authentication: { type: string; x509Thumbprint: { primaryThumbprint: string } } })
        .authentication;
      assert.equal(auth.type, 'selfSigned');
      assert.equal(auth.x509Thumbprint.primaryThumbprint, tp);
    });

    it('GET /devices/{d}, GET /devices and GET /devices/{d}/modules list the registry', async () => {
      const one = await call('GET', `/devices/dev1${API}`);
      assert.equal(one.status, 200);
      assert.equal((one.json as { capabilities: { iotEdge: boolean } }).capabilities.iotEdge, true);
      const all = await call('GET', `/devices${API}`);
      assert.deepEqual(
        (all.json as Array<{ deviceId: string }>).map((d) => d.deviceId),
        ['dev1'],
      );
      const mods = await call('GET', `/devices/dev1/modules${API}`);
      assert.deepEqual(
        (mods.json as Array<{ moduleId: string }>).map((m) => m.moduleId),
        ['modA', 'modB'],
      );
      const missing = await call('GET', `/devices/nope${API}`);
      assert.equal(missing.status, 404);
      assert.match((missing.json as LegacyBody).Message, /^ErrorCode:DeviceNotFound;/);
    });

    it('PUT/GET/DELETE /devices/{d}/modules/{m} manage modules', async () => {
      const created = await call('PUT', `/devices/dev1/modules/modC${API}`, { deviceId: 'dev1', moduleId: 'modC' });
      assert.equal(created.status, 200);
      const mod = created.json as {
        moduleId: string;
        generationId: string;
        authentication: { symmetricKey: { primaryKey: string } };
      };
      assert.equal(mod.generationId, hub.getModule('dev1', 'modC')!.generationId);
      assert.equal(mod.authentication.symmetricKey.primaryKey, hub.getModule('dev1', 'modC')!.primaryKey);
      const dup = await call('PUT', `/devices/dev1/modules/modC${API}`, { deviceId: 'dev1', moduleId: 'modC' });
      assert.equal(dup.status, 409);
      assert.match((dup.json as LegacyBody).Message, /^ErrorCode:ModuleAlreadyExistsOnDevice;/);
      const got = await call('GET', `/devices/dev1/modules/modC${API}`);
      assert.equal((got.json as { moduleId: string }).moduleId, 'modC');
      const removed = await call('DELETE', `/devices/dev1/modules/modC${API}`, undefined, { 'if-match': '"*"' });
      assert.equal(removed.status, 204);
      assert.equal(hub.getModule('dev1', 'modC'), undefined);
      const gone = await call('GET', `/devices/dev1/modules/modC${API}`);
      assert.match((gone.json as LegacyBody).Message, /^ErrorCode:ModuleNotFound;/);
    });

    it('a module on an unknown device answers 404 DeviceNotFound', async () => {
      const answer = await call('PUT', `/devices/ghost/modules/m${API}`, {});
      assert.equal(answer.status, 404);
      assert.match((answer.json as LegacyBody).Message, /^ErrorCode:DeviceNotFound;/);
    });

    it('DELETE of a device removes it with its modules', async () => {
      const answer = await call('DELETE', `/devices/dev1${API}`, undefined, { 'if-match': '"*"' });
      assert.equal(answer.status, 204);
      assert.equal(hub.getDevice('dev1'), undefined);
      assert.equal(hub.getModule('dev1', 'modA'), undefined);
      const gone = await call('GET', `/devices/dev1${API}`);
      assert.match((gone.json as LegacyBody).Message, /^ErrorCode:DeviceNotFound;/);
    });

    it('an unknown path answers 404 and a bad percent-encoding 400', async () => {
      assert.equal((await call('GET', `/jobs/v2${API}`)).status, 404);
      assert.equal((await call('GET', `/twins/%E0%A4%A/modules/x${API}`)).status, 400);
    });
  });
});
