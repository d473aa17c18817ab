// TLS material for the local hub: a CA and a server certificate made at start (or loaded), client-certificate helpers.
import { X509Certificate, createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { makeHubTempDir } from './hubTempDir';
import { issueCertificate } from './x509';

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
  const ca = await generateCa(`${commonName} CA`);
  const server = await issueCertificate(
    {
      commonName: 'localhost',
      ...validity(825),
      keyUsage: ['digitalSignature'],
      extKeyUsage: ['serverAuth'],
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1', '::1'],
    },
    { issuer: ca },
  );
  return { caCert: ca.cert, caKey: ca.key, serverCert: server.cert, serverKey: server.key };
}

/**
 * Generates a client certificate with subject CN = `commonName`: self-signed, or signed by `ca` when given
 * (IoT Hub's CA-signed X.509 identities use the device/module id as CN).
 * @throws when key generation fails.
 */
export async function generateClientCertificate(commonName: string, ca?: CertAndKey): Promise<CertAndKey> {
  return issueCertificate(
    { commonName, ...validity(365), keyUsage: ['digitalSignature'], extKeyUsage: ['clientAuth'] },
    ca ? { issuer: ca } : {},
  );
}

/**
 * Generates a CA usable in `IdentityAuth.x509CaCerts` (and to sign client certificates with).
 * @throws when key generation fails.
 */
export async function generateCa(commonName: string): Promise<CertAndKey> {
  return issueCertificate({
    commonName,
    ...validity(3650),
    ca: true,
    keyUsage: ['digitalSignature', 'keyCertSign', 'cRLSign'],
  });
}

/** From a day ago (clock skew) to `days` days from now. */
function validity(days: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - DAY_MS), notAfter: new Date(now + days * DAY_MS) };
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
  const dir = await makeHubTempDir();
  const file = path.join(dir, 'ca.pem');
  await fs.writeFile(file, caCert, 'utf8');
  return file;
}

/** Removes the CA file written by {@link writeCaFile} and its directory; never throws. */
export async function removeCaFile(file: string): Promise<void> {
  await fs.rm(path.dirname(file), { recursive: true, force: true }).catch(() => undefined);
}
