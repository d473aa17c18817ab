// CONNECT authentication for the local hub, as IoT Hub checks it: client id, username, SAS token or X.509 client
// certificate.
import { X509Certificate } from 'node:crypto';
import { thumbprints } from './certs';
import type { HubIdentity } from './hubTopics';
import type { RegistryEntry } from './Registry';
import { parseSasToken, verifySas } from './sas';

/** What a CONNECT carries that authentication looks at. */
export interface ConnectCredentials {
  clientId: string;
  username?: string;
  password?: Buffer | string;
  /** The TLS client certificate (DER), when the client sent one. */
  peerCertificate?: Buffer;
}

/** The outcome: accepted (with the token expiry, if any) or a CONNACK return code and a reason for the log. */
export type AuthResult =
  | { ok: true; identity: HubIdentity; x509: boolean; expiresAtMs?: number }
  | { ok: false; returnCode: 2 | 5; reason: string };

/**
 * Splits a client id into `{deviceId, moduleId}`: `d/m` for a module, `d` for a device.
 * @returns undefined when malformed (empty, an empty segment, more than one `/`).
 */
export function parseClientId(clientId: string): HubIdentity | undefined {
  if (typeof clientId !== 'string' || clientId.length === 0) return undefined;
  const parts = clientId.split('/');
  if (parts.length > 2 || parts.some((p) => p.length === 0)) return undefined;
  return parts.length === 2 ? { deviceId: parts[0]!, moduleId: parts[1]! } : { deviceId: parts[0]! };
}

function usernameOk(username: string | undefined, hostName: string, clientId: string): boolean {
  if (username === undefined) return false;
  const prefix = `${hostName}/${clientId}/?`;
  // Host names are case-insensitive; the client id part is compared exactly.
  if (username.length < prefix.length || username.slice(0, hostName.length).toLowerCase() !== hostName.toLowerCase())
    return false;
  if (username.slice(hostName.length, prefix.length) !== `/${clientId}/?`) return false;
  const query = username.slice(prefix.length);
  return query.split('&').some((pair) => /^api-version=[^&]+$/.test(pair));
}

function x509Matches(entry: RegistryEntry, clientId: string, der: Buffer, nowMs: number): boolean {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch {
    return false;
  }
  if (Date.parse(cert.validFrom) > nowMs || Date.parse(cert.validTo) < nowMs) return false;
  const tp = thumbprints(der);
  if (entry.x509Thumbprints.includes(tp.sha1) || entry.x509Thumbprints.includes(tp.sha256)) return true;
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
  if (cn !== clientId) return false;
  for (const pem of entry.x509CaCerts) {
    try {
      const ca = new X509Certificate(pem);
      if (cert.checkIssued(ca) && cert.verify(ca.publicKey)) return true;
    } catch {
      // A CA that cannot be read simply does not match.
    }
  }
  return false;
}

/**
 * Decides a CONNECT the way IoT Hub does.
 * @param lookup finds the registry entry of an identity.
 * @returns accepted with the identity, or refused with return code 2 (malformed client id) or 5 (anything else).
 */
export function authenticateConnect(
  creds: ConnectCredentials,
  hostName: string,
  lookup: (id: HubIdentity) => RegistryEntry | undefined,
  nowMs: number,
): AuthResult {
  const identity = parseClientId(creds.clientId);
  if (!identity) return { ok: false, returnCode: 2, reason: 'malformed client id' };
  if (!usernameOk(creds.username, hostName, creds.clientId)) {
    return { ok: false, returnCode: 5, reason: 'username must be {hostName}/{clientId}/?api-version=…' };
  }
  const entry = lookup(identity);
  if (!entry) return { ok: false, returnCode: 5, reason: 'unknown identity' };
  const password = creds.password === undefined ? undefined : Buffer.from(creds.password).toString('utf8');
  if (password !== undefined && password.length > 0) {
    const sas = parseSasToken(password);
    if (!sas) return { ok: false, returnCode: 5, reason: 'malformed SAS token' };
    const resource =
      `${hostName}/devices/${identity.deviceId}` +
      (identity.moduleId === undefined ? '' : `/modules/${identity.moduleId}`);
    const sr = sas.resource.toLowerCase();
    const own = resource.toLowerCase();
    // IoT Hub accepts a token whose resource is the identity's URI or a prefix of it.
    if (!(own === sr || (own.startsWith(sr) && (sr.endsWith('/') || own[sr.length] === '/')))) {
      return { ok: false, returnCode: 5, reason: `SAS sr ${sas.resource} does not cover ${resource}` };
    }
    if (sas.se * 1000 <= nowMs) return { ok: false, returnCode: 5, reason: 'SAS token expired' };
    if (!verifySas(sas, [entry.primaryKey, entry.secondaryKey].filter(Boolean), Math.floor(nowMs / 1000))) {
      return { ok: false, returnCode: 5, reason: 'SAS signature does not match' };
    }
    return { ok: true, identity, x509: false, expiresAtMs: sas.se * 1000 };
  }
  if (creds.peerCertificate && creds.peerCertificate.length > 0) {
    if (x509Matches(entry, creds.clientId, creds.peerCertificate, nowMs)) return { ok: true, identity, x509: true };
    return { ok: false, returnCode: 5, reason: 'client certificate does not match' };
  }
  return { ok: false, returnCode: 5, reason: 'no credentials' };
}
