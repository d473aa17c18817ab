// How a module of the local hub is reached: its connection string and its IoT Edge environment. Pure, shared by the
// hub's registry and by code that provisions modules on a hub running in another process.
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { EdgeEnvironment } from './types';

/** Where a local hub listens: its IoT Hub host name, its TLS port(s) and (optionally) its workload API. */
export interface LocalHubAddress {
  hostName: string;
  /** The HTTPS port (443 on the standard ports); with one port, it serves MQTT and WSS too. */
  port: number;
  /** On the standard ports (MQTT/TLS 8883, WSS and HTTPS 443): the gateway is named without a port. */
  standardPorts?: boolean;
  workloadUri?: string;
}

/** IoT Hub's ports, the ones Azure's device SDKs dial for a bare host name: MQTT over TLS, then WSS and HTTPS. */
export const STANDARD_PORTS = [8883, 443] as const;

/**
 * The gateway host name clients dial: `localhost` on the standard ports (every Azure device SDK takes
 * `GatewayHostName` as a bare host name and dials 8883 or 443), else `localhost:<port>` (this library and the
 * Node SDK's HTTP paths accept a port there; one port serves MQTT, WSS and HTTPS).
 * @throws never
 */
export function localGatewayHostName(hub: LocalHubAddress): string {
  return hub.standardPorts ? 'localhost' : `localhost:${hub.port}`;
}

/** The workload API version the local hub announces (IoT Edge 1.x). */
const EDGE_API_VERSION = '2019-01-30';

/**
 * `HostName=…;DeviceId=…[;ModuleId=…];SharedAccessKey=…;GatewayHostName=localhost[:<port>]` — or `x509=true`
 * instead of a key for an X.509 identity (see {@link localGatewayHostName} for the gateway).
 */
export function localConnectionString(
  hub: LocalHubAddress,
  deviceId: string,
  moduleId: string | undefined,
  key: string | undefined,
): string {
  const parts = [`HostName=${hub.hostName}`, `DeviceId=${deviceId}`];
  if (moduleId !== undefined) parts.push(`ModuleId=${moduleId}`);
  parts.push(key ? `SharedAccessKey=${key}` : 'x509=true');
  parts.push(`GatewayHostName=${localGatewayHostName(hub)}`);
  return parts.join(';');
}

/**
 * The module's own workload socket, beside the hub's (`<dir>/<name>-modules/<16 hex>.sock`): IoT Edge gives each
 * module a socket bound to it. The name is a hash of the ids (ids may hold characters a file name cannot, and a Unix
 * socket path is limited to about 100 bytes), so a process that provisions a module on a hub elsewhere finds it too.
 * @throws never
 */
export function moduleWorkloadSocketPath(hubSocketPath: string, deviceId: string, moduleId: string): string {
  const dir = path.join(path.dirname(hubSocketPath), `${path.basename(hubSocketPath, '.sock')}-modules`);
  const name = createHash('sha256').update(`${deviceId}/${moduleId}`).digest('hex').slice(0, 16);
  return path.join(dir, `${name}.sock`);
}

/** The `IOTEDGE_WORKLOADURI` of a module: its own socket, or '' when the hub has no workload API. */
function moduleWorkloadUri(hubWorkloadUri: string | undefined, deviceId: string, moduleId: string): string {
  if (!hubWorkloadUri?.startsWith('unix://')) return '';
  return `unix://${moduleWorkloadSocketPath(hubWorkloadUri.slice('unix://'.length), deviceId, moduleId)}`;
}

/** The `IOTEDGE_*` environment an IoT Edge runtime would give this module's container. */
export function localEdgeEnvironment(
  hub: LocalHubAddress,
  deviceId: string,
  moduleId: string,
  generationId: string,
): EdgeEnvironment {
  return {
    IOTEDGE_WORKLOADURI: moduleWorkloadUri(hub.workloadUri, deviceId, moduleId),
    IOTEDGE_DEVICEID: deviceId,
    IOTEDGE_MODULEID: moduleId,
    IOTEDGE_MODULEGENERATIONID: generationId,
    IOTEDGE_IOTHUBHOSTNAME: hub.hostName,
    IOTEDGE_GATEWAYHOSTNAME: localGatewayHostName(hub),
    IOTEDGE_APIVERSION: EDGE_API_VERSION,
    IOTEDGE_AUTHSCHEME: 'sasToken',
  };
}
