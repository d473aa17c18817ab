// What the raw mqtt.js and core-node baselines need to speak to the hub by hand: SAS token, username, the output
// topic with its property bag (the same bytes this client sends), and the benchmark payloads.
import { createHmac } from 'node:crypto';
import type { BenchModule } from './hubProcess';

/** The output name and the three application properties every benchmark message carries. */
export const OUTPUT = 'telemetry';
export const PROPS: Readonly<Record<string, string>> = { sensor: 'alpha', unit: 'celsius', site: 'plant-1' };

/** A JSON payload of exactly `size` bytes (≥ 60) whose `seq` field is `i`. */
export function jsonPayload(i: number, size = 200): string {
  const base = JSON.stringify({ seq: i, temperature: 21.5, humidity: 48, pad: '' });
  return JSON.stringify({
    seq: i,
    temperature: 21.5,
    humidity: 48,
    pad: 'x'.repeat(Math.max(0, size - Buffer.byteLength(base))),
  });
}

/**
 * A module SAS token as IoT Hub takes it (`sr`, `sig`, `se`), signed with the module's primary key, valid for
 * `ttlSeconds`.
 */
export function sasToken(hostName: string, m: BenchModule, ttlSeconds = 3600): string {
  const sr = encodeURIComponent(`${hostName}/devices/${m.deviceId}/modules/${m.moduleId}`);
  const se = Math.floor(Date.now() / 1000) + ttlSeconds;
  const sig = createHmac('sha256', Buffer.from(m.primaryKey, 'base64')).update(`${sr}\n${se}`).digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}`;
}

/** The MQTT client id of a module. */
export function clientIdOf(m: BenchModule): string {
  return `${m.deviceId}/${m.moduleId}`;
}

/** An IoT Hub MQTT username the hub accepts. */
export function usernameOf(hostName: string, m: BenchModule): string {
  return `${hostName}/${clientIdOf(m)}/?api-version=2019-10-01&DeviceClientType=bench-raw`;
}

/**
 * The events topic with the property bag this client writes for an output message with content type
 * application/json, encoding utf-8 and PROPS (system properties first in the SDK's order, custom ones sorted).
 */
export function outputTopic(m: BenchModule): string {
  const custom = Object.keys(PROPS)
    .sort()
    .map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(PROPS[k]!)}`);
  const bag = [`%24.on=${OUTPUT}`, '%24.ct=application%2Fjson', '%24.ce=utf-8', ...custom].join('&');
  return `devices/${m.deviceId}/modules/${m.moduleId}/messages/events/${bag}`;
}
