// The resources of the local hub's HTTPS API: decoding a request path into twin, method or registry targets.
import { HubError } from '../hubErrors';

/** A matched resource with its (decoded) ids. */
export interface Route {
  kind: 'twin' | 'methods' | 'devices' | 'device' | 'modules' | 'module';
  deviceId?: string;
  moduleId?: string;
}

/** A route that names a device (every kind but `devices`). */
export type IdentityRoute = Route & { deviceId: string };

/**
 * Splits and decodes the path, then matches it against the supported resources.
 * @returns the resource, or undefined when the path names none.
 * @throws HubError 400 when a segment is not correctly percent-encoded.
 */
export function matchRoute(pathname: string): Route | undefined {
  const raw = pathname.split('/').slice(1);
  if (raw.length > 1 && raw[raw.length - 1] === '') raw.pop();
  let seg: string[];
  try {
    seg = raw.map((s) => decodeURIComponent(s));
  } catch {
    throw new HubError('ArgumentInvalid', 'The request path is not correctly percent-encoded.');
  }
  const [a, d, b, m, c] = seg;
  const n = seg.length;
  if (a === 'twins' && n === 2) return { kind: 'twin', deviceId: d! };
  if (a === 'twins' && n === 3 && b === 'methods') return { kind: 'methods', deviceId: d! };
  if (a === 'twins' && n === 4 && b === 'modules') return { kind: 'twin', deviceId: d!, moduleId: m! };
  if (a === 'twins' && n === 5 && b === 'modules' && c === 'methods')
    return { kind: 'methods', deviceId: d!, moduleId: m! };
  if (a === 'devices' && n === 1) return { kind: 'devices' };
  if (a === 'devices' && n === 2) return { kind: 'device', deviceId: d! };
  if (a === 'devices' && n === 3 && b === 'modules') return { kind: 'modules', deviceId: d! };
  if (a === 'devices' && n === 4 && b === 'modules') return { kind: 'module', deviceId: d!, moduleId: m! };
  return undefined;
}
