// A small client for the service REST API of a local hub in another process: service SAS token, JSON requests, and
// provisioning a module identity (the "local hub" connection kind joins such a hub; the editor panel reads it).
import crypto from 'node:crypto';
import https from 'node:https';
import type { HubDiscovery } from './hubDiscovery';

/** Parses `HostName=…;SharedAccessKeyName=…;SharedAccessKey=…`. */
function parseServiceConnectionString(cs: string): { hostName: string; keyName: string; key: string } {
  const parts = new Map(
    cs.split(';').map((p) => {
      const i = p.indexOf('=');
      return [p.slice(0, i), p.slice(i + 1)] as [string, string];
    }),
  );
  return {
    hostName: parts.get('HostName') ?? '',
    keyName: parts.get('SharedAccessKeyName') ?? '',
    key: parts.get('SharedAccessKey') ?? '',
  };
}

/**
 * A service SAS token (IoT Hub: HMAC-SHA256 over `<url-encoded resource>\n<expiry>` with the policy key). @throws never
 */
export function serviceToken(serviceConnectionString: string, ttlSeconds = 3600, now = Date.now()): string {
  const { hostName, keyName, key } = parseServiceConnectionString(serviceConnectionString);
  const sr = encodeURIComponent(hostName);
  const se = Math.floor(now / 1000) + ttlSeconds;
  const sig = crypto.createHmac('sha256', Buffer.from(key, 'base64')).update(`${sr}\n${se}`).digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}&skn=${encodeURIComponent(keyName)}`;
}

/** A small HTTPS JSON call to a hub's service REST API. Rejects on a socket error or after 10 s without an answer. */
export function hubRequest(
  d: HubDiscovery,
  ca: string,
  method: string,
  pathname: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port: d.port,
        method,
        path: `${pathname}${pathname.includes('?') ? '&' : '?'}api-version=2021-04-12`,
        ca,
        headers: {
          authorization: serviceToken(d.serviceConnectionString),
          'content-type': 'application/json',
          ...(data ? { 'content-length': String(data.length) } : {}),
        },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // Not JSON: keep the text.
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`local hub on port ${d.port} did not answer`)));
    req.on('error', reject);
    req.end(data);
  });
}

const seg = (s: string): string => encodeURIComponent(s);

/**
 * Provisions device and module through the hub's registry REST API; returns the module's key and generation id.
 * Rejects when the hub refuses either identity or cannot be reached (the socket error, e.g. ECONNREFUSED).
 */
export async function provisionRemote(
  d: HubDiscovery,
  ca: string,
  deviceId: string,
  moduleId: string,
): Promise<{ key: string; generationId: string }> {
  const dev = await hubRequest(d, ca, 'GET', `/devices/${seg(deviceId)}`);
  if (dev.status === 404) {
    const put = await hubRequest(d, ca, 'PUT', `/devices/${seg(deviceId)}`, { deviceId });
    if (put.status >= 300 && put.status !== 409)
      throw new Error(`local hub refused device ${deviceId} (HTTP ${put.status})`);
  } else if (dev.status >= 300) {
    throw new Error(`local hub on port ${d.port} answered HTTP ${dev.status}`);
  }
  let mod = await hubRequest(d, ca, 'GET', `/devices/${seg(deviceId)}/modules/${seg(moduleId)}`);
  if (mod.status === 404)
    mod = await hubRequest(d, ca, 'PUT', `/devices/${seg(deviceId)}/modules/${seg(moduleId)}`, { deviceId, moduleId });
  if (mod.status >= 300) throw new Error(`local hub refused module ${deviceId}/${moduleId} (HTTP ${mod.status})`);
  const body = mod.body as
    { generationId?: string; authentication?: { symmetricKey?: { primaryKey?: string } } } | undefined;
  const key = body?.authentication?.symmetricKey?.primaryKey;
  if (!key) throw new Error(`local hub gave no key for ${deviceId}/${moduleId}`);
  return { key, generationId: body?.generationId ?? '' };
}
