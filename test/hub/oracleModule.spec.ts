// Oracle: the official SDKs (azure-iot-device ModuleClient over MQTT, azure-iothub Registry/Client over REST) against
// the local hub — routing with every property, twins both ways, direct methods from the service and module to module.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Message, type ModuleClient } from 'azure-iot-device';
import { innerErrorCode, useOracleHub, type SdkHttpError } from './support';
import { until } from '../helpers/until';

/** azure-iot-device types the twin's reported properties as any; this is the part the tests call. */
type ReportedProperties = { update(patch: object, done: (err?: Error) => void): void };

const DEVICE = 'edge-oracle';

describe('oracle: official SDKs against the local hub (MQTT + REST)', function () {
  const oracle = useOracleHub({
    workloadSocketPath: false,
    devices: [
      { deviceId: DEVICE, modules: [{ moduleId: 'sender' }, { moduleId: 'receiver' }, { moduleId: 'offline' }] },
    ],
    routes: {
      toReceiver: 'FROM /messages/modules/sender/outputs/out INTO BrokeredEndpoint("/modules/receiver/inputs/in")',
      upstream: 'FROM /messages/modules/sender/outputs/up INTO $upstream',
    },
  });

  const connect = (moduleId: string): Promise<ModuleClient> => oracle.openModule(DEVICE, moduleId);
  const subscribed = (moduleId: string, topicPart: string): (() => boolean) =>
    oracle.subscribed(`${DEVICE}/${moduleId}`, topicPart);

  it('routes an output event to another module input with body and every property intact', async () => {
    const receiver = await connect('receiver');
    const arrived = once(receiver, 'inputMessage', { signal: AbortSignal.timeout(10_000) });
    await until(subscribed('receiver', '/inputs/'), 'the receiver input subscription');
    const sender = await connect('sender');
    const body = Buffer.from([0, 1, 2, 0xfe, 0xff]);
    const message = new Message(body);
    message.messageId = 'mid-1';
    message.correlationId = 'cid 1/&=';
    message.contentType = 'application/json';
    message.contentEncoding = 'utf-8';
    message.properties.add('temperature', '21.5');
    message.properties.add('odd key $/&', 'vä lue+/&=%#');
    await sender.sendOutputEvent('out', message);
    const [inputName, received] = (await arrived) as [string, Message];
    assert.equal(inputName, 'in');
    assert.deepEqual(received.data, body);
    assert.equal(received.messageId, 'mid-1');
    assert.equal(received.correlationId, 'cid 1/&=');
    assert.equal(received.contentType, 'application/json');
    assert.equal(received.contentEncoding, 'utf-8');
    assert.equal(received.properties.getValue('temperature'), '21.5');
    assert.equal(received.properties.getValue('odd key $/&'), 'vä lue+/&=%#');
    // edgeHub stamps the source identity and output name; the Node SDK shows them as application properties.
    assert.equal(received.properties.getValue('$.cdid'), DEVICE);
    assert.equal(received.properties.getValue('$.cmid'), 'sender');
    assert.equal(received.properties.getValue('$.on'), 'out');
  });

  it('routes an output event to $upstream with its properties', async () => {
    const sender = await connect('sender');
    const message = new Message('{"t":1}');
    message.messageId = 'up-1';
    message.properties.add('kind', 'telemetry');
    const up = await oracle.upstreamAfter(() => sender.sendOutputEvent('up', message));
    assert.equal(up.body.toString(), '{"t":1}');
    assert.equal(up.properties.kind, 'telemetry');
    assert.equal(up.systemProperties['$.mid'], 'up-1');
    assert.equal(up.outputName, 'up');
    assert.equal(up.moduleId, 'sender');
  });

  it('reads its twin and patches reported properties; the service sees them', async () => {
    const client = await connect('sender');
    const twin = await client.getTwin();
    assert.equal(typeof twin.properties.desired.$version, 'number');
    await new Promise<void>((resolve, reject) => {
      (twin.properties.reported as ReportedProperties).update({ firmware: '1.2.3', nested: { a: 1 } }, (err?: Error) =>
        err ? reject(err) : resolve(),
      );
    });
    const { responseBody: serviceTwin } = await oracle.service.registry.getModuleTwin(DEVICE, 'sender');
    assert.equal(serviceTwin.properties.reported.firmware, '1.2.3');
    assert.deepEqual(serviceTwin.properties.reported.nested, { a: 1 });
  });

  it('receives a desired patch made with azure-iothub Twin.update (tags kept by the service)', async () => {
    const client = await connect('sender');
    const twin = await client.getTwin();
    const patched = new Promise<Record<string, unknown>>((resolve) => {
      twin.on('properties.desired', (delta: Record<string, unknown>) => {
        if (delta.threshold === 42) resolve(delta);
      });
    });
    await until(subscribed('sender', 'properties/desired'), 'the desired-properties subscription');
    const { responseBody: serviceTwin } = await oracle.service.registry.getModuleTwin(DEVICE, 'sender');
    await serviceTwin.update({ tags: { site: 'lab' }, properties: { desired: { threshold: 42 } } });
    const delta = await patched;
    assert.equal(typeof delta.$version, 'number');
    const { responseBody: after } = await oracle.service.registry.getModuleTwin(DEVICE, 'sender');
    assert.equal(after.tags.site, 'lab');
    assert.equal(after.properties.desired.threshold, 42);
  });

  it('answers a direct method invoked with azure-iothub Client.invokeDeviceMethod', async () => {
    const receiver = await connect('receiver');
    receiver.onMethod('reboot', (request, response) => {
      if (!request || !response) return;
      response.send(200, { ok: true, got: request.payload as unknown }, () => undefined);
    });
    await until(subscribed('receiver', '$iothub/methods/POST'), 'the methods subscription');
    const result: unknown = (
      await oracle.service.client.invokeDeviceMethod(DEVICE, 'receiver', {
        methodName: 'reboot',
        payload: { delay: 3 },
        responseTimeoutInSeconds: 10,
      })
    ).result;
    assert.deepEqual(result, { status: 200, payload: { ok: true, got: { delay: 3 } } });
  });

  it('a method on an offline module fails in azure-iothub as against IoT Hub: 404 "Not found" with 404103', async () => {
    const err = await oracle.service.client.invokeDeviceMethod(DEVICE, 'offline', { methodName: 'x' }).then(
      () => undefined,
      (e: SdkHttpError) => e,
    );
    assert.ok(err, 'the call must fail');
    assert.equal(err.message, 'Not found');
    assert.equal(err.response?.statusCode, 404);
    assert.equal(innerErrorCode(err?.responseBody), 404103);
  });

  it('a method the module never sees fails in azure-iothub as GatewayTimeoutError (504101) after the response timeout', async function () {
    this.timeout(20_000);
    const receiver = await connect('receiver');
    receiver.onMethod('slow', (_request, response) => {
      response?.send(200, null, () => undefined);
    });
    await until(subscribed('receiver', '$iothub/methods/POST'), 'the methods subscription');
    oracle.hub.faults.withholdMethodRequests(true);
    try {
      // 5 s is the smallest response timeout IoT Hub accepts.
      const err = await oracle.service.client
        .invokeDeviceMethod(DEVICE, 'receiver', { methodName: 'slow', responseTimeoutInSeconds: 5 })
        .then(
          () => undefined,
          (e: SdkHttpError) => e,
        );
      assert.equal(err?.name, 'GatewayTimeoutError');
      assert.equal(err?.response?.statusCode, 504);
      assert.equal(innerErrorCode(err?.responseBody), 504101);
    } finally {
      oracle.hub.faults.clear();
    }
  });

  it('module to module: ModuleClient.invokeMethod goes through the hub HTTPS endpoint with the module token', async () => {
    const receiver = await connect('receiver');
    receiver.onMethod('hello', (request, response) => {
      if (!request || !response) return;
      response.send(201, { from: 'receiver', got: request.payload as unknown }, () => undefined);
    });
    await until(subscribed('receiver', '$iothub/methods/POST'), 'the methods subscription');
    // The SDK's method client dials GatewayHostName as an HTTPS host; the agent sends it to the hub's port.
    const sender = await oracle.openModule(DEVICE, 'sender', { http: { agent: oracle.agent() } });
    const result = await sender.invokeMethod(DEVICE, 'receiver', {
      methodName: 'hello',
      payload: 'hi',
      responseTimeoutInSeconds: 10,
      connectTimeoutInSeconds: 0,
    });
    assert.deepEqual(result, { status: 201, payload: { from: 'receiver', got: 'hi' } });
  });
});
