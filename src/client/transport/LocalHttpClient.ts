// A plain keep-alive HTTP client over undici, for the IoT Edge workload API (Unix socket or HTTP).
import { Client } from 'undici';
import { ConnectionFailedError, OperationTimeout } from '../errors';

/** A response of {@link LocalHttpClient}. */
export interface LocalHttpResponse {
  statusCode: number;
  body: string;
}

/**
 * A keep-alive HTTP client for one base URL, over TCP or a Unix socket (the IoT Edge workload API).
 * Relative paths are resolved against the base URL (which ends in `/`).
 */
export class LocalHttpClient {
  private readonly client: Client;
  private readonly base: URL;
  private readonly timeoutMs: number;

  constructor(args: { baseUrl: string; socketPath?: string; timeoutMs: number }) {
    this.base = new URL(args.baseUrl);
    this.client = new Client(this.base.origin, {
      ...(args.socketPath !== undefined ? { socketPath: args.socketPath } : {}),
      headersTimeout: args.timeoutMs,
      bodyTimeout: args.timeoutMs,
      connectTimeout: args.timeoutMs,
    });
    this.timeoutMs = args.timeoutMs;
  }

  /**
   * Sends one request and reads the whole body as text.
   * @throws ConnectionFailedError when the endpoint cannot be reached; OperationTimeout after `timeoutMs`.
   */
  async request(
    method: 'GET' | 'POST',
    relativePath: string,
    headers: Record<string, string>,
    body?: string,
  ): Promise<LocalHttpResponse> {
    const url = new URL(relativePath, this.base);
    const signal = AbortSignal.timeout(this.timeoutMs);
    try {
      const response = await this.client.request({
        method,
        path: url.pathname + url.search,
        headers,
        signal,
        ...(body !== undefined ? { body } : {}),
      });
      return { statusCode: response.statusCode, body: await response.body.text() };
    } catch (err) {
      if (signal.aborted || isUndiciTimeout(err))
        throw new OperationTimeout(`${method} ${url.pathname} did not complete within ${this.timeoutMs} ms`, {
          cause: err,
        });
      throw new ConnectionFailedError(
        `${method} ${url.pathname} failed: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }

  /** Closes the connection(s) at once, failing calls still in flight; idempotent. */
  async close(): Promise<void> {
    if (this.client.destroyed) return;
    await this.client.destroy();
  }
}

function isUndiciTimeout(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT';
}
