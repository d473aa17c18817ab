// IoT Edge environment (create_from_edge_environment): reads the IOTEDGE_* / debug variables and talks to the workload
// API (trust bundle, sign).
import fs from 'node:fs';
import { ClientError, ValueError } from '../errors';
import { LocalHttpClient } from '../transport/http';
import { quote, quotePlus } from '../transport/properties';

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

/** Default time limit for one workload API call. */
const WORKLOAD_TIMEOUT_MS = 30_000;

/**
 * Client of the IoT Edge workload API (aziot-edged's `/trust-bundle` and `/sign`): the trust bundle (CA of edgeHub) and
 * HMAC signing with the module key. Keeps one keep-alive connection; call {@link WorkloadClient.close} when done.
 */
export class WorkloadClient {
  private readonly http: LocalHttpClient;
  private readonly apiVersion: string;
  private readonly moduleId: string;
  private readonly generationId: string;
  private readonly userAgent: string;

  /**
   * @param args.timeoutMs time limit of one call (ours; default 30 000).
   * @throws ValueError when `workloadUri` is invalid (see {@link normalizeWorkloadUri}).
   */
  constructor(args: {
    workloadUri: string;
    apiVersion: string;
    moduleId: string;
    generationId: string;
    userAgent: string;
    timeoutMs?: number;
  }) {
    const endpoint = normalizeWorkloadUri(args.workloadUri);
    this.http = new LocalHttpClient({ ...endpoint, timeoutMs: args.timeoutMs ?? WORKLOAD_TIMEOUT_MS });
    this.apiVersion = args.apiVersion;
    this.moduleId = args.moduleId;
    this.generationId = args.generationId;
    this.userAgent = args.userAgent;
  }

  /**
   * `GET trust-bundle?api-version=…` → the PEM of the CA edgeHub's server certificate chains to.
   * @throws ClientError ("Unexpected failure in IoTEdge", cause kept) on a non-2xx status, non-JSON body or missing
   * `certificate`.
   * @throws ConnectionFailedError when the workload API cannot be reached; OperationTimeout when it does not answer.
   */
  async getTrustBundle(): Promise<string> {
    const response = await this.http.request('GET', `trust-bundle?api-version=${encodeURIComponent(this.apiVersion)}`, {
      // The Python SDK (edge_hsm.py) encodes the trust-bundle User-Agent with quote_plus and the sign one with quote.
      'user-agent': quotePlus(this.userAgent),
    });
    return this.field(response, 'certificate', 'trust-bundle');
  }

  /**
   * `POST modules/{moduleId}/genid/{generationId}/sign?api-version=…` with the module's primary key.
   * @returns the base64 HMAC-SHA256 of the UTF-8 `stringToSign` (not yet percent-encoded).
   * @throws ClientError ("Unexpected failure in IoTEdge", cause kept) on a non-2xx status, non-JSON body or missing
   * `digest`.
   * @throws ConnectionFailedError when the workload API cannot be reached; OperationTimeout when it does not answer.
   */
  async sign(stringToSign: string): Promise<string> {
    // The Python SDK encodes only the module id; generation ids are alphanumeric, so encoding them too changes nothing
    // for real ones and keeps a stray `/` from escaping the path.
    const path = `modules/${quote(this.moduleId)}/genid/${quote(this.generationId)}/sign?api-version=${encodeURIComponent(this.apiVersion)}`;
    const body = JSON.stringify({
      keyId: 'primary',
      algo: 'HMACSHA256',
      data: Buffer.from(stringToSign, 'utf8').toString('base64'),
    });
    const response = await this.http.request(
      'POST',
      path,
      { 'user-agent': quote(this.userAgent), 'content-type': 'application/json' },
      body,
    );
    return this.field(response, 'digest', 'sign');
  }

  /** Closes the connection to the workload API; idempotent. */
  async close(): Promise<void> {
    await this.http.close();
  }

  private field(response: { statusCode: number; body: string }, name: string, operation: string): string {
    const fail = (detail: string): ClientError =>
      new ClientError('Unexpected failure in IoTEdge', {
        code: 'client-error',
        statusCode: response.statusCode,
        cause: new Error(`${operation}: ${detail}`),
      });
    if (response.statusCode < 200 || response.statusCode >= 300)
      throw fail(`HTTP ${response.statusCode} ${response.body.slice(0, 500)}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(response.body);
    } catch {
      throw fail('response is not JSON');
    }
    const value = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>)[name] : undefined;
    if (typeof value !== 'string' || value === '') throw fail(`response has no "${name}"`);
    return value;
  }
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
