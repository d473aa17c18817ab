// The client's identity and credentials as the connection needs them: the settings of the next CONNECT (built from
// the current token each time), when the SAS token is due for renewal, re-signing, and replacing a user token
// (updateSastoken).
import { CredentialError, ValueError } from './errors';
import {
  NonRenewableSasToken,
  RenewableSasToken,
  renewalTime,
  validateModuleSasToken,
  type SasTokenSource,
} from './auth/sastoken';
import type { MqttConnectionSettings } from './transport/MqttConnection';
import { buildUsername, splitHostPort } from './transport/mqttUsername';
import type { Auth, Identity } from './factories';
import type { ResolvedOptions } from './options';
import type { Clock } from './clock';

/** The options the credentials read. */
type CredentialOptions = Pick<
  ResolvedOptions,
  | 'websockets'
  | 'keepAlive'
  | 'cipher'
  | 'operationTimeout'
  | 'serverVerificationCert'
  | 'proxyOptions'
  | 'productInfo'
  | 'sastokenRenewalMargin'
>;

/** Identity + SAS token or X.509 key pair of one client. */
export class Credentials {
  /** `{deviceId}/{moduleId}` (not URL-encoded: IoT Hub's MQTT client id); just the device id for a device identity. */
  readonly clientId: string;
  private token: SasTokenSource | undefined;
  private readonly x509: Extract<Auth, { kind: 'x509' }> | undefined;

  constructor(
    readonly identity: Identity,
    auth: Auth,
    private readonly options: CredentialOptions,
    private readonly userAgent: string,
    private readonly clock: Clock,
  ) {
    this.clientId = identity.moduleId ? `${identity.deviceId}/${identity.moduleId}` : identity.deviceId;
    if (auth.kind === 'sas') this.token = auth.token;
    else this.x509 = auth;
  }

  /** True for SAS authentication (X.509 has no token to renew). */
  get usesSasToken(): boolean {
    return this.token !== undefined;
  }

  /** True when the client signs its own tokens (connection string, IoT Edge) and can renew them. */
  get renewable(): boolean {
    return this.token instanceof RenewableSasToken;
  }

  /** The current token text ('' for X.509): MQTT password and HTTP Authorization value. */
  get sastoken(): string {
    return this.token?.value ?? '';
  }

  /** The host dialled: the gateway (edgeHub) when set, else the IoT Hub host. */
  get dialHost(): string {
    return this.identity.gatewayHostname ?? this.identity.hostname;
  }

  /** The settings of the next CONNECT, built from the current options and token each time. */
  connectionSettings(): MqttConnectionSettings {
    const { host, port } = splitHostPort(this.dialHost, this.options.websockets ? 443 : 8883);
    const s: MqttConnectionSettings = {
      host,
      port,
      websockets: this.options.websockets,
      clientId: this.clientId,
      username: buildUsername(this.identity.hostname, this.clientId, this.userAgent, this.options.productInfo),
      keepAlive: this.options.keepAlive,
      cipher: this.options.cipher,
      connectTimeoutMs: this.options.operationTimeout * 1000,
    };
    if (this.options.serverVerificationCert) s.ca = this.options.serverVerificationCert;
    if (this.options.proxyOptions) s.proxy = this.options.proxyOptions;
    if (this.token) s.password = this.token.value;
    else if (this.x509) {
      s.cert = this.x509.cert;
      s.key = this.x509.key;
      if (this.x509.passphrase !== undefined) s.passphrase = this.x509.passphrase;
    }
    return s;
  }

  /**
   * When the current token should be renewed, or a user token asked for (ms since epoch; Infinity for X.509); never
   * earlier than half its lifetime, so that a token shorter than twice the margin is not asked for again at once
   * after each update (which would replace short-lived tokens in a tight loop).
   */
  renewAt(): number {
    const token = this.token;
    if (!token) return Infinity;
    const margin = this.options.sastokenRenewalMargin;
    const lifetime =
      token instanceof RenewableSasToken
        ? token.ttl
        : token instanceof NonRenewableSasToken
          ? token.lifetime
          : Infinity;
    return renewalTime(token.expiry, Math.min(margin, lifetime / 2));
  }

  /**
   * Re-signs a renewable token when it has no value yet, is due, or `force` is set; other credentials are left alone.
   * @throws whatever the signer throws (e.g. the workload API failing).
   */
  async refresh(force = false): Promise<void> {
    const token = this.token;
    if (!(token instanceof RenewableSasToken)) return;
    if (force || !token.value || this.clock.now() >= this.renewAt()) await token.refresh();
  }

  /**
   * Whether a connect refused with `err` is worth one more try with a re-signed token: only when the hub
   * refused the SAS of a renewable token. A proxy refusing its own credentials ('proxy-error') is not the hub.
   */
  shouldResignAfter(err: unknown): boolean {
    return err instanceof CredentialError && err.code !== 'proxy-error' && this.renewable;
  }

  /**
   * Checks a user token meant to replace the current one (updateSastoken): well-formed, not expired, same identity.
   * @throws ValueError for a malformed or expired token, or one for another identity.
   */
  checkReplacement(sastoken: string): NonRenewableSasToken {
    const now = this.clock.now();
    const info = validateModuleSasToken(sastoken, now);
    const id = this.identity;
    if (
      info.hostname !== id.hostname ||
      info.deviceId !== id.deviceId ||
      (info.moduleId && info.moduleId !== id.moduleId)
    ) {
      throw new ValueError('Provided SasToken does not match the existing identity');
    }
    return new NonRenewableSasToken(sastoken, now);
  }

  /** Uses `token` (from {@link checkReplacement}) for every following CONNECT and HTTP call. */
  replaceToken(token: NonRenewableSasToken): void {
    this.token = token;
  }
}
