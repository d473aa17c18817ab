// Oracle: azure-iot-device keeps working against the local hub across SAS token renewals (short lifetimes) and across a
// hub stop + restart, the way it does against IoT Hub / edgeHub.
import assert from 'node:assert/strict';
import { Message } from 'azure-iot-device';
import { parseSasToken } from '../../src/hub/sas';
import { useOracleHub } from './support';
import { until } from '../helpers/until';

const DEVICE = 'edge-resilience';

describe('oracle: token renewal and hub restart with azure-iot-device', function () {
  const oracle = useOracleHub({
    workloadSocketPath: false,
    devices: [{ deviceId: DEVICE, modules: [{ moduleId: 'renewing' }, { moduleId: 'survivor' }] }],
  });
  const accepted = (clientId: string): Array<{ password?: string }> => oracle.accepted(clientId);

  it('renews a 4 s SAS token (2 s margin) by reconnecting, and keeps working after the first token expired', async () => {
    const { hub } = oracle;
    const clientId = `${DEVICE}/renewing`;
    const client = await oracle.openModule(DEVICE, 'renewing', {
      tokenRenewal: { tokenValidTimeInSeconds: 4, tokenRenewalMarginInSeconds: 2 },
    });
    const first = parseSasToken(accepted(clientId)[0]!.password!)!;
    assert.ok(first.se - Date.now() / 1000 <= 5, 'the first token lives about 4 s');
    // Two renewals later the first token has expired; the client must be connected with a newer one.
    await until(
      () => accepted(clientId).length >= 3 && Date.now() / 1000 > first.se + 0.5 && hub.isConnected(clientId),
      'two renewals past the first expiry',
      15_000,
    );
    const latest = parseSasToken(accepted(clientId).at(-1)!.password!)!;
    assert.ok(latest.se > first.se, 'a newer token is in use');
    const up = await oracle.upstreamAfter(() => client.sendOutputEvent('out', new Message('after renewal')));
    assert.equal(up.body.toString(), 'after renewal');
  });

  it('reconnects after hub.stop() + hub.restart() and answers methods again', async () => {
    const { hub } = oracle;
    const clientId = `${DEVICE}/survivor`;
    const client = await oracle.openModule(DEVICE, 'survivor');
    client.onMethod('ping', (_request, response) => {
      response?.send(200, 'pong', () => undefined);
    });
    const methodSubscriptions = (): number =>
      hub.observed.subscriptions.filter(
        (s) => s.clientId === clientId && s.topic.startsWith('$iothub/methods/POST') && s.granted !== 128,
      ).length;
    await until(() => methodSubscriptions() === 1, 'the methods subscription');
    const connectsBefore = accepted(clientId).length;
    await hub.stop();
    assert.equal(hub.isConnected(clientId), false);
    await hub.restart();
    // The SDK re-enables methods through its retry policy after a disconnect: a new CONNECT and a new SUBSCRIBE.
    await until(
      () => accepted(clientId).length > connectsBefore && methodSubscriptions() >= 2,
      'the reconnect and re-subscription',
      20_000,
    );
    const result: unknown = (
      await oracle.service.client.invokeDeviceMethod(DEVICE, 'survivor', {
        methodName: 'ping',
        responseTimeoutInSeconds: 10,
      })
    ).result;
    assert.deepEqual(result, { status: 200, payload: 'pong' });
  });
});
