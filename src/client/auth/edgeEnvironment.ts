// IoT Edge environment (create_from_edge_environment): reads the IOTEDGE_* / debug variables, the CA file of debug
// mode and the workload API's address (the API itself: WorkloadClient).
import fs from 'node:fs';
import { ClientError, ValueError } from '../errors';

/** What `createFromEdgeEnvironment` needs, from the container (`IOTEDGE_*`) or the debug (VS Code) variables. */
export type EdgeSettings =
  | {
      mode: 'container';
      hostname: string;
      gatewayHostname: string;
      deviceId: string;
      moduleId: string;
      generationId: string;
      workloadUri: string;
      apiVersion: string;
    }
  | { mode: 'debug'; connectionString: string; caCertificateFile: string };

const CONTAINER_VARIABLES = {
  hostname: 'IOTEDGE_IOTHUBHOSTNAME',
  deviceId: 'IOTEDGE_DEVICEID',
  moduleId: 'IOTEDGE_MODULEID',
  gatewayHostname: 'IOTEDGE_GATEWAYHOSTNAME',
  generationId: 'IOTEDGE_MODULEGENERATIONID',
  workloadUri: 'IOTEDGE_WORKLOADURI',
  apiVersion: 'IOTEDGE_APIVERSION',
} as const;

/**
 * Reads the IoT Edge settings like the Python SDK: container mode when all seven `IOTEDGE_*` variables are set
 * (`IOTEDGE_AUTHSCHEME` is not read), else debug mode when both `EdgeHubConnectionString` and
 * `EdgeModuleCACertificateFile` are set. An empty value counts as missing.
 * @throws ClientError (code `client-error`, "IoT Edge environment not configured correctly") when neither mode is
 *   complete (the Python SDK raises OSError, which JavaScript has not).
 * @throws ValueError when `IOTEDGE_WORKLOADURI` is not a `unix://` or `http(s)://` URI.
 */
export function readEdgeEnvironment(env: Record<string, string | undefined>): EdgeSettings {
  const value = (name: string): string | undefined => {
    const v = env[name];
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const container: Partial<Record<keyof typeof CONTAINER_VARIABLES, string>> = {};
  let complete = true;
  for (const [field, name] of Object.entries(CONTAINER_VARIABLES) as Array<
    [keyof typeof CONTAINER_VARIABLES, string]
  >) {
    const v = value(name);
    if (v === undefined) complete = false;
    else container[field] = v;
  }
  if (complete) {
    const settings = { mode: 'container' as const, ...(container as Required<typeof container>) };
    normalizeWorkloadUri(settings.workloadUri);
    return settings;
  }

  const connectionString = value('EdgeHubConnectionString');
  const caCertificateFile = value('EdgeModuleCACertificateFile');
  if (connectionString !== undefined && caCertificateFile !== undefined)
    return { mode: 'debug', connectionString, caCertificateFile };

  const missing = Object.values(CONTAINER_VARIABLES).filter((name) => value(name) === undefined);
  throw new ClientError('IoT Edge environment not configured correctly', {
    code: 'client-error',
    cause: new Error(
      `Missing ${missing.join(', ')} (container mode) or EdgeHubConnectionString / ` +
        `EdgeModuleCACertificateFile (debug mode)`,
    ),
  });
}

/**
 * Reads the debug-mode CA file (`EdgeModuleCACertificateFile`) as text, like the Python SDK.
 * @throws ValueError ("Invalid CA certificate file", cause kept) when the file cannot be read or holds no PEM
 * certificate.
 */
export function readEdgeCaCertificateFile(path: string): string {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (err) {
    throw new ValueError(`Invalid CA certificate file: ${path}`, { cause: err });
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----'))
    throw new ValueError(`Invalid CA certificate file: ${path} holds no PEM certificate`);
  return text;
}

/** Where the workload API lives: a Unix socket (base URL `http://localhost/`) or an HTTP(S) base URL ending in `/`. */
export interface WorkloadEndpoint {
  socketPath?: string;
  baseUrl: string;
}

/**
 * Normalises `IOTEDGE_WORKLOADURI` like the Python SDK: `unix://{path}` → HTTP over that Unix socket (a trailing `/`
 * of the path dropped); anything else is a base URL, given a trailing `/`.
 * @throws ValueError when the URI is neither `unix://…` nor a valid `http(s)://` URL.
 */
export function normalizeWorkloadUri(uri: string): WorkloadEndpoint {
  if (uri.startsWith('unix://')) {
    let socketPath = uri.slice('unix://'.length);
    while (socketPath.length > 1 && socketPath.endsWith('/')) socketPath = socketPath.slice(0, -1);
    if (socketPath === '' || socketPath === '/')
      throw new ValueError(`Invalid IOTEDGE_WORKLOADURI "${uri}": no socket path`);
    return { socketPath, baseUrl: 'http://localhost/' };
  }
  let url: URL;
  try {
    url = new URL(uri);
  } catch (err) {
    throw new ValueError(`Invalid IOTEDGE_WORKLOADURI "${uri}"`, { cause: err });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ValueError(`Invalid IOTEDGE_WORKLOADURI "${uri}": use unix:// or http://`);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return { baseUrl: url.href };
}

/**
 * Whether `env` describes an IoT Edge module (all seven `IOTEDGE_*` container variables, or the debug pair), the
 * same test `createFromEdgeEnvironment` applies. Never throws.
 */
export function hasEdgeEnvironment(env: Record<string, string | undefined>): boolean {
  try {
    readEdgeEnvironment(env);
    return true;
  } catch {
    return false;
  }
}
