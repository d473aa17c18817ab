// X.509 client credentials: loads the certificate and key (inline PEM or files) and checks they are usable.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { ValueError } from '../errors';

/** The Python SDK's `X509(cert_file, key_file, pass_phrase)`, also accepting inline PEM. */
export interface X509 {
  cert?: string;
  certFile?: string;
  key?: string;
  keyFile?: string;
  passPhrase?: string;
}

const X509_KEYS = new Set(['cert', 'certFile', 'key', 'keyFile', 'passPhrase']);

/**
 * Resolves an {@link X509} into PEM text ready for `tls.connect`: reads `certFile` / `keyFile`, checks that the
 * certificate parses and that the key parses (decrypting it with `passPhrase` when it is encrypted).
 * @throws TypeError when `x509` is not an object, has unknown keys, or a field is not a string.
 * @throws ValueError naming the field when a certificate or key is missing, given twice (inline and file), a file
 *   cannot be read, the PEM is malformed, or the pass phrase does not open the key.
 */
export function loadX509(x509: X509): { cert: string; key: string; passphrase?: string } {
  if (typeof x509 !== 'object' || x509 === null || Array.isArray(x509)) throw new TypeError('x509 must be an object');
  for (const [name, value] of Object.entries(x509)) {
    if (!X509_KEYS.has(name)) throw new TypeError(`Unknown x509 field: ${name}`);
    if (value !== undefined && typeof value !== 'string') throw new TypeError(`x509.${name} must be a string`);
  }
  const cert = pem(x509, 'cert', 'certFile');
  const key = pem(x509, 'key', 'keyFile');
  const passphrase = x509.passPhrase === undefined || x509.passPhrase === '' ? undefined : x509.passPhrase;
  const certField = x509.cert !== undefined ? 'cert' : 'certFile';
  const keyField = x509.key !== undefined ? 'key' : 'keyFile';

  if (!cert.includes('-----BEGIN CERTIFICATE-----')) throw new ValueError(`x509.${certField} holds no PEM certificate`);
  try {
    new crypto.X509Certificate(cert);
  } catch (err) {
    throw new ValueError(`x509.${certField} is not a valid PEM certificate`, { cause: err });
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key))
    throw new ValueError(`x509.${keyField} holds no PEM private key`);
  const encrypted = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(key);
  if (encrypted && passphrase === undefined)
    throw new ValueError(`x509.${keyField} is encrypted: x509.passPhrase is needed`);
  try {
    crypto.createPrivateKey(passphrase === undefined ? { key } : { key, passphrase });
  } catch (err) {
    throw new ValueError(
      encrypted
        ? 'x509.passPhrase does not decrypt the private key'
        : `x509.${keyField} is not a valid PEM private key`,
      { cause: err },
    );
  }
  return passphrase === undefined ? { cert, key } : { cert, key, passphrase };
}

function pem(x509: X509, inline: 'cert' | 'key', file: 'certFile' | 'keyFile'): string {
  const text = x509[inline];
  const path = x509[file];
  const hasText = text !== undefined && text !== '';
  const hasPath = path !== undefined && path !== '';
  if (hasText && hasPath) throw new ValueError(`x509: give either ${inline} or ${file}, not both`);
  if (hasText) return text;
  if (!hasPath) throw new ValueError(`x509: ${inline} or ${file} is required`);
  try {
    return fs.readFileSync(path, 'utf8');
  } catch (err) {
    throw new ValueError(`x509.${file} cannot be read: ${path}`, { cause: err });
  }
}
