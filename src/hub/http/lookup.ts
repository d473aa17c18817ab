// Identity look-ups shared by the HTTPS API's registry, twin and method endpoints, and their stable pseudo values.
import { createHash } from 'node:crypto';
import { identityNotFound } from '../hubErrors';
import type { DeviceIdentity, HubRegistry } from '../types';

/** What IoT Hub reports for times it never recorded. */
export const NEVER = '0001-01-01T00:00:00Z';

/**
 * The device, or undefined.
 * @throws never
 */
export function findDevice(hub: Pick<HubRegistry, 'getDevice'>, deviceId: string): DeviceIdentity | undefined {
  return hub.getDevice(deviceId);
}

/**
 * Ensures the device (and the module, when given) exist.
 * @throws HubError 404/404001 (device) or 404/404010 (module), from `identityNotFound`.
 */
export function requireIdentity(
  hub: Pick<HubRegistry, 'getDevice' | 'getModule'>,
  deviceId: string,
  moduleId?: string,
): void {
  if (!findDevice(hub, deviceId)) throw identityNotFound(deviceId);
  if (moduleId !== undefined && !hub.getModule(deviceId, moduleId)) throw identityNotFound(deviceId, moduleId);
}

/**
 * A stable pseudo etag for registry entries (IoT Hub's are opaque base64 strings).
 * @throws never
 */
export function stableEtag(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('base64').slice(0, 12);
}
