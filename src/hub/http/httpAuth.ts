// Who may call the local hub's HTTPS API: the service (shared access policy SAS, as IoT Hub's service API) or, for
// direct methods only, a module of the hub with its own SAS and `x-ms-edge-moduleId` (edgeHub module-to-module direct
// methods).
import type http from 'node:http';
import { parseSasToken, verifySas } from '../sas';
import type { ServiceApiHub } from '../types';
import { HubError } from '../hubErrors';
import type { Route } from './paths';

/** Who made the request. */
export type Caller = { kind: 'service' } | { kind: 'module'; deviceId: string; moduleId: string };

/** Decides who a request comes from. */
export type Authenticator = (req: http.IncomingMessage, route: Route) => Caller;

/**
 * Builds the authenticator of the HTTPS API.
 * Service: `SharedAccessSignature sr={hostName}&sig=…&se=…&skn={policy.name}` signed with the policy key.
 * Module (methods routes only): the module's SAS token plus `x-ms-edge-moduleId: {device}/{module}` naming the same
 * identity, as edgeHub requires.
 * @param policy the shared access policy (name and base64 key) service tokens must be signed with.
 * @returns a function that throws HubError 401 IotHubUnauthorizedAccess for anyone else.
 * @throws never (the factory).
 */
export function createAuthenticator(
  hub: Pick<ServiceApiHub, 'hostName' | 'getModule'>,
  policy: { name: string; key: string },
): Authenticator {
  const hostLower = hub.hostName.toLowerCase();
  return (req, route) => {
    const unauthorized = (why: string): HubError => new HubError('IotHubUnauthorizedAccess', `Unauthorized: ${why}`);
    const header = req.headers.authorization;
    const parsed = typeof header === 'string' ? parseSasToken(header.trim()) : undefined;
    if (!parsed) throw unauthorized('missing or malformed SharedAccessSignature');
    const now = Math.floor(Date.now() / 1000);
    if (parsed.skn !== undefined) {
      // Service token: scoped to the hub itself and signed with the shared access policy's key.
      if (parsed.skn !== policy.name) throw unauthorized(`unknown shared access policy ${parsed.skn}`);
      if (parsed.resource.toLowerCase().replace(/\/+$/, '') !== hostLower)
        throw unauthorized('token audience is not this hub');
      if (!verifySas(parsed, [policy.key], now)) throw unauthorized('bad signature or expired token');
      return { kind: 'service' };
    }
    // Module token: only edgeHub's module-to-module method call accepts it, and only with a matching
    // x-ms-edge-moduleId header (edgeHub refuses a caller that claims another identity).
    if (route.kind !== 'methods') throw unauthorized('a device or module token cannot call this API');
    const parts = parsed.resource.split('/');
    if (
      parts.length !== 5 ||
      parts[0]!.toLowerCase() !== hostLower ||
      parts[1] !== 'devices' ||
      parts[3] !== 'modules'
    ) {
      throw unauthorized('token is not a module token of this hub');
    }
    const deviceId = parts[2]!;
    const moduleId = parts[4]!;
    const claimed = req.headers['x-ms-edge-moduleid'];
    if (claimed !== `${deviceId}/${moduleId}`)
      throw unauthorized('x-ms-edge-moduleId does not match the token identity');
    const mod = hub.getModule(deviceId, moduleId);
    if (!mod || !verifySas(parsed, [mod.primaryKey, mod.secondaryKey], now))
      throw unauthorized('bad signature or expired token');
    return { kind: 'module', deviceId, moduleId };
  };
}
