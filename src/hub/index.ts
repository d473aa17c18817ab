// The local hub's entry point: the hub class and its public types.
export { LocalHub } from './LocalHub';
export { HubError } from './hubErrors';
export * from './types';
export {
  STANDARD_PORTS,
  localConnectionString,
  localEdgeEnvironment,
  localGatewayHostName,
  type LocalHubAddress,
} from './localIdentity';
export {
  DISCOVERY_DIR,
  discoverHubs,
  removeDiscoveryFile,
  writeDiscoveryFile,
  type HubDiscovery,
} from './hubDiscovery';
export {
  acquireLocalHub,
  localHubSettings,
  localHubsClosed,
  ownLocalHub,
  recentUpstream,
  shareLocalHub,
  sharedLocalHub,
  unshareLocalHub,
  type AcquireOptions,
  type LocalHubLease,
  type LocalHubSource,
} from './localHubLeases';
export { hubRequest, provisionRemote, serviceToken } from './remoteHub';
export { startPreferringStandardPorts, type StandardPortsStart } from './standardPorts';
