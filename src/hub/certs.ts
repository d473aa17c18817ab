// TLS material for the local hub: a CA and a server certificate made at start (or loaded), client-certificate helpers.
import { X509Certificate, createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';

/** The hub's TLS identity: the CA clients trust and the server certificate it signed. */
export interface HubTlsMaterial {
  caCert: string;
  /** Present when the hub generated the CA itself. */
  caKey?: string;
  serverCert: string;
  serverKey: string;
}

/** A certificate with its private key (PEM). */
export interface CertAndKey {
  cert: string;
  key: string;
}

const DAY_MS = 24 * 3600 * 1000;

/**
 * Generates a CA, and a server certificate signed by it with `localhost` and `127.0.0.1` (and `::1`) as subject
 * alternative names. EC P-256 keys keep start-up fast.
 * @throws when key generation fails.
 */
export async function generateHubTls(commonName = 'Local IoT Hub'): Promise<HubTlsMaterial> {
  const now = Date.now();
  const ca = await generateCa(`${commonName} CA`);
  const server = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate: new Date(now - DAY_MS),
    notAfterDate: new Date(now + 825 * DAY_MS),
    ca: { key: ca.key, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  return { caCert: ca.cert, caKey: ca.key, serverCert: server.cert, serverKey: server.private };
}

/**
 * Generates a client certificate with subject CN = `commonName`: self-signed, or signed by `ca` when given
 * (IoT Hub's CA-signed X.509 identities use the device/module id as CN).
 * @throws when key generation fails.
 */
export async function generateClientCertificate(commonName: string, ca?: CertAndKey): Promise<CertAndKey> {
  const now = Date.now();
  const result = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate: new Date(now - DAY_MS),
    notAfterDate: new Date(now + 365 * DAY_MS),
    ...(ca ? { ca: { key: ca.key, cert: ca.cert } } : {}),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', clientAuth: true },
    ],
  });
  return { cert: result.cert, key: result.private };
}

/**
 * Generates a CA usable in `IdentityAuth.x509CaCerts` (and to sign client certificates with).
 * @throws when key generation fails.
 */
export async function generateCa(commonName: string): Promise<CertAndKey> {
  const now = Date.now();
  const ca = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate: new Date(now - DAY_MS),
    notAfterDate: new Date(now + 3650 * DAY_MS),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  return { cert: ca.cert, key: ca.private };
}

/** SHA-1 and SHA-256 thumbprints (upper-case hex, no colons) of a certificate given as PEM or DER. */
export function thumbprints(cert: string | Buffer): { sha1: string; sha256: string } {
  const der = typeof cert === 'string' ? new X509Certificate(cert).raw : cert;
  return {
    sha1: createHash('sha1').update(der).digest('hex').toUpperCase(),
    sha256: createHash('sha256').update(der).digest('hex').toUpperCase(),
  };
}

/**
 * Writes the CA PEM into a fresh temp directory.
 * @returns the file path (remove with {@link removeCaFile}).
 * @throws on file system errors.
 */
export async function writeCaFile(caCert: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'local-hub-'));
  const file = path.join(dir, 'ca.pem');
  await fs.writeFile(file, caCert, 'utf8');
  return file;
}

/** Removes the CA file written by {@link writeCaFile} and its directory; never throws. */
export async function removeCaFile(file: string): Promise<void> {
  await fs.rm(path.dirname(file), { recursive: true, force: true }).catch(() => undefined);
}
