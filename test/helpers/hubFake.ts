// A small in-memory stand-in for LocalHubApi (registry, twins, methods) to test the HTTP and workload APIs in isolation.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type {
  DeviceIdentity, EdgeEnvironment, HubErrorShape, HubEvents, HubFaults, HubObservations, IdentityAuth, LocalHubApi,
  MethodInvocation, MethodResult, ModuleIdentity, Twin,
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
    else if (typeof value === 'object' && !Array.isArray(value) && typeof target[key] === 'object' && target[key] !== null) {
      merge(target[key] as Record<string, unknown>, value as Record<string, unknown>);
    } else target[key] = value;
  }
}

/**
 * Implements the LocalHubApi members the HTTP and workload APIs use; everything else throws.
 * `methodHandler` decides how `invokeMethod` answers; `calls` records what was asked of it.
 */
export class FakeHub implements LocalHubApi {
  readonly hostName: string;
  readonly port = 0;
  readonly mqttPort = 0;
  readonly standardPorts = false;
  readonly caCert = '-----BEGIN CERTIFICATE-----\nRkFLRQ==\n-----END CERTIFICATE-----\n';
  readonly caCertPath = '/nonexistent/ca.pem';
  readonly serviceConnectionString: string;
  readonly policyKey = newKey();
  readonly events = new EventEmitter<HubEvents>();
  readonly connected = new Set<string>();
  readonly calls: { invoke: Array<{ deviceId: string; moduleId?: string; invocation: MethodInvocation }>; desired: Array<Record<string, unknown>> } = { invoke: [], desired: [] };
  methodHandler: (deviceId: string, moduleId: string | undefined, invocation: MethodInvocation) => Promise<MethodResult> =
    async (_d, _m, invocation) => ({ status: 200, payload: { echo: invocation.payload ?? null } });
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

  get faults(): HubFaults {
    throw new Error('FakeHub has no faults');
  }

  get observed(): HubObservations {
    throw new Error('FakeHub has no observations');
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

  edgeEnvironment(): EdgeEnvironment {
    throw new Error('FakeHub has no edge environment');
  }

  setRoutes(): void {
    throw new Error('FakeHub has no routes');
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

  invokeMethod(deviceId: string, moduleId: string | undefined, invocation: MethodInvocation): Promise<MethodResult> {
    this.calls.invoke.push({ deviceId, ...(moduleId !== undefined ? { moduleId } : {}), invocation });
    return this.methodHandler(deviceId, moduleId, invocation);
  }

  sendToInput(): Promise<void> {
    return Promise.reject(new Error('FakeHub cannot deliver messages'));
  }

  isConnected(clientId: string): boolean {
    return this.connected.has(clientId);
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  restart(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
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
