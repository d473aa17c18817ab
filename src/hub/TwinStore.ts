// Module and device twins for the local hub: storage, versions and etags, with IoT Hub's patch rules (twinPatches.ts).
// The MQTT side (a module's GET / reported PATCH, desired pushes) is TwinChannel.ts.
import { clientKey } from './hubTopics';
import { HubError, identityNotFound } from './hubErrors';
import { TWIN_MAX_SECTION_BYTES, mergePatch, stripNulls, validatePatch, type Json } from './twinPatches';
import type { Twin, TwinPatch } from './types';
import { etagMatches, isObject } from './validation';

/** A twin as the hub's state directory keeps it. */
export interface TwinData {
  deviceId: string;
  moduleId?: string;
  tags: Json;
  desired: Json;
  reported: Json;
  desiredVersion: number;
  reportedVersion: number;
  version: number;
  desiredUpdated: string;
  reportedUpdated: string;
}

/** Where the twins' changes are kept (the hub's state directory). */
export interface TwinSink {
  saved(twin: TwinData): void;
  removed(deviceId: string, moduleId?: string): void;
}

/** The twin of one identity. */
class TwinRecord {
  tags: Json = {};
  desired: Json = {};
  reported: Json = {};
  desiredVersion = 1;
  reportedVersion = 1;
  version = 1;
  desiredUpdated = new Date().toISOString();
  reportedUpdated = new Date().toISOString();

  constructor(
    readonly deviceId: string,
    readonly moduleId: string | undefined,
  ) {}

  /** IoT Hub etags are opaque strings; this one is base64 of the twin version, like the real `AAAAAAAAAAE=`. */
  get etag(): string {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(this.version));
    return b.toString('base64');
  }

  data(): TwinData {
    const {
      deviceId,
      moduleId,
      tags,
      desired,
      reported,
      desiredVersion,
      reportedVersion,
      version,
      desiredUpdated,
      reportedUpdated,
    } = this;
    const out: TwinData = {
      deviceId,
      tags,
      desired,
      reported,
      desiredVersion,
      reportedVersion,
      version,
      desiredUpdated,
      reportedUpdated,
    };
    if (moduleId !== undefined) out.moduleId = moduleId;
    return out;
  }

  static from(d: TwinData): TwinRecord {
    const rec = new TwinRecord(d.deviceId, d.moduleId);
    Object.assign(rec, {
      tags: d.tags,
      desired: d.desired,
      reported: d.reported,
      desiredVersion: d.desiredVersion,
      reportedVersion: d.reportedVersion,
      version: d.version,
      desiredUpdated: d.desiredUpdated,
      reportedUpdated: d.reportedUpdated,
    });
    return rec;
  }

  snapshot(): Twin {
    const twin: Twin = {
      deviceId: this.deviceId,
      etag: this.etag,
      version: this.version,
      tags: structuredClone(this.tags),
      properties: {
        desired: {
          ...structuredClone(this.desired),
          $metadata: { $lastUpdated: this.desiredUpdated },
          $version: this.desiredVersion,
        },
        reported: {
          ...structuredClone(this.reported),
          $metadata: { $lastUpdated: this.reportedUpdated },
          $version: this.reportedVersion,
        },
      },
    };
    if (this.moduleId !== undefined) twin.moduleId = this.moduleId;
    return twin;
  }
}

/** All twins of the hub, keyed by identity. */
export class TwinStore {
  private readonly twins = new Map<string, TwinRecord>();
  private sink: TwinSink | undefined;

  /** Puts back twins kept from an earlier run, then reports every change to `sink`. */
  restore(twins: TwinData[], sink: TwinSink): void {
    for (const d of twins)
      this.twins.set(clientKey({ deviceId: d.deviceId, moduleId: d.moduleId }), TwinRecord.from(d));
    this.sink = sink;
  }

  /** Creates the twin when missing. */
  ensure(deviceId: string, moduleId?: string): void {
    const key = clientKey({ deviceId, moduleId });
    if (this.twins.has(key)) return;
    const rec = new TwinRecord(deviceId, moduleId);
    this.twins.set(key, rec);
    this.sink?.saved(rec.data());
  }

  remove(deviceId: string, moduleId?: string): void {
    if (this.twins.delete(clientKey({ deviceId, moduleId }))) this.sink?.removed(deviceId, moduleId);
  }

  /** Removes a device's twin and the twins of all its modules. */
  removeDevice(deviceId: string): void {
    for (const [key, rec] of this.twins) {
      if (rec.deviceId !== deviceId) continue;
      this.twins.delete(key);
      this.sink?.removed(rec.deviceId, rec.moduleId);
    }
  }

  private record(deviceId: string, moduleId?: string): TwinRecord {
    const rec = this.twins.get(clientKey({ deviceId, moduleId }));
    if (!rec) {
      throw identityNotFound(deviceId, moduleId);
    }
    return rec;
  }

  /**
   * The full twin (service view).
   * @throws HubError 404 when the identity is unknown.
   */
  get(deviceId: string, moduleId?: string): Twin {
    return this.record(deviceId, moduleId).snapshot();
  }

  /**
   * The document a module gets for an MQTT twin GET: `{desired: {…, $version}, reported: {…, $version}}`.
   * @throws HubError 404 when the identity is unknown.
   */
  deviceView(deviceId: string, moduleId?: string): { desired: Json; reported: Json } {
    const rec = this.record(deviceId, moduleId);
    return {
      desired: { ...structuredClone(rec.desired), $version: rec.desiredVersion },
      reported: { ...structuredClone(rec.reported), $version: rec.reportedVersion },
    };
  }

  /**
   * Applies a reported-properties patch from the module.
   * @returns the new `reported.$version`.
   * @throws HubError 400 when the patch is invalid or the reported section would exceed 32 KB (no change), 404 when
   *   the identity is unknown.
   */
  patchReported(deviceId: string, moduleId: string | undefined, patch: unknown): number {
    const rec = this.record(deviceId, moduleId);
    const reason = validatePatch(patch);
    if (reason) throw new HubError('ArgumentInvalid', reason);
    const next = structuredClone(rec.reported);
    mergePatch(next, patch as Json);
    if (Buffer.byteLength(JSON.stringify(next)) > TWIN_MAX_SECTION_BYTES) {
      throw new HubError('ArgumentInvalid', 'reported properties exceed 32 KB');
    }
    rec.reported = next;
    rec.reportedVersion++;
    rec.version++;
    rec.reportedUpdated = new Date().toISOString();
    this.sink?.saved(rec.data());
    return rec.reportedVersion;
  }

  /**
   * Service-side update: merges `tags` and `properties.desired` (`null` deletes).
   * @param ifMatch an etag that must match the current one (`*` or undefined = any).
   * @returns the twin after the change and, when desired properties changed, the patch to push to the module
   *   (with `$version`).
   * @throws HubError 400 (invalid patch), 404 (unknown identity), 412 (etag mismatch).
   */
  update(
    deviceId: string,
    moduleId: string | undefined,
    patch: TwinPatch,
    ifMatch?: string,
  ): { twin: Twin; desiredPatch?: Json } {
    return this.apply(deviceId, moduleId, patch, ifMatch, false);
  }

  /**
   * Service-side replace: `tags` and `properties.desired` become exactly what is given (reported is kept).
   * @throws HubError 400 (invalid document), 404 (unknown identity), 412 (etag mismatch).
   */
  replace(
    deviceId: string,
    moduleId: string | undefined,
    doc: TwinPatch,
    ifMatch?: string,
  ): { twin: Twin; desiredPatch?: Json } {
    return this.apply(deviceId, moduleId, doc, ifMatch, true);
  }

  private apply(
    deviceId: string,
    moduleId: string | undefined,
    patch: TwinPatch,
    ifMatch: string | undefined,
    replace: boolean,
  ): { twin: Twin; desiredPatch?: Json } {
    const rec = this.record(deviceId, moduleId);
    if (!etagMatches(ifMatch, rec.etag)) {
      throw new HubError('PreconditionFailed', 'etag mismatch');
    }
    // The declared type is what callers promise; a service REST body arrives unchecked.
    const body: unknown = patch;
    if (!isObject(body)) throw new HubError('ArgumentInvalid', 'the twin patch must be a JSON object');
    const tags = patch.tags === null ? undefined : patch.tags;
    const rawDesired = patch.properties?.desired;
    const desired = rawDesired !== undefined && rawDesired !== null ? stripMeta(rawDesired) : undefined;
    if (tags !== undefined) {
      const reason = validatePatch(tags);
      if (reason) throw new HubError('ArgumentInvalid', `tags: ${reason}`);
    }
    let nextDesired: Json | undefined;
    if (desired !== undefined) {
      const reason = validatePatch(desired);
      if (reason) throw new HubError('ArgumentInvalid', `desired: ${reason}`);
      nextDesired = replace ? stripNulls(desired) : structuredClone(rec.desired);
      if (!replace) mergePatch(nextDesired, desired);
      if (Buffer.byteLength(JSON.stringify(nextDesired)) > TWIN_MAX_SECTION_BYTES) {
        throw new HubError('ArgumentInvalid', 'desired properties exceed 32 KB');
      }
    }
    let changed = false;
    if (tags !== undefined) {
      if (replace) rec.tags = stripNulls(tags);
      else mergePatch(rec.tags, tags);
      changed = true;
    }
    let desiredPatch: Json | undefined;
    if (nextDesired !== undefined) {
      rec.desired = nextDesired;
      rec.desiredVersion++;
      rec.desiredUpdated = new Date().toISOString();
      // A replace is pushed as the whole new document (IoT Hub sends the full desired section then).
      desiredPatch = { ...structuredClone(replace ? nextDesired : (desired as Json)), $version: rec.desiredVersion };
      changed = true;
    }
    if (changed || replace) {
      rec.version++;
      this.sink?.saved(rec.data());
    }
    return desiredPatch ? { twin: rec.snapshot(), desiredPatch } : { twin: rec.snapshot() };
  }
}

function stripMeta(desired: Record<string, unknown>): Json {
  if (!isObject(desired)) return desired;
  const { $version: _v, $metadata: _m, ...rest } = desired;
  return rest;
}
