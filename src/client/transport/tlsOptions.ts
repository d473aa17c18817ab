// The one place that builds client TLS options for the hub (MQTT over TLS, MQTT over WSS, HTTPS to edgeHub).
import net from 'node:net';
import type tls from 'node:tls';

/** What a TLS connection to the hub or gateway is made from. */
export interface ClientTlsSettings {
  /** The host dialled (gateway if set): verified against the server certificate. */
  host: string;
  port: number;
  /** PEM; when given the ONLY trust anchor (as the Python SDK's server_verification_cert), else the system CAs. */
  ca?: string;
  /** OpenSSL cipher list (already normalised); '' or absent = Node's default. */
  cipher?: string;
  /** X.509 client authentication. */
  cert?: string;
  key?: string;
  passphrase?: string;
  /** ALPN protocols to offer (WSS and HTTPS: `http/1.1`). */
  alpn?: string[];
}

/**
 * TLS options: server certificate always verified (CERT_REQUIRED, host name checked); TLS 1.2 or 1.3 (the Python
 * SDK pins exactly 1.2; we also take 1.3 when the hub offers it, as IoT Hub does) — except with a `cipher` list,
 * which pins TLS 1.2. `servername` is the host dialled unless it is an IP literal (RFC 6066 forbids IPs in SNI; the
 * identity check still uses `host`).
 */
export function clientTlsOptions(s: ClientTlsSettings): tls.ConnectionOptions {
  const options: tls.ConnectionOptions = {
    host: s.host,
    port: s.port,
    minVersion: 'TLSv1.2',
    rejectUnauthorized: true,
  };
  if (!net.isIP(s.host)) options.servername = s.host;
  if (s.ca) options.ca = [s.ca];
  if (s.cipher) {
    // An OpenSSL cipher list only governs TLS 1.2 and below: a server that offers TLS 1.3 would negotiate a TLS 1.3
    // suite whatever the list says. The Python SDK's `cipher` names TLS 1.2 suites (its context is always TLS 1.2),
    // so a given list pins TLS 1.2 and the list is really what is negotiated. Without one, TLS 1.3 stays allowed.
    options.ciphers = s.cipher;
    options.maxVersion = 'TLSv1.2';
  }
  if (s.cert) options.cert = s.cert;
  if (s.key) options.key = s.key;
  if (s.passphrase) options.passphrase = s.passphrase;
  if (s.alpn) options.ALPNProtocols = s.alpn;
  return options;
}
