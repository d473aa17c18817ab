// The config node's saved settings and credentials, in one table: the editor's `defaults` and `credentials` (the build
// writes the table into the node's .html), the runtime's credential types, and the settings of a config node made
// outside the editor (the demo, converted flows) all come from it.
import { OPTION_RULES, type OptionName } from '../../src/index';
import type { ClientConfigDef, ConnectionKind } from './options';

/**
 * One saved setting: its default `value`; or `rule`, a numeric setting whose default and check are the option
 * table's; or `configType`, a link to a core config node; `requiredFor`: the connection kinds that need it.
 */
export type ClientConfigField =
  | { value: string | boolean; requiredFor?: readonly ConnectionKind[] }
  | { rule: OptionName }
  | { configType: 'tls-config' | 'http proxy' };

/** The config node's settings, in the dialog's order. */
export const CLIENT_CONFIG_FIELDS = {
  name: { value: '' },
  connectionType: { value: 'connectionString' },
  hostname: { value: '', requiredFor: ['x509'] },
  deviceId: { value: '', requiredFor: ['x509'] },
  moduleId: { value: '', requiredFor: ['x509', 'localHub'] },
  routes: { value: '' },
  gatewayHostname: { value: '' },
  transport: { value: 'mqtt' },
  tls: { configType: 'tls-config' },
  x509Source: { value: 'tls' },
  proxy: { configType: 'http proxy' },
  cipher: { value: '' },
  productInfo: { value: '' },
  sastokenTtl: { rule: 'sastokenTtl' },
  keepAlive: { rule: 'keepAlive' },
  autoConnect: { value: true },
  connectionRetry: { value: true },
  connectionRetryInterval: { rule: 'connectionRetryInterval' },
  ensureDesiredProperties: { value: true },
  operationTimeout: { rule: 'operationTimeout' },
} as const satisfies Record<string, ClientConfigField>;

// The runtime reads the settings through ClientConfigDef: a setting missing on either side does not compile.
type SettingName = keyof typeof CLIENT_CONFIG_FIELDS;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const settingsMatchConfigDef: Same<SettingName, keyof ClientConfigDef | 'name'> = true;
void settingsMatchConfigDef;

/** The config node's secrets (Node-RED credentials, never in the flow file): their Node-RED credential types. */
export const CLIENT_CREDENTIALS = {
  connectionString: 'password',
  sasToken: 'password',
  cert: 'text',
  key: 'password',
  passphrase: 'password',
} as const satisfies Record<string, 'password' | 'text'>;

/** A saved setting's value when nobody set it, as the editor saves it (numbers as text, no linked config node). */
function defaultOf(field: ClientConfigField): string | boolean {
  if ('rule' in field) return String(OPTION_RULES[field.rule].default);
  if ('configType' in field) return '';
  return field.value;
}

/**
 * Every setting of a new config node as the editor saves it: what the demo deploys and what a converted flow gets,
 * so a node made outside the editor opens with the dialog's own defaults.
 */
export function newClientConfig(): { type: 'iothub-module-client' } & Record<string, string | boolean> {
  const config: Record<string, string | boolean> = {};
  for (const [name, field] of Object.entries(CLIENT_CONFIG_FIELDS)) config[name] = defaultOf(field);
  return { type: 'iothub-module-client', ...config };
}

/** The runtime's `credentials` of the config node type (RED.nodes.registerType). */
export function clientCredentialTypes(): Record<string, { type: 'password' | 'text' }> {
  return Object.fromEntries(Object.entries(CLIENT_CREDENTIALS).map(([name, type]) => [name, { type }]));
}
