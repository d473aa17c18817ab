// Starting a local hub on IoT Hub's standard ports (8883, 443) when they are free, else on one free port: what
// `azure-iot-local-hub --standard-ports`, `npm run hub` and `npm start` do.
import { LocalHub } from './LocalHub';
import { STANDARD_PORTS } from './localIdentity';
import type { LocalHubOptions } from './types';

/** What {@link startPreferringStandardPorts} gives. */
export interface StandardPortsStart {
  hub: LocalHub;
  /** Whether the hub got the standard ports. */
  standardPorts: boolean;
  /** When it did not: why (the error code, and which ports), to tell the user. */
  fallbackReason?: string;
}

/** Errors that mean "this port is not ours to take": held by another process, or privileged for this user. */
const PORT_UNAVAILABLE = new Set(['EADDRINUSE', 'EACCES', 'EPERM']);

/**
 * Starts a hub on the standard ports (MQTT/TLS 8883, WSS and HTTPS 443); when either cannot be bound (in use, or
 * privileged), starts it on `options.port` instead (default: any free port), one port serving everything.
 * @throws what {@link LocalHub.start} throws for anything but an unavailable standard port.
 */
export async function startPreferringStandardPorts(options: LocalHubOptions = {}): Promise<StandardPortsStart> {
  try {
    return { hub: await LocalHub.start({ ...options, standardPorts: true }), standardPorts: true };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === undefined || !PORT_UNAVAILABLE.has(code)) throw err;
    const hub = await LocalHub.start({ ...options, standardPorts: false });
    const port = (err as { port?: number }).port ?? STANDARD_PORTS.join(' or ');
    return { hub, standardPorts: false, fallbackReason: `port ${port}: ${code}` };
  }
}
