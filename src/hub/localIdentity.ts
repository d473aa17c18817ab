// How a module of the local hub is reached: its connection string and its IoT Edge environment. Pure, shared by the
// hub's registry and by code that provisions modules on a hub running in another process.
import type { EdgeEnvironment } from './types';

/** Where a local hub listens: its IoT Hub host name, its one TLS port and (optionally) its workload API. */
export interface LocalHubAddress {
  hostName: string;
  port: number;
  workloadUri?: string;
}

/** The workload API version the local hub announces (IoT Edge 1.x). */
const EDGE_API_VERSION = '2019-01-30';

/**
 * `HostName=…;DeviceId=…[;ModuleId=…];SharedAccessKey=…;GatewayHostName=localhost:<port>` — or `x509=true`
 * instead of a key for an X.509 identity. The port rides in GatewayHostName: one TLS port serves MQTT, WSS and HTTPS.
 */
export function localConnectionString(hub: LocalHubAddress, deviceId: string, moduleId: string | undefined, key: string | undefined): string {
  const parts = [`HostName=${hub.hostName}`, `DeviceId=${deviceId}`];
  if (moduleId !== undefined) parts.push(`ModuleId=${moduleId}`);
  parts.push(key ? `SharedAccessKey=${key}` : 'x509=true');
  parts.push(`GatewayHostName=localhost:${hub.port}`);
  return parts.join(';');
}

/** The `IOTEDGE_*` environment an IoT Edge runtime would give this module's container. */
export function localEdgeEnvironment(hub: LocalHubAddress, deviceId: string, moduleId: string, generationId: string): EdgeEnvironment {
  return {
    IOTEDGE_WORKLOADURI: hub.workloadUri ?? '',
    IOTEDGE_DEVICEID: deviceId,
    IOTEDGE_MODULEID: moduleId,
    IOTEDGE_MODULEGENERATIONID: generationId,
    IOTEDGE_IOTHUBHOSTNAME: hub.hostName,
    IOTEDGE_GATEWAYHOSTNAME: `localhost:${hub.port}`,
    IOTEDGE_APIVERSION: EDGE_API_VERSION,
    IOTEDGE_AUTHSCHEME: 'sasToken',
  };
}
