// The IoT Edge workload API as a module calls it (create_from_edge_environment): trust bundle and signing.
import { ClientError } from '../errors';
import { LocalHttpClient } from '../transport/LocalHttpClient';
import { quote, quotePlus } from '../transport/properties';
import { normalizeWorkloadUri } from './edgeEnvironment';

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
