// The editor definitions in nodes/*.html, run against a stub RED: palette category, credentials as passwords,
// and `validate` functions that accept good values and return catalog text (never a raw key) for bad ones.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';

const root = path.resolve(__dirname, '..', '..');
const MODULE = 'node-red-contrib-azure-iot-module';

type Validate = (this: Record<string, unknown>, value: unknown) => true | string;
interface EditorDef {
  category: string;
  defaults: Record<string, { value?: unknown; type?: string; validate?: Validate; required?: boolean }>;
  credentials?: Record<string, { type: string }>;
  icon?: string;
  paletteLabel?: () => string;
  label: (this: Record<string, unknown>) => string;
}

function catalogText(key: string): string {
  const match = /^([^:]+)\/([^:/]+):(.+)$/.exec(key);
  if (!match || match[1] !== MODULE) return key;
  let value: unknown = JSON.parse(fs.readFileSync(path.join(root, 'locales', 'en-US', `${match[2]}.json`), 'utf8'));
  for (const part of match[3]!.split('.')) value = (value as Record<string, unknown> | undefined)?.[part];
  return typeof value === 'string' ? value : key;
}

function loadDefinitions(): Map<string, EditorDef> {
  const defs = new Map<string, EditorDef>();
  // plugins: the editor plugin (iothub-local-hub-panel.html) registers a sidebar tab, not a node type.
  const RED = { nodes: { registerType: (type: string, def: EditorDef) => defs.set(type, def) }, plugins: { registerPlugin: () => undefined }, _: catalogText };
  for (const file of fs.readdirSync(path.join(root, 'nodes')).filter((f) => f.endsWith('.html'))) {
    const html = fs.readFileSync(path.join(root, 'nodes', file), 'utf8');
    for (const m of html.matchAll(/<script type="text\/javascript">([\s\S]*?)<\/script>/g)) vm.runInNewContext(m[1]!, { RED, $: () => undefined });
  }
  return defs;
}

/** Runs a property's validate with the node's defaults as `this`, overridden by `node`. */
function check(def: EditorDef, prop: string, value: unknown, node: Record<string, unknown> = {}): true | string {
  const self: Record<string, unknown> = {};
  for (const [k, d] of Object.entries(def.defaults)) self[k] = d.value;
  Object.assign(self, node, { [prop]: value });
  return def.defaults[prop]!.validate!.call(self, value);
}

describe('node editor definitions', () => {
  const defs = loadDefinitions();

  it('define the seven node types', () => {
    assert.equal(defs.size, 7);
  });

  it('flow nodes are in the "Azure IoT Edge" category with an icon; labels resolve from the catalog', () => {
    for (const [type, def] of defs) {
      if (type === 'iothub-module-client') {
        assert.equal(def.category, 'config');
        continue;
      }
      assert.equal(def.category, 'Azure IoT Edge', type);
      assert.equal(def.icon, `${type}.svg`);
      const label = def.paletteLabel!();
      assert.ok(!label.includes(':'), `${type} palette label ${label}`);
      const self: Record<string, unknown> = {};
      for (const [k, d] of Object.entries(def.defaults)) self[k] = d.value;
      assert.ok(!def.label.call(self).includes(MODULE), `${type} label`);
    }
  });

  it('every default value is valid, except required targets that have no sensible default', () => {
    for (const [type, def] of defs) {
      for (const [prop, d] of Object.entries(def.defaults)) {
        if (!d.validate) continue;
        const result = check(def, prop, d.value);
        if (type === 'iothub-module-invoke' && (prop === 'deviceId' || prop === 'methodName')) assert.equal(typeof result, 'string');
        else assert.equal(result, true, `${type}.${prop}`);
      }
    }
  });

  it('secrets are credentials of type password', () => {
    const creds = defs.get('iothub-module-client')!.credentials!;
    for (const secret of ['connectionString', 'sasToken', 'key', 'passphrase']) assert.equal(creds[secret]!.type, 'password', secret);
    for (const secret of ['connectionString', 'sasToken', 'key', 'passphrase']) assert.equal(defs.get('iothub-module-client')!.defaults[secret], undefined);
  });

  const invalid: Array<[string, string, unknown, Record<string, unknown>, string]> = [
    ['iothub-module-client', 'keepAlive', '0', {}, 'Keep-alive must be 1 to 1740 seconds'],
    ['iothub-module-client', 'keepAlive', '1741', {}, 'Keep-alive must be 1 to 1740 seconds'],
    ['iothub-module-client', 'operationTimeout', 'soon', {}, 'Enter a positive number of seconds'],
    ['iothub-module-client', 'hostname', '', { connectionType: 'x509' }, 'The IoT Hub host is required for X.509'],
    ['iothub-module-client', 'moduleId', ' ', { connectionType: 'localHub' }, 'The module id is required'],
    ['iothub-module-output', 'queueSize', '-1', {}, 'The queue size must be a whole number, 0 or more'],
    ['iothub-module-output', 'queueTimeout', '0', {}, 'The queue wait must be a whole number of seconds, 1 or more'],
    ['iothub-module-output', 'queueMegabytes', '0', {}, 'The queue limit must be a number of megabytes above 0'],
    ['iothub-module-output', 'queueMegabytes', 'lots', {}, 'The queue limit must be a number of megabytes above 0'],
    ['iothub-module-method-request', 'timeout', '300', {}, 'Enter 1 to 299 seconds (below the hub\'s own limit)'],
    ['iothub-module-method-request', 'timeoutStatus', 'ok', {}, 'Enter an integer status code'],
    ['iothub-module-method-response', 'statusCode', '2000', {}, 'Enter an integer status code'],
    ['iothub-module-invoke', 'deviceId', ' ', {}, 'The target device id is required'],
    ['iothub-module-invoke', 'responseTimeout', '301', {}, 'Enter whole seconds between 0 and 300'],
  ];
  for (const [type, prop, value, node, text] of invalid) {
    it(`${type}.${prop} = ${JSON.stringify(value)} → "${text}"`, () => {
      assert.equal(check(defs.get(type)!, prop, value, node), text);
    });
  }

  it('valid values pass, including values that come from msg', () => {
    assert.equal(check(defs.get('iothub-module-client')!, 'hostname', '', { connectionType: 'connectionString' }), true);
    assert.equal(check(defs.get('iothub-module-invoke')!, 'deviceId', 'target', { deviceIdType: 'msg' }), true);
    assert.equal(check(defs.get('iothub-module-invoke')!, 'methodName', 'reboot', {}), true);
    assert.equal(check(defs.get('iothub-module-output')!, 'queueSize', '0'), true);
  });
});
