// The CLI's configuration validator (src/hub/config.ts): defaults, accepted shapes, and the field each error names.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ConfigError,
  defaultHubConfig,
  hubOptionsFromConfig,
  loadHubConfig,
  parseHubConfig,
} from '../../src/hub/config';

const KEY = Buffer.alloc(32, 5).toString('base64');

describe('hub cli config', () => {
  it('defaults to local-device with sensor and processor, everything to $upstream', async () => {
    assert.deepEqual(await loadHubConfig(), defaultHubConfig());
    assert.deepEqual(parseHubConfig({}), defaultHubConfig());
    assert.deepEqual(defaultHubConfig().devices, [
      { deviceId: 'local-device', modules: [{ moduleId: 'sensor' }, { moduleId: 'processor' }] },
    ]);
    assert.deepEqual(Object.values(defaultHubConfig().routes), ['FROM /messages/* INTO $upstream']);
  });

  it('accepts a full configuration and maps it to LocalHub options', async () => {
    const config = parseHubConfig({
      hubName: 'my-hub',
      bindAddress: '0.0.0.0',
      port: 8883,
      plainMqttPort: 1883,
      workloadSocketPath: false,
      storeAndForwardTtlSeconds: 60,
      connectTimeoutSeconds: 10,
      observationLimit: 500,
      devices: [
        {
          deviceId: 'dev-1',
          auth: { primaryKey: KEY, secondaryKey: KEY },
          modules: [{ moduleId: '$weird.id', auth: { x509Thumbprints: ['ab'.repeat(20)] } }],
        },
      ],
      routes: { r: 'FROM /messages/modules/a/outputs/o WHERE temp > 20 INTO BrokeredEndpoint("/modules/b/inputs/i")' },
    });
    assert.equal(config.hostName, 'my-hub.azure-devices.net');
    const options = await hubOptionsFromConfig(config);
    assert.deepEqual(options, {
      hostName: 'my-hub.azure-devices.net',
      bindAddress: '0.0.0.0',
      port: 8883,
      plainMqttPort: 1883,
      workloadSocketPath: false,
      storeAndForwardTtlSeconds: 60,
      connectTimeoutSeconds: 10,
      observationLimit: 500,
      devices: [
        {
          deviceId: 'dev-1',
          auth: { primaryKey: KEY, secondaryKey: KEY },
          modules: [{ moduleId: '$weird.id', auth: { x509Thumbprints: ['ab'.repeat(20)] } }],
        },
      ],
      routes: { r: 'FROM /messages/modules/a/outputs/o WHERE temp > 20 INTO BrokeredEndpoint("/modules/b/inputs/i")' },
    });
  });

  const bad: Array<[string, unknown, string]> = [
    ['a non-object config', [], '(config)'],
    ['an unknown top-level field', { prot: 1 }, 'prot'],
    ['both hubName and hostName', { hubName: 'a', hostName: 'a.b' }, 'hubName'],
    ['a bad host name', { hostName: 'bad host' }, 'hostName'],
    ['a port out of range', { port: 70000 }, 'port'],
    ['a fractional port', { port: 1.5 }, 'port'],
    ['a negative TTL', { storeAndForwardTtlSeconds: -1 }, 'storeAndForwardTtlSeconds'],
    ['a connect timeout of 0', { connectTimeoutSeconds: 0 }, 'connectTimeoutSeconds'],
    ['a fractional observation limit', { observationLimit: 2.5 }, 'observationLimit'],
    ['devices not an array', { devices: {} }, 'devices'],
    ['a device without id', { devices: [{}] }, 'devices[0].deviceId'],
    ['a device id with a space', { devices: [{ deviceId: 'a b' }] }, 'devices[0].deviceId'],
    ['a duplicate device', { devices: [{ deviceId: 'a' }, { deviceId: 'a' }] }, 'devices[1].deviceId'],
    ['an unknown device field', { devices: [{ deviceId: 'a', keys: 1 }] }, 'devices[0].keys'],
    ['a short key', { devices: [{ deviceId: 'a', auth: { primaryKey: 'c2hvcnQ=' } }] }, 'devices[0].auth.primaryKey'],
    [
      'a bad thumbprint',
      { devices: [{ deviceId: 'a', modules: [{ moduleId: 'm', auth: { x509Thumbprints: ['xyz'] } }] }] },
      'devices[0].modules[0].auth.x509Thumbprints[0]',
    ],
    [
      'a duplicate module',
      { devices: [{ deviceId: 'a', modules: [{ moduleId: 'm' }, { moduleId: 'm' }] }] },
      'devices[0].modules[1].moduleId',
    ],
    ['a route that is not a string', { routes: { r: 3 } }, 'routes.r'],
    ['a route with an unknown endpoint', { routes: { r: 'FROM /messages/* INTO somewhere' } }, 'routes.r'],
    ['a tls section without files', { tls: { caCertFile: 'a' } }, 'tls.serverCertFile'],
  ];
  for (const [name, raw, field] of bad) {
    it(`rejects ${name}, naming ${field}`, () => {
      assert.throws(
        () => parseHubConfig(raw),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          assert.equal(err.field, field);
          assert.ok(err.message.startsWith(`${field}: `), err.message);
          return true;
        },
      );
    });
  }

  it('reports unreadable and non-JSON files as (file) errors, and unreadable TLS files by field', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hub-config-'));
    try {
      await assert.rejects(loadHubConfig(path.join(dir, 'missing.json')), { name: 'ConfigError', field: '(file)' });
      const broken = path.join(dir, 'broken.json');
      fs.writeFileSync(broken, '{ "port": ');
      await assert.rejects(loadHubConfig(broken), { name: 'ConfigError', field: '(file)' });
      const config = parseHubConfig({
        tls: { caCertFile: path.join(dir, 'ca.pem'), serverCertFile: 'x', serverKeyFile: 'y' },
      });
      await assert.rejects(hubOptionsFromConfig(config), { name: 'ConfigError', field: 'tls.caCertFile' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
