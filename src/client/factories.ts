// What each client factory does before a client exists: validate options per factory, parse the credentials, and
// assemble identity + authentication (connection string, SAS token, X.509, IoT Edge environment). The
// IoTHubModuleClient statics wrap these.
import { ValueError } from './errors';
import { parseConnectionString } from './auth/connectionString';
import {
  NonRenewableSasToken,
  RenewableSasToken,
  resourceUri,
  symmetricKeySigner,
  type SasTokenSource,
} from './auth/sastoken';
import { loadX509 } from './auth/x509';
import { readEdgeCaCertificateFile, readEdgeEnvironment } from './auth/edgeEnvironment';
import { WorkloadClient } from './auth/WorkloadClient';
import { resolveOptions, type ResolvedOptions } from './options';
import { userAgentString } from './userAgent';
import type { ClientIdentity, ClientOptions, Signer, X509 } from './types';

/** The identity used in topics, client id, username and SAS `sr` (always the IoT Hub host), and the host dialled. */
export type Identity = ClientIdentity;

export type Auth =
  { kind: 'sas'; token: SasTokenSource } | { kind: 'x509'; cert: string; key: string; passphrase?: string };

/** Set for clients from createFromEdgeEnvironment (they may invokeMethod); `workload` in container mode. */
export interface EdgeContext {
  workload?: WorkloadClient;
}

/** Everything a client is constructed from. */
export interface ClientInit {
  identity: Identity;
  auth: Auth;
  options: ResolvedOptions;
  edge?: EdgeContext;
  /** Created from a user SAS token (only those may updateSastoken). */
  fromSastoken?: boolean;
}

function renewableToken(identity: Identity, signer: Signer, ttl: number): RenewableSasToken {
  return RenewableSasToken.unsigned({
    uri: resourceUri(identity.hostname, identity.deviceId, identity.moduleId || undefined),
    signer,
    ttl,
  });
}

/**
 * See IoTHubModuleClient.createFromConnectionString.
 * @throws TypeError / ValueError as documented there.
 */
export function initFromConnectionString(connectionString: string, options?: ClientOptions): ClientInit {
  const cs = parseConnectionString(connectionString);
  if (cs.x509 !== undefined) {
    throw new ValueError('Use createFromX509Certificate for X.509 authentication (x509 in the connection string)');
  }
  const resolved = resolveOptions('connectionString', options);
  if (!cs.DeviceId || !cs.SharedAccessKey) throw new ValueError('Invalid Connection String - Incomplete');
  // As the Python SDK: no ModuleId means the client silently behaves like a device identity.
  const identity: Identity = { hostname: cs.HostName!, deviceId: cs.DeviceId, moduleId: cs.ModuleId ?? '' };
  if (cs.GatewayHostName) identity.gatewayHostname = cs.GatewayHostName;
  const token = renewableToken(identity, symmetricKeySigner(cs.SharedAccessKey), resolved.sastokenTtl);
  return { identity, auth: { kind: 'sas', token }, options: resolved };
}

/**
 * See IoTHubModuleClient.createFromSastoken.
 * @throws TypeError / ValueError as documented there.
 */
export function initFromSastoken(sastoken: string, options?: ClientOptions): ClientInit {
  const resolved = resolveOptions('sastoken', options);
  const token = new NonRenewableSasToken(sastoken);
  const identity: Identity = {
    hostname: token.info.hostname,
    deviceId: token.info.deviceId,
    moduleId: token.info.moduleId!,
  };
  if (resolved.gatewayHostname) identity.gatewayHostname = resolved.gatewayHostname;
  return { identity, auth: { kind: 'sas', token }, options: resolved, fromSastoken: true };
}

/**
 * See IoTHubModuleClient.createFromX509Certificate.
 * @throws TypeError / ValueError as documented there.
 */
export function initFromX509(
  args: { x509: X509; hostname: string; deviceId: string; moduleId: string },
  options?: ClientOptions,
): ClientInit {
  if (typeof args !== 'object' || args === null) throw new TypeError('arguments must be an object');
  for (const key of ['hostname', 'deviceId', 'moduleId'] as const) {
    if (typeof args[key] !== 'string') throw new TypeError(`${key} must be a string`);
  }
  const resolved = resolveOptions('x509', options);
  const loaded = loadX509(args.x509);
  const identity: Identity = { hostname: args.hostname, deviceId: args.deviceId, moduleId: args.moduleId };
  if (resolved.gatewayHostname) identity.gatewayHostname = resolved.gatewayHostname;
  const auth: Auth = { kind: 'x509', cert: loaded.cert, key: loaded.key };
  if (loaded.passphrase !== undefined) auth.passphrase = loaded.passphrase;
  return { identity, auth, options: resolved };
}

/**
 * See IoTHubModuleClient.createFromEdgeEnvironment: container mode (workload API trust bundle + signing, first token
 * signed now so that a broken workload API fails here) or debug mode (connection string + CA file).
 * @throws TypeError / ValueError / ClientError as documented there.
 */
export async function initFromEdgeEnvironment(
  options?: ClientOptions & { env?: Record<string, string | undefined> },
): Promise<ClientInit> {
  const resolved = resolveOptions('edge', options);
  const settings = readEdgeEnvironment(options?.env ?? process.env);
  if (settings.mode === 'debug') {
    const cs = parseConnectionString(settings.connectionString);
    if (!cs.DeviceId || !cs.ModuleId || !cs.HostName || !cs.GatewayHostName || !cs.SharedAccessKey) {
      throw new ValueError('Invalid Connection String');
    }
    resolved.serverVerificationCert = readEdgeCaCertificateFile(settings.caCertificateFile);
    const identity: Identity = {
      hostname: cs.HostName,
      deviceId: cs.DeviceId,
      moduleId: cs.ModuleId,
      gatewayHostname: cs.GatewayHostName,
    };
    const token = renewableToken(identity, symmetricKeySigner(cs.SharedAccessKey), resolved.sastokenTtl);
    return { identity, auth: { kind: 'sas', token }, options: resolved, edge: {} };
  }
  const workload = new WorkloadClient({
    workloadUri: settings.workloadUri,
    apiVersion: settings.apiVersion,
    moduleId: settings.moduleId,
    generationId: settings.generationId,
    userAgent: userAgentString(),
  });
  try {
    resolved.serverVerificationCert = await workload.getTrustBundle();
    const identity: Identity = {
      hostname: settings.hostname,
      deviceId: settings.deviceId,
      moduleId: settings.moduleId,
      gatewayHostname: settings.gatewayHostname,
    };
    const token = renewableToken(identity, (s) => workload.sign(s), resolved.sastokenTtl);
    await token.refresh();
    return { identity, auth: { kind: 'sas', token }, options: resolved, edge: { workload } };
  } catch (err) {
    await workload.close().catch(() => undefined);
    throw err;
  }
}
