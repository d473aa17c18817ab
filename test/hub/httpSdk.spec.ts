// The official azure-iothub service SDK against the hub's HTTPS API (TLS, fake LocalHubApi): the SDK must read our
// answers and errors exactly as it reads IoT Hub's.
import assert from 'node:assert/strict';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { generateHubTls, type HubTlsMaterial } from '../../src/hub/certs';
import { createHttpApi } from '../../src/hub/httpApi';
import { FakeHub, hubError } from '../helpers/FakeHub';
import { serviceOracle, type ServiceOracle } from '../helpers/hubOracle';
import { innerErrorCode, type SdkHttpError } from './support';

describe('hub http api with the azure-iothub SDK', function () {
  let tlsMaterial: HubTlsMaterial;
  let hub: FakeHub;
  let server: https.Server;
  let oracle: ServiceOracle;

  before(async () => {
    tlsMaterial = await generateHubTls();
  });

  beforeEach(async () => {
    hub = new FakeHub();
    hub.addModule('dev1', 'modA');
    server = https.createServer(
      { cert: tlsMaterial.serverCert, key: tlsMaterial.serverKey },
      createHttpApi(hub, { name: 'iothubowner', key: hub.policyKey }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    oracle = serviceOracle(hub.serviceConnectionString, (server.address() as AddressInfo).port, tlsMaterial.caCert);
  });

  afterEach(async () => {
    await oracle.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('Registry.getModuleTwin / Twin.update change desired properties with the twin etag', async () => {
    const { responseBody: twin } = await oracle.registry.getModuleTwin('dev1', 'modA');
    assert.equal(twin.moduleId, 'modA');
    await twin.update({ properties: { desired: { threshold: 7 } } });
    assert.equal(twin.properties.desired.threshold, 7);
    assert.equal(hub.getTwin('dev1', 'modA').properties.desired.threshold, 7);
  });

  it('a stale etag surfaces as InvalidEtagError (412)', async () => {
    const stale = hub.getTwin('dev1', 'modA').etag;
    hub.updateDesired('dev1', 'modA', { a: 1 });
    await assert.rejects(
      oracle.registry.updateModuleTwin('dev1', 'modA', { properties: { desired: { a: 2 } } }, stale),
      { name: 'InvalidEtagError' },
    );
  });

  it('Registry.addModule / getModule / removeModule, and DeviceAlreadyExistsError on a duplicate create', async () => {
    const created = await oracle.registry.create({ deviceId: 'dev2' });
    assert.equal(created.responseBody.deviceId, 'dev2');
    assert.ok(created.responseBody.authentication?.symmetricKey?.primaryKey);
    await assert.rejects(oracle.registry.create({ deviceId: 'dev2' }), { name: 'DeviceAlreadyExistsError' });
    await oracle.registry.addModule({ deviceId: 'dev2', moduleId: 'm' });
    const got = await oracle.registry.getModule('dev2', 'm');
    assert.equal(got.responseBody.authentication?.symmetricKey?.primaryKey, hub.getModule('dev2', 'm')!.primaryKey);
    await oracle.registry.removeModule('dev2', 'm');
    assert.equal(hub.getModule('dev2', 'm'), undefined);
    await assert.rejects(oracle.registry.get('nope'), { name: 'DeviceNotFoundError' });
  });

  it('Client.invokeDeviceMethod returns the module answer', async () => {
    const result: unknown = (
      await oracle.client.invokeDeviceMethod('dev1', 'modA', { methodName: 'ping', payload: { x: 1 } })
    ).result;
    assert.deepEqual(result, { status: 200, payload: { echo: { x: 1 } } });
    assert.deepEqual(hub.calls.invoke[0]!.invocation, {
      methodName: 'ping',
      payload: { x: 1 },
      responseTimeoutInSeconds: 30,
      connectTimeoutInSeconds: 0,
    });
  });

  it('Client.invokeDeviceMethod on an offline module fails like IoT Hub: 404 "Not found" carrying 404103', async () => {
    hub.methodHandler = () => Promise.reject(hubError(404, 404103, 'Timed out waiting for device to connect.'));
    const err = await oracle.client.invokeDeviceMethod('dev1', 'modA', { methodName: 'ping' }).then(
      () => undefined,
      (e: SdkHttpError) => e,
    );
    assert.ok(err);
    assert.equal(err.message, 'Not found');
    assert.equal(err.response?.statusCode, 404);
    assert.equal(innerErrorCode(err.responseBody), 404103);
  });

  it('Client.invokeDeviceMethod with no answer in time fails as GatewayTimeoutError (504101), without retries', async () => {
    hub.methodHandler = () => Promise.reject(hubError(504, 504101, 'Timed out waiting for the response from device.'));
    const err = await oracle.client.invokeDeviceMethod('dev1', 'modA', { methodName: 'ping' }).then(
      () => undefined,
      (e: SdkHttpError) => e,
    );
    assert.equal(err?.name, 'GatewayTimeoutError');
    assert.equal(err?.response?.statusCode, 504);
    assert.equal(hub.calls.invoke.length, 1);
  });

  it('a wrong policy key surfaces as UnauthorizedError', async () => {
    const wrong = serviceOracle(
      hub.serviceConnectionString.replace(
        /SharedAccessKey=.*$/,
        `SharedAccessKey=${Buffer.alloc(32, 9).toString('base64')}`,
      ),
      (server.address() as AddressInfo).port,
      tlsMaterial.caCert,
    );
    try {
      await assert.rejects(wrong.registry.getModuleTwin('dev1', 'modA'), { name: 'UnauthorizedError' });
    } finally {
      await wrong.close();
    }
  });
});
