// The one public entry of the library: the module client, its models and errors, and the local hub.
export * from './client/errors';
export {
  IoTHubModuleClient,
  TELEMETRY_MESSAGE_SIZE_LIMIT,
  type ConnectionStateInfo,
} from './client/IoTHubModuleClient';
export {
  OPTION_RULES,
  readOptionSetting,
  describeOptionRule,
  type OptionName,
  type OptionRule,
} from './client/options';
export { Message, type MessageOptions } from './client/models/Message';
export { MethodRequest } from './client/models/MethodRequest';
export { MethodResponse } from './client/models/MethodResponse';
export type {
  ClientIdentity,
  ClientOptions,
  ConnectionState,
  Logger,
  MethodParams,
  MethodResult,
  ProxyOptions,
  TwinDocument,
  X509,
} from './client/types';
export { userAgentString } from './client/userAgent';
export { hasEdgeEnvironment } from './client/auth/edgeEnvironment';

export { LocalHub, STANDARD_PORTS, localConnectionString, localEdgeEnvironment, localGatewayHostName } from './hub';
// Development local hubs shared between processes: discovery files and module-identity leases.
export {
  DISCOVERY_DIR,
  acquireLocalHub,
  discoverHubs,
  hubRequest,
  localHubSettings,
  localHubsClosed,
  ownLocalHub,
  recentUpstream,
  removeDiscoveryFile,
  shareLocalHub,
  sharedLocalHub,
  startPreferringStandardPorts,
  unshareLocalHub,
  writeDiscoveryFile,
} from './hub';
// The hub's MethodResult has the same shape as the client's; it is exported once (above).
export type {
  ConnectRecord,
  DeviceIdentity,
  EdgeEnvironment,
  HubErrorShape,
  HubEvents,
  HubFaults,
  HubDiscovery,
  HubMessage,
  HubObservations,
  IdentityAuth,
  LocalHubAddress,
  LocalHubApi,
  AnnouncedHub,
  LeasedHub,
  PanelHub,
  RoutedHub,
  SharedLocalHub,
  UpstreamSource,
  LocalHubLease,
  AcquireOptions,
  LocalHubOptions,
  StandardPortsStart,
  MethodInvocation,
  ModuleIdentity,
  PublishRecord,
  SubscriptionRecord,
  Twin,
} from './hub';
