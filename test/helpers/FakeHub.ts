// A small in-memory stand-in for the hub the HTTP and workload APIs serve from (ServiceApiHub, WorkloadHub), to test
// them in isolation.
import { randomBytes } from 'node:crypto';
import type {
  DeviceIdentity,
  HubErrorShape,
  IdentityAuth,
  MethodInvocation,
  MethodResult,
  ModuleIdentity,
  ServiceApiHub,
  Twin,
  TwinPatch,
  WorkloadHub,
} from '../../src/hub/types';

function newKey(): string {
  return randomBytes(32).toString('base64');
}

/** Builds a HubErrorShape the way the core reports IoT Hub failures. */
export function hubError(httpStatus: number, errorCode: number, message: string): HubErrorShape {
  return Object.assign(new Error(message), { httpStatus, errorCode });
}

function merge(target: Record<string, unknown>, patch: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete target[key];
    else if (
      typeof value === 'object' &&
      !Array.isArray(value) &&
      typeof target[key] === 'object' &&
      target[key] !== null
    ) {
      merge(target[key] as Record<string, unknown>, value as Record<string, unknown>);
    } else target[key] = value;
  }
}

/** Whether `value` is a JSON object (not an array, not null). */
function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The merge patch that turns `current` into `wanted` (absent keys → `null`, nested objects recursively). */
function replacementPatch(current: Record<string, unknown>, wanted: Record<string, unknown>): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(current)) if (!key.startsWith('$') && !(key in wanted)) patch[key] = null;
  for (const [key, value] of Object.entries(wanted)) {
    if (key.startsWith('$')) continue;
    const old = current[key];
    if (isObject(old) && isObject(value)) {
      const nested = replacementPatch(old, value);
      if (Object.keys(nested).length > 0) patch[key] = nested;
    } else if (JSON.stringify(old) !== JSON.stringify(value)) patch[key] = value;
  }
  return patch;
}

/**
 * Implements what the HTTP and workload APIs serve from. `methodHandler` decides how `invokeMethod` answers; `calls`
 * records what was asked of it (every desired change, PATCH or PUT, is recorded as the merge patch it amounts to).
 */
export class FakeHub implements ServiceApiHub, WorkloadHub {
  readonly hostName: string;
  readonly caCert = '-----BEGIN CERTIFICATE-----\nRkFLRQ==\n-----END CERTIFICATE-----\n';
  readonly serviceConnectionString: string;
  readonly policyKey = newKey();
  readonly connected = new Set<string>();
  readonly calls: {
    invoke: Array<{ deviceId: string; moduleId?: string; invocation: MethodInvocation }>;
    desired: Array<Record<string, unknown>>;
  } = { invoke: [], desired: [] };
  methodHandler: (
    deviceId: string,
    moduleId: string | undefined,
    invocation: MethodInvocation,
  ) => Promise<MethodResult> = async (_d, _m, invocation) => ({
    status: 200,
    payload: { echo: invocation.payload ?? null },
  });
  /** When set, getTwin throws this (to test the handler's last-resort error path). */
  twinFailure?: Error;

  private readonly devices = new Map<string, DeviceIdentity>();
  private readonly modules = new Map<string, ModuleIdentity>();
  private readonly twins = new Map<string, Twin>();
  private generation = 637000000000000000n;

  constructor(hostName = 'fake-hub.azure-devices.net') {
    this.hostName = hostName;
    this.serviceConnectionString = `HostName=${hostName};SharedAccessKeyName=iothubowner;SharedAccessKey=${this.policyKey}`;
  }

  addDevice(deviceId: string, auth: IdentityAuth = {}): DeviceIdentity {
    const existing = this.devices.get(deviceId);
    if (existing) return existing;
    const primaryKey = auth.primaryKey ?? newKey();
    const device: DeviceIdentity = {
      deviceId,
      primaryKey,
      secondaryKey: auth.secondaryKey ?? newKey(),
      x509Thumbprints: auth.x509Thumbprints ?? [],
      connectionString: `HostName=${this.hostName};DeviceId=${deviceId};SharedAccessKey=${primaryKey}`,
    };
    this.devices.set(deviceId, device);
    this.twins.set(deviceId, this.newTwin(deviceId));
    return device;
  }

  addModule(deviceId: string, moduleId: string, auth: IdentityAuth = {}): ModuleIdentity {
    const id = `${deviceId}/${moduleId}`;
    const existing = this.modules.get(id);
    if (existing) return existing;
    this.addDevice(deviceId);
    const primaryKey = auth.primaryKey ?? newKey();
    this.generation += 1n;
    const mod: ModuleIdentity = {
      deviceId,
      moduleId,
      primaryKey,
      secondaryKey: auth.secondaryKey ?? newKey(),
      x509Thumbprints: auth.x509Thumbprints ?? [],
      generationId: this.generation.toString(),
      connectionString: `HostName=${this.hostName};DeviceId=${deviceId};ModuleId=${moduleId};SharedAccessKey=${primaryKey}`,
    };
    this.modules.set(id, mod);
    this.twins.set(id, this.newTwin(deviceId, moduleId));
    return mod;
  }

  getDevice(deviceId: string): DeviceIdentity | undefined {
    return this.devices.get(deviceId);
  }

  removeDevice(deviceId: string): void {
    this.devices.delete(deviceId);
    this.twins.delete(deviceId);
    for (const mod of this.listModules()) if (mod.deviceId === deviceId) this.removeModule(deviceId, mod.moduleId);
  }

  getModule(deviceId: string, moduleId: string): ModuleIdentity | undefined {
    return this.modules.get(`${deviceId}/${moduleId}`);
  }

  removeModule(deviceId: string, moduleId: string): void {
    this.modules.delete(`${deviceId}/${moduleId}`);
    this.twins.delete(`${deviceId}/${moduleId}`);
  }

  listDevices(): DeviceIdentity[] {
    return [...this.devices.values()];
  }

  listModules(): ModuleIdentity[] {
    return [...this.modules.values()];
  }

  getTwin(deviceId: string, moduleId?: string): Twin {
    if (this.twinFailure) throw this.twinFailure;
    const twin = this.twins.get(moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`);
    if (!twin) throw hubError(404, 404001, 'no such twin');
    return structuredClone(twin);
  }

  updateDesired(deviceId: string, moduleId: string | undefined, patch: Record<string, unknown>): Twin {
    const twin = this.twins.get(moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`);
    if (!twin) throw hubError(404, 404001, 'no such twin');
    this.calls.desired.push(structuredClone(patch));
    merge(twin.properties.desired, patch);
    twin.properties.desired.$version += 1;
    twin.version += 1;
    twin.etag = Buffer.from(`etag-${twin.version}`).toString('base64');
    return structuredClone(twin);
  }

  updateTwin(deviceId: string, moduleId: string | undefined, patch: TwinPatch, ifMatch?: string): Twin {
    const twin = this.checkedTwin(deviceId, moduleId, ifMatch);
    if (patch.tags) merge(twin.tags, patch.tags);
    const desired = patch.properties?.desired ?? {};
    return Object.keys(desired).length > 0 ? this.updateDesired(deviceId, moduleId, desired) : structuredClone(twin);
  }

  replaceTwin(deviceId: string, moduleId: string | undefined, doc: TwinPatch, ifMatch?: string): Twin {
    const twin = this.checkedTwin(deviceId, moduleId, ifMatch);
    twin.tags = structuredClone(doc.tags ?? {});
    const patch = replacementPatch(twin.properties.desired, doc.properties?.desired ?? {});
    return Object.keys(patch).length > 0 ? this.updateDesired(deviceId, moduleId, patch) : structuredClone(twin);
  }

  invokeMethod(deviceId: string, moduleId: string | undefined, invocation: MethodInvocation): Promise<MethodResult> {
    this.calls.invoke.push({ deviceId, ...(moduleId !== undefined ? { moduleId } : {}), invocation });
    return this.methodHandler(deviceId, moduleId, invocation);
  }

  isConnected(clientId: string): boolean {
    return this.connected.has(clientId);
  }

  /** The stored twin, after the `If-Match` check (`*`, absent, or the etag with or without quotes). */
  private checkedTwin(deviceId: string, moduleId: string | undefined, ifMatch: string | undefined): Twin {
    const twin = this.twins.get(moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`);
    if (!twin) throw hubError(404, 404001, 'no such twin');
    const wanted = ifMatch?.trim().replace(/^"(.*)"$/, '$1');
    if (wanted !== undefined && wanted !== '*' && wanted !== twin.etag) throw hubError(412, 412002, 'etag mismatch');
    return twin;
  }

  private newTwin(deviceId: string, moduleId?: string): Twin {
    return {
      deviceId,
      ...(moduleId !== undefined ? { moduleId } : {}),
      etag: Buffer.from('etag-1').toString('base64'),
      version: 1,
      tags: {},
      properties: { desired: { $version: 1 }, reported: { $version: 1 } },
    };
  }
}
