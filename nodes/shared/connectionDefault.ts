// Which connection kind a new iothub-module-client config node starts with, from where Node-RED runs. Pure.

/** The connection kinds the config dialog can start with. */
export type DefaultConnectionType = 'edge' | 'localHub' | 'connectionString';

/** What the runtime knows about where it runs. */
export interface RuntimePlace {
  /** The runtime has a complete IoT Edge module environment (`IOTEDGE_*` variables). */
  edgeEnvironment: boolean;
  /** A program embedding Node-RED (`npm start`) shares its local hub in this process. */
  sharedLocalHub: boolean;
  /** This Node-RED runs a local hub of its own (a *Local hub* config node is deployed). */
  ownLocalHub: boolean;
  /** Local hubs announced by other processes on this machine (`npm run hub`, another `npm start`). */
  announcedHubs: number;
}

/**
 * The kind a new config node defaults to: *IoT Edge environment* inside an IoT Edge module, *Local hub* when a local
 * hub runs on this machine, else *Module connection string*. `npm start` sets the `IOTEDGE_*` variables only to let
 * its demo module `nodered` play an IoT Edge module against its shared hub: there a new node gets *Local hub* (a
 * module identity of its own) rather than a second connection as `nodered`.
 */
export function defaultConnectionType(place: RuntimePlace): DefaultConnectionType {
  if (place.sharedLocalHub) return 'localHub';
  if (place.edgeEnvironment) return 'edge';
  if (place.ownLocalHub || place.announcedHubs > 0) return 'localHub';
  return 'connectionString';
}
