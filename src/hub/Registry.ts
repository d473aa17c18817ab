// The local hub's identity registry: devices and modules with symmetric keys, X.509 thumbprints/CAs, generation ids.
import { X509Certificate, randomBytes } from 'node:crypto';
import { HubError } from './hubErrors';
import type { DeviceIdentity, IdentityAuth, ModuleIdentity } from './types';
import { isValidId } from './validation';
import { localConnectionString, type LocalHubAddress } from './localIdentity';

/** A registry entry (device or module). */
export interface RegistryEntry {
  deviceId: string;
  moduleId?: string;
  primaryKey: string;
  secondaryKey: string;
  /** Upper-case hex, no separators. */
  x509Thumbprints: string[];
  x509CaCerts: string[];
  generationId: string;
}

/** A new symmetric key: base64 of 32 random bytes, like IoT Hub's. */
export function newKey(): string {
  return randomBytes(32).toString('base64');
}

function normaliseThumbprint(t: string): string {
  return t.replace(/[^0-9a-fA-F]/g, '').toUpperCase();
}

/**
 * Checks a device or module id.
 * @throws HubError 400 when the id breaks IoT Hub's rules.
 */
export function checkId(kind: string, id: string): void {
  if (!isValidId(id)) throw new HubError('ArgumentInvalid', `invalid ${kind} id ${JSON.stringify(id)}`);
}

function entryFrom(deviceId: string, moduleId: string | undefined, auth: IdentityAuth | undefined): RegistryEntry {
  const x509 = (auth?.x509Thumbprints?.length ?? 0) > 0 || (auth?.x509CaCerts?.length ?? 0) > 0;
  for (const pem of auth?.x509CaCerts ?? []) {
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw new HubError('ArgumentInvalid', `invalid CA certificate: ${(err as Error).message}`);
    }
  }
  const entry: RegistryEntry = {
    deviceId,
    // X.509 identities only get keys when given (IoT Hub's X.509 devices have none).
    primaryKey: auth?.primaryKey ?? (x509 ? '' : newKey()),
    secondaryKey: auth?.secondaryKey ?? (x509 ? '' : newKey()),
    x509Thumbprints: (auth?.x509Thumbprints ?? []).map(normaliseThumbprint),
    x509CaCerts: [...(auth?.x509CaCerts ?? [])],
    generationId: randomBytes(9).toString('hex'),
  };
  if (moduleId !== undefined) entry.moduleId = moduleId;
  return entry;
}

/** Where the registry's changes are kept (the hub's state directory). */
export interface RegistrySink {
  saved(entry: RegistryEntry): void;
  removed(deviceId: string, moduleId?: string): void;
}

/** The devices and modules the hub knows. Connection strings are made with the hub's current host name and port. */
export class Registry {
  private readonly devices = new Map<string, { entry: RegistryEntry; modules: Map<string, RegistryEntry> }>();
  private sink: RegistrySink | undefined;

  constructor(private readonly where: () => LocalHubAddress) {}

  /** Puts back entries kept from an earlier run (devices before their modules), then reports every change to `sink`. */
  restore(entries: RegistryEntry[], sink: RegistrySink): void {
    const ordered = [...entries].sort((a, b) => Number(a.moduleId !== undefined) - Number(b.moduleId !== undefined));
    for (const e of ordered) {
      if (e.moduleId === undefined)
        this.devices.set(e.deviceId, {
          entry: e,
          modules: this.devices.get(e.deviceId)?.modules ?? new Map<string, RegistryEntry>(),
        });
      else this.devices.get(e.deviceId)?.modules.set(e.moduleId, e);
    }
    this.sink = sink;
  }

  /**
   * Adds a device; returns the existing one when already there (its auth is left unchanged).
   * @throws HubError 400 on an invalid id or CA certificate.
   */
  addDevice(deviceId: string, auth?: IdentityAuth): DeviceIdentity {
    checkId('device', deviceId);
    let d = this.devices.get(deviceId);
    if (!d) {
      d = { entry: entryFrom(deviceId, undefined, auth), modules: new Map() };
      this.devices.set(deviceId, d);
      this.sink?.saved(d.entry);
    }
    return this.deviceView(d.entry);
  }

  /**
   * Adds a module (and its device when missing); returns the existing one when already there.
   * @throws HubError 400 on an invalid id or CA certificate.
   */
  addModule(deviceId: string, moduleId: string, auth?: IdentityAuth): ModuleIdentity {
    checkId('module', moduleId);
    this.addDevice(deviceId);
    const d = this.devices.get(deviceId)!;
    let m = d.modules.get(moduleId);
    if (!m) {
      m = entryFrom(deviceId, moduleId, auth);
      d.modules.set(moduleId, m);
      this.sink?.saved(m);
    }
    return this.moduleView(m);
  }

  /** The raw entry of a device (`moduleId` undefined) or module. */
  entry(deviceId: string, moduleId?: string): RegistryEntry | undefined {
    const d = this.devices.get(deviceId);
    if (!d) return undefined;
    return moduleId === undefined ? d.entry : d.modules.get(moduleId);
  }

  getDevice(deviceId: string): DeviceIdentity | undefined {
    const d = this.devices.get(deviceId);
    return d ? this.deviceView(d.entry) : undefined;
  }

  getModule(deviceId: string, moduleId: string): ModuleIdentity | undefined {
    const m = this.devices.get(deviceId)?.modules.get(moduleId);
    return m ? this.moduleView(m) : undefined;
  }

  /** @returns whether the module existed. */
  removeModule(deviceId: string, moduleId: string): boolean {
    const existed = this.devices.get(deviceId)?.modules.delete(moduleId) ?? false;
    if (existed) this.sink?.removed(deviceId, moduleId);
    return existed;
  }

  /** Removes a device with all its modules. @returns whether it existed. */
  removeDevice(deviceId: string): boolean {
    const d = this.devices.get(deviceId);
    if (!d) return false;
    this.devices.delete(deviceId);
    for (const moduleId of d.modules.keys()) this.sink?.removed(deviceId, moduleId);
    this.sink?.removed(deviceId);
    return true;
  }

  listDevices(): DeviceIdentity[] {
    return [...this.devices.values()].map((d) => this.deviceView(d.entry));
  }

  listModules(deviceId?: string): ModuleIdentity[] {
    const out: ModuleIdentity[] = [];
    for (const [id, d] of this.devices) {
      if (deviceId !== undefined && id !== deviceId) continue;
      for (const m of d.modules.values()) out.push(this.moduleView(m));
    }
    return out;
  }

  private connectionString(e: RegistryEntry): string {
    return localConnectionString(this.where(), e.deviceId, e.moduleId, e.primaryKey);
  }

  private deviceView(e: RegistryEntry): DeviceIdentity {
    return {
      deviceId: e.deviceId,
      primaryKey: e.primaryKey,
      secondaryKey: e.secondaryKey,
      x509Thumbprints: [...e.x509Thumbprints],
      connectionString: this.connectionString(e),
    };
  }

  private moduleView(e: RegistryEntry): ModuleIdentity {
    return {
      deviceId: e.deviceId,
      moduleId: e.moduleId!,
      primaryKey: e.primaryKey,
      secondaryKey: e.secondaryKey,
      x509Thumbprints: [...e.x509Thumbprints],
      generationId: e.generationId,
      connectionString: this.connectionString(e),
    };
  }
}
