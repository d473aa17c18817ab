// The local hub's entry point: the hub class and its public types.
export { LocalHub } from './LocalHub';
export { HubError } from './hubErrors';
export * from './types';
export { localConnectionString, localEdgeEnvironment, type LocalHubAddress } from './localIdentity';
