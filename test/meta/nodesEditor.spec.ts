// The editor definitions in the built nodes/*.html (the build writes the option table into them), run against a stub
// RED: palette category, credentials as passwords, `validate` functions that accept good values and return catalog
// text (never a raw key) for bad ones, and numeric settings validated by exactly the option table's rules.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { CLIENT_CONFIG_FIELDS, CLIENT_CREDENTIALS, newClientConfig } from '../../nodes/shared/clientConfigFields';
import { QUEUE_DEFAULTS } from '../../nodes/shared/SendQueue';
import { OPTION_RULES, readOptionSetting, type OptionName, type OptionRule } from '../../src/client/options';

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

/** RED._ as the editor has it: catalog text with `__name__` placeholders filled in. */
function catalogText(key: string, params: Record<string, unknown> = {}): string {
  const match = /^([^:]+)\/([^:/]+):(.+)$/.exec(key);
  if (!match || match[1] !== MODULE) return key;
  let value: unknown = JSON.parse(fs.readFileSync(path.join(root, 'locales', 'en-US', `${match[2]}.json`), 'utf8'));
  for (const part of match[3]!.split('.')) value = (value as Record<string, unknown> | undefined)?.[part];
  return typeof value === 'string'
    ? value.replace(/__([a-zA-Z]+)__/g, (_all, name: string) => String(params[name]))
    : key;
}

function loadDefinitions(): Map<string, EditorDef> {
  const defs = new Map<string, EditorDef>();
  // plugins: the editor plugin (iothub-local-hub-panel.html) registers a sidebar tab, not a node type.
  const RED = {
    nodes: { registerType: (type: string, def: EditorDef) => defs.set(type, def) },
    plugins: { registerPlugin: () => undefined },
    _: catalogText,
  };
  const built = path.join(root, 'dist', 'nodes');
  for (const file of fs.readdirSync(built).filter((f) => f.endsWith('.html'))) {
    const html = fs.readFileSync(path.join(built, file), 'utf8');
    for (const m of html.matchAll(/<script type="text\/javascript">([\s\S]*?)<\/script>/g))
      vm.runInNewContext(m[1]!, { RED, $: () => undefined });
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
        if (type === 'iothub-module-invoke' && (prop === 'deviceId' || prop === 'methodName'))
          assert.equal(typeof result, 'string');
        else assert.equal(result, true, `${type}.${prop}`);
      }
    }
  });

  it('secrets are credentials of type password', () => {
    const creds = defs.get('iothub-module-client')!.credentials!;
    for (const secret of ['connectionString', 'sasToken', 'key', 'passphrase'])
      assert.equal(creds[secret]!.type, 'password', secret);
    for (const secret of ['connectionString', 'sasToken', 'key', 'passphrase'])
      assert.equal(defs.get('iothub-module-client')!.defaults[secret], undefined);
  });

  it("the config node's settings and secrets are the table's, and a node made outside the editor gets its defaults", () => {
    const def = defs.get('iothub-module-client')!;
    assert.deepEqual(Object.keys(def.defaults), Object.keys(CLIENT_CONFIG_FIELDS));
    assert.deepEqual(
      Object.fromEntries(Object.entries(def.credentials!).map(([name, c]) => [name, c.type])),
      CLIENT_CREDENTIALS,
    );
    const made = newClientConfig();
    for (const [name, field] of Object.entries(def.defaults)) {
      if (field.type) assert.equal(made[name], '', `${name}: no ${field.type} linked`);
      else assert.equal(made[name], field.value, name);
    }
    assert.equal(def.defaults.tls!.type, 'tls-config');
    assert.equal(def.defaults.proxy!.type, 'http proxy');
    assert.equal(check(def, 'moduleId', '', { connectionType: 'localHub' }), 'The module id is required');
  });

  const invalid: Array<[string, string, unknown, Record<string, unknown>, string]> = [
    ['iothub-module-client', 'keepAlive', '0', {}, 'Enter whole seconds from 1 to 1740'],
    ['iothub-module-client', 'keepAlive', '1741', {}, 'Enter whole seconds from 1 to 1740'],
    ['iothub-module-client', 'operationTimeout', 'soon', {}, 'Enter a number of seconds above 0, at most 2147483'],
    ['iothub-module-client', 'sastokenTtl', '239', {}, 'Enter whole seconds, 240 or more'],
    // Both passed this dialog once: 0.5 then failed the config node, 2.5 ran as 2 s in the library.
    ['iothub-module-client', 'connectionRetryInterval', '0.5', {}, 'Enter whole seconds from 1 to 2147483'],
    ['iothub-module-client', 'connectionRetryInterval', '2.5', {}, 'Enter whole seconds from 1 to 2147483'],
    ['iothub-module-client', 'hostname', '', { connectionType: 'x509' }, 'The IoT Hub host is required for X.509'],
    ['iothub-module-client', 'moduleId', ' ', { connectionType: 'localHub' }, 'The module id is required'],
    ['iothub-module-output', 'queueSize', '-1', {}, 'The queue size must be a whole number, 0 or more'],
    ['iothub-module-output', 'queueTimeout', '0', {}, 'The queue wait must be a whole number of seconds, 1 or more'],
    ['iothub-module-output', 'queueMegabytes', '0', {}, 'The queue limit must be a number of megabytes above 0'],
    ['iothub-module-output', 'queueMegabytes', 'lots', {}, 'The queue limit must be a number of megabytes above 0'],
    ['iothub-module-method-request', 'timeout', '300', {}, "Enter 1 to 299 seconds (below the hub's own limit)"],
    ['iothub-module-method-request', 'timeoutStatus', 'ok', {}, 'Enter an integer status code'],
    ['iothub-module-method-response', 'statusCode', '2000', {}, 'Enter an integer status code'],
    ['iothub-module-invoke', 'deviceId', ' ', {}, 'The target device id is required'],
    ['iothub-module-invoke', 'responseTimeout', '301', {}, 'Enter whole seconds from 5 to 300'],
    // IoT Hub refuses a response timeout below 5 s (400004).
    ['iothub-module-invoke', 'responseTimeout', '0', {}, 'Enter whole seconds from 5 to 300'],
    ['iothub-module-invoke', 'connectTimeout', '301', {}, 'Enter whole seconds from 0 to 300'],
  ];
  for (const [type, prop, value, node, text] of invalid) {
    it(`${type}.${prop} = ${JSON.stringify(value)} → "${text}"`, () => {
      assert.equal(check(defs.get(type)!, prop, value, node), text);
    });
  }

  it('valid values pass, including values that come from msg', () => {
    assert.equal(
      check(defs.get('iothub-module-client')!, 'hostname', '', { connectionType: 'connectionString' }),
      true,
    );
    assert.equal(check(defs.get('iothub-module-invoke')!, 'deviceId', 'target', { deviceIdType: 'msg' }), true);
    assert.equal(check(defs.get('iothub-module-invoke')!, 'methodName', 'reboot', {}), true);
    assert.equal(check(defs.get('iothub-module-output')!, 'queueSize', '0'), true);
  });

  it('a new output node gets the queue limits the runtime uses when the field is empty', () => {
    const d = defs.get('iothub-module-output')!.defaults;
    assert.deepEqual(
      [d.queueSize!.value, d.queueMegabytes!.value, d.queueTimeout!.value],
      [String(QUEUE_DEFAULTS.size), String(QUEUE_DEFAULTS.megabytes), String(QUEUE_DEFAULTS.timeoutSeconds)],
    );
  });

  it('the README names each output queue setting with its default', () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8').replace(/\s+/g, ' ');
    const named: Array<[string, string]> = [
      ['queueSize', `default ${QUEUE_DEFAULTS.size.toLocaleString('en-US')} messages`],
      ['queueMegabytes', `default ${QUEUE_DEFAULTS.megabytes} MB`],
      ['queueTimeout', `default ${QUEUE_DEFAULTS.timeoutSeconds} s`],
    ];
    for (const [field, text] of named) assert.ok(readme.includes(`\`${field}\`, ${text}`), `README: ${field}, ${text}`);
  });

  describe('numeric settings follow the option table (src/client/options.ts)', () => {
    const fields: Array<[string, string, OptionName]> = [
      ['iothub-module-client', 'sastokenTtl', 'sastokenTtl'],
      ['iothub-module-client', 'keepAlive', 'keepAlive'],
      ['iothub-module-client', 'connectionRetryInterval', 'connectionRetryInterval'],
      ['iothub-module-client', 'operationTimeout', 'operationTimeout'],
      ['iothub-module-invoke', 'connectTimeout', 'connectTimeoutInSeconds'],
      ['iothub-module-invoke', 'responseTimeout', 'responseTimeoutInSeconds'],
    ];
    /** Values around every edge of a rule, as the editor stores them (text). */
    function probes(rule: OptionRule): string[] {
      const edges = [rule.min, rule.max ?? rule.min + 1e6, rule.default];
      const values = ['', ' ', 'soon', '-1', '1e2', '0x10', '.5', '0.5', '2.5', '1.', ' 7 '];
      for (const edge of edges) for (const d of [-1, -0.5, 0, 0.5, 1]) values.push(String(edge + d));
      return values;
    }
    for (const [type, prop, name] of fields) {
      it(`${type}.${prop}: default and every probe as ${name} in the table`, () => {
        const def = defs.get(type)!;
        const rule: OptionRule = OPTION_RULES[name];
        assert.equal(def.defaults[prop]!.value, String(rule.default));
        for (const value of probes(rule)) {
          const accepted = readOptionSetting(rule, value) !== null;
          const result = check(def, prop, value);
          assert.equal(result === true, accepted, `${prop} = ${JSON.stringify(value)}: editor says ${String(result)}`);
          if (!accepted)
            assert.ok(typeof result === 'string' && !result.includes('__') && !result.includes(MODULE), String(result));
        }
      });
    }
  });
});
