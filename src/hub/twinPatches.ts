// Twin patch rules as IoT Hub applies them: validation (a JSON object, depth, property names), merge (`null` deletes,
// objects merge) and the size limit of a property section.
import { isObject } from './validation';

/** A twin property document. */
export type Json = Record<string, unknown>;

/** IoT Hub limits on twin property documents. */
export const TWIN_MAX_DEPTH = 10;
export const TWIN_MAX_SECTION_BYTES = 32 * 1024;

/**
 * JSON nesting depth of `v` (an object or an array counts one level each), exact up to `limit + 1` and only known to
 * be over `limit` beyond that. Why bounded: a 256 KiB body can nest ~100 000 levels, and walking all of them
 * recursively overflows the stack (a 500 where IoT Hub answers 400); arrays count so that nesting cannot hide in them.
 */
function depthOf(v: unknown, limit: number): number {
  if (typeof v !== 'object' || v === null) return 0;
  if (limit < 0) return 1;
  let max = 0;
  for (const child of Object.values(v)) {
    max = Math.max(max, depthOf(child, limit - 1));
    if (max > limit) break;
  }
  return 1 + max;
}

function badKey(v: unknown): string | undefined {
  if (!isObject(v)) return undefined;
  for (const [k, child] of Object.entries(v)) {
    // IoT Hub: property names may not contain '.', '$' or a space (nor be empty).
    if (k.length === 0 || /[.$ ]/.test(k)) return k;
    const nested = badKey(child);
    if (nested !== undefined) return nested;
  }
  return undefined;
}

/**
 * Checks a property patch the way IoT Hub does: a JSON object, nesting at most 10 levels, no key with `.`, `$` or
 * space.
 * @returns a reason when invalid, `undefined` when valid.
 */
export function validatePatch(patch: unknown): string | undefined {
  if (!isObject(patch)) return 'the patch must be a JSON object';
  if (depthOf(patch, TWIN_MAX_DEPTH) > TWIN_MAX_DEPTH) return `the patch nests deeper than ${TWIN_MAX_DEPTH} levels`;
  const key = badKey(patch);
  if (key !== undefined) return `invalid property name ${JSON.stringify(key)}`;
  return undefined;
}

/** Merges `patch` into `target` (in place): `null` deletes, objects merge recursively, anything else replaces. */
export function mergePatch(target: Json, patch: Json): void {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete target[k];
    else if (isObject(v)) {
      const existing = target[k];
      const into: Json = isObject(existing) ? existing : {};
      mergePatch(into, v);
      target[k] = into;
    } else target[k] = structuredClone(v);
  }
}

/** A copy of `v` without its `null` properties (at every level): what a full replace (PUT) stores. */
export function stripNulls(v: Json): Json {
  const out: Json = {};
  for (const [k, child] of Object.entries(v)) {
    if (child === null) continue;
    out[k] = isObject(child) ? stripNulls(child) : structuredClone(child);
  }
  return out;
}
