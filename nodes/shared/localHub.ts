// Recognising the local hub (development only): its host name, and the module a SAS token issued by it is for.

/** The IoT Hub host name of the local hub (its default; a hub started with another name is not recognised). */
export const LOCAL_HUB_HOSTNAME = 'local-hub.azure-devices.net';

/**
 * The module a SAS token is for, when the token is for the local hub's host name (`sr=local-hub.azure-devices.net/
 * devices/{d}/modules/{m}`); undefined for any other token, or text that is no token.
 */
export function localHubModuleOf(sastoken: string): { deviceId: string; moduleId: string } | undefined {
  const sr = /(?:^|[\s&])sr=([^&\s]+)/.exec(sastoken)?.[1];
  if (!sr) return undefined;
  let parts: string[];
  try {
    parts = decodeURIComponent(sr).split('/');
  } catch {
    return undefined;
  }
  if (
    parts.length !== 5 ||
    parts[0]!.toLowerCase() !== LOCAL_HUB_HOSTNAME ||
    parts[1] !== 'devices' ||
    parts[3] !== 'modules'
  )
    return undefined;
  return { deviceId: parts[2]!, moduleId: parts[4]! };
}
