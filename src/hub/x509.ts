// A minimal X.509 v3 certificate builder (DER encoding by hand, keys and signatures from node:crypto).
import {
  KeyObject,
  X509Certificate,
  createHash,
  createPrivateKey,
  generateKeyPair,
  randomBytes,
  sign,
} from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { promisify } from 'node:util';

const generateKeyPairAsync = promisify(generateKeyPair);
const DAY_MS = 24 * 3600 * 1000;

// ---------------------------------------------------------------------------------------------------------------
// DER primitives (ITU-T X.690). Only what a certificate needs.

/** DER length octets: short form below 128, else 0x80|n followed by n big-endian bytes. */
export function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** A tag-length-value with the given tag byte and the concatenated contents. */
export function tlv(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

/** SEQUENCE of the given encoded elements. */
export const derSequence = (...items: Buffer[]): Buffer => tlv(0x30, ...items);
/** SET of the given encoded elements (single-element sets only here, so no sorting is needed). */
export const derSet = (...items: Buffer[]): Buffer => tlv(0x31, ...items);
/** BOOLEAN (DER: TRUE is 0xFF). */
export const derBoolean = (value: boolean): Buffer => tlv(0x01, Buffer.from([value ? 0xff : 0x00]));
/** NULL. */
export const derNull = (): Buffer => Buffer.from([0x05, 0x00]);
/** OCTET STRING. */
export const derOctetString = (bytes: Buffer): Buffer => tlv(0x04, bytes);
/** UTF8String. */
export const derUtf8String = (text: string): Buffer => tlv(0x0c, Buffer.from(text, 'utf8'));
/** BIT STRING with `unusedBits` padding bits in the last byte. */
export const derBitString = (bytes: Buffer, unusedBits = 0): Buffer => tlv(0x03, Buffer.from([unusedBits]), bytes);
/** Context-specific constructed tag [n] (EXPLICIT tagging). */
export const derExplicit = (n: number, ...items: Buffer[]): Buffer => tlv(0xa0 | n, ...items);

/**
 * INTEGER from a non-negative number or big-endian unsigned bytes: leading zero bytes are dropped (DER minimal form)
 * and one 0x00 is prefixed when the top bit is set, so the value stays positive.
 * @throws RangeError for a negative or non-integer number.
 */
export function derInteger(value: number | Buffer): Buffer {
  let bytes: Buffer;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a non-negative integer: ${value}`);
    const out: number[] = [];
    for (let n = value; n > 0; n = Math.floor(n / 256)) out.unshift(n % 256);
    bytes = Buffer.from(out);
  } else {
    let start = 0;
    while (start < value.length && value[start] === 0) start++;
    bytes = value.subarray(start);
  }
  if (bytes.length === 0) bytes = Buffer.from([0]);
  else if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(0x02, bytes);
}

/**
 * OBJECT IDENTIFIER from dotted form: the first two arcs share one byte (40·a + b), every arc is base-128 with the
 * high bit set on all but its last byte.
 * @throws RangeError for a malformed OID.
 */
export function derOid(oid: string): Buffer {
  const arcs = oid.split('.').map(Number);
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0) || arcs[0]! > 2) {
    throw new RangeError(`malformed OID: ${oid}`);
  }
  const out: number[] = [];
  for (const arc of [arcs[0]! * 40 + arcs[1]!, ...arcs.slice(2)]) {
    const groups: number[] = [arc % 128];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) groups.unshift((n % 128) | 0x80);
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}

/**
 * X.509 Time: UTCTime (YYMMDDHHMMSSZ) for years 1950–2049, GeneralizedTime (YYYYMMDDHHMMSSZ) otherwise
 * (RFC 5280 §4.1.2.5). Milliseconds are dropped.
 */
export function derTime(date: Date): Buffer {
  const p = (n: number): string => String(n).padStart(2, '0');
  const year = date.getUTCFullYear();
  const rest = [
    date.getUTCMonth() + 1,
    date.getUTCDate(),
    date.getUTCHours(),
    date.getUTCMinutes(),
    date.getUTCSeconds(),
  ]
    .map(p)
    .join('');
  if (year >= 1950 && year < 2050) return tlv(0x17, Buffer.from(`${p(year % 100)}${rest}Z`, 'ascii'));
  return tlv(0x18, Buffer.from(`${String(year).padStart(4, '0')}${rest}Z`, 'ascii'));
}

/**
 * Bytes of an IPv4 (4) or IPv6 (16) address, as iPAddress in subjectAltName wants them.
 * @throws TypeError when `ip` is not an IP address.
 */
export function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  if (!isIPv6(ip)) throw new TypeError(`not an IP address: ${ip}`);
  const groups = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const [a, b, c, d] = g.split('.').map(Number);
        out.push((a! << 8) | b!, (c! << 8) | d!);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const buf = Buffer.alloc(16);
  all.forEach((g, i) => buf.writeUInt16BE(g, i * 2));
  return buf;
}

/** Reads the tag-length-value at `offset`: where its contents start and end. */
function readTlv(der: Buffer, offset: number): { tag: number; start: number; end: number } {
  const tag = der[offset]!;
  let length = der[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + der[start + i]!;
    start += n;
  }
  return { tag, start, end: start + length };
}

/** The DER of a certificate's subject Name (copied as is, so an issuer name matches byte for byte). */
export function subjectNameDer(cert: X509Certificate): Buffer {
  const raw = cert.raw;
  const tbs = readTlv(raw, readTlv(raw, 0).start);
  let at = tbs.start;
  if (raw[at] === 0xa0) at = readTlv(raw, at).end; // [0] version
  // serial, signature algorithm, issuer, validity, then subject
  for (let i = 0; i < 4; i++) at = readTlv(raw, at).end;
  return raw.subarray(at, readTlv(raw, at).end);
}

// ---------------------------------------------------------------------------------------------------------------
// Certificates

const OID = {
  commonName: '2.5.4.3',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** keyUsage bits (RFC 5280 §4.2.1.3), by bit number. */
const KEY_USAGE_BITS = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
} as const;

/** A keyUsage bit name. */
export type KeyUsage = keyof typeof KEY_USAGE_BITS;

/** What to put in a certificate. */
export interface CertificateTemplate {
  /** Subject CN. */
  commonName: string;
  /** Default: a day ago (clock skew). */
  notBefore?: Date;
  /** Default: a year from now. */
  notAfter?: Date;
  /** basicConstraints cA (critical when true). Default false. */
  ca?: boolean;
  keyUsage?: KeyUsage[];
  extKeyUsage?: Array<'serverAuth' | 'clientAuth'>;
  dnsNames?: string[];
  /** IPv4 or IPv6 addresses for subjectAltName. */
  ipAddresses?: string[];
}

/** The issuer of a certificate: its certificate (PEM) and private key. Absent = self-signed. */
export interface Issuer {
  cert: string;
  key: string | KeyObject;
}

/** keyUsage as a DER BIT STRING: bit 0 is the most significant bit; trailing zero bits are trimmed (DER). */
export function keyUsageBits(usages: KeyUsage[]): Buffer {
  const bits = usages.map((u) => KEY_USAGE_BITS[u]);
  if (bits.length === 0) return derBitString(Buffer.alloc(0));
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const b of bits) bytes[b >> 3]! |= 0x80 >> (b & 7);
  return derBitString(bytes, 7 - (highest & 7));
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return derSequence(derOid(oid), ...(critical ? [derBoolean(true)] : []), derOctetString(value));
}

/** Key identifier: SHA-1 of the SubjectPublicKeyInfo DER (any stable method is allowed, RFC 7093). */
function keyIdentifier(spki: Buffer): Buffer {
  return createHash('sha1').update(spki).digest();
}

function signatureAlgorithm(key: KeyObject): Buffer {
  if (key.asymmetricKeyType === 'ec') return derSequence(derOid(OID.ecdsaWithSha256));
  if (key.asymmetricKeyType === 'rsa') return derSequence(derOid(OID.sha256WithRsa), derNull());
  throw new TypeError(`unsupported signing key type: ${key.asymmetricKeyType}`);
}

/**
 * Builds and signs an X.509 v3 certificate for `publicKey` (random positive 128-bit serial, SHA-256 signature:
 * ecdsa-with-SHA256 for EC keys, sha256WithRSAEncryption for RSA keys).
 * @param issuer the signing CA; self-signed with `selfKey` when absent.
 * @returns the certificate as PEM.
 * @throws TypeError for an unsupported key type or a bad IP address; crypto errors for a bad key.
 */
export function createCertificate(
  template: CertificateTemplate,
  publicKey: KeyObject,
  selfKey: KeyObject,
  issuer?: Issuer,
): string {
  const now = Date.now();
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const signingKey = issuer ? (typeof issuer.key === 'string' ? createPrivateKey(issuer.key) : issuer.key) : selfKey;
  const subject = derSequence(derSet(derSequence(derOid(OID.commonName), derUtf8String(template.commonName))));
  let issuerName = subject;
  let issuerSpki = spki;
  if (issuer) {
    const issuerCert = new X509Certificate(issuer.cert);
    issuerName = subjectNameDer(issuerCert);
    issuerSpki = issuerCert.publicKey.export({ type: 'spki', format: 'der' });
  }
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40; // positive, and always 16 bytes long

  const extensions: Buffer[] = [
    extension(OID.basicConstraints, template.ca === true, derSequence(...(template.ca ? [derBoolean(true)] : []))),
  ];
  if (template.keyUsage?.length) extensions.push(extension(OID.keyUsage, true, keyUsageBits(template.keyUsage)));
  if (template.extKeyUsage?.length) {
    extensions.push(extension(OID.extKeyUsage, false, derSequence(...template.extKeyUsage.map((u) => derOid(OID[u])))));
  }
  const altNames = [
    ...(template.dnsNames ?? []).map((d) => tlv(0x82, Buffer.from(d, 'ascii'))), // [2] dNSName IA5String
    ...(template.ipAddresses ?? []).map((ip) => tlv(0x87, ipBytes(ip))), // [7] iPAddress OCTET STRING
  ];
  if (altNames.length) extensions.push(extension(OID.subjectAltName, false, derSequence(...altNames)));
  extensions.push(extension(OID.subjectKeyIdentifier, false, derOctetString(keyIdentifier(spki))));
  extensions.push(extension(OID.authorityKeyIdentifier, false, derSequence(tlv(0x80, keyIdentifier(issuerSpki)))));

  const algorithm = signatureAlgorithm(signingKey);
  const notBefore = derTime(template.notBefore ?? new Date(now - DAY_MS));
  const notAfter = derTime(template.notAfter ?? new Date(now + 365 * DAY_MS));
  const tbs = derSequence(
    derExplicit(0, derInteger(2)), // v3
    derInteger(serial),
    algorithm,
    issuerName,
    derSequence(notBefore, notAfter),
    subject,
    spki,
    derExplicit(3, derSequence(...extensions)),
  );
  const signature = sign('sha256', tbs, signingKey);
  const der = derSequence(tbs, algorithm, derBitString(signature));
  const b64 = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}-----END CERTIFICATE-----\n`;
}

/** Options of {@link issueCertificate}. */
export interface IssueOptions {
  /** Key type: EC P-256 (fast, default) or RSA 2048. */
  keyType?: 'ec' | 'rsa';
  /** Encrypts the private key PEM (PKCS#8, AES-256-CBC) with this passphrase. */
  passphrase?: string;
  issuer?: Issuer;
}

/**
 * Generates a key pair and a certificate for it.
 * @returns the certificate and its private key (PKCS#8 PEM, encrypted when a passphrase is given).
 * @throws as {@link createCertificate}.
 */
export async function issueCertificate(
  template: CertificateTemplate,
  options: IssueOptions = {},
): Promise<{ cert: string; key: string }> {
  const { publicKey, privateKey } =
    options.keyType === 'rsa'
      ? await generateKeyPairAsync('rsa', { modulusLength: 2048 })
      : await generateKeyPairAsync('ec', { namedCurve: 'prime256v1' });
  const cert = createCertificate(template, publicKey, privateKey, options.issuer);
  const key = options.passphrase
    ? privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: options.passphrase })
    : privateKey.export({ type: 'pkcs8', format: 'pem' });
  return { cert, key: key.toString() };
}
