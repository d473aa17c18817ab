// Catalog lookup for runtime text: Node-RED's RED._ first, the package's en-US catalog files as a fallback.
import fs from 'node:fs';
import path from 'node:path';
import type { RedApi } from './red';

/** The npm package name: Node-RED registers each node's catalog under `<module>/<type>`. */
export const MODULE = 'node-red-contrib-azure-iot-module';

/** The fully qualified key of `key` in the catalog of node type `type` (works from any node and in the editor). */
export function catalogKey(type: string, key: string): string {
  return `${MODULE}/${type}:${type}.${key}`;
}

const fallbackCatalogs = new Map<string, Record<string, unknown> | null>();

function localesDir(): string | undefined {
  // Source tree: nodes/shared → ../../locales; build: dist/nodes/shared → ../locales (copied beside the nodes).
  for (const candidate of [path.join(__dirname, '..', 'locales'), path.join(__dirname, '..', '..', 'locales')]) {
    if (fs.existsSync(path.join(candidate, 'en-US'))) return candidate;
  }
  return undefined;
}

function loadFallback(type: string): Record<string, unknown> | null {
  if (!fallbackCatalogs.has(type)) {
    const dir = localesDir();
    let catalog: Record<string, unknown> | null = null;
    try {
      if (dir)
        catalog = JSON.parse(fs.readFileSync(path.join(dir, 'en-US', `${type}.json`), 'utf8')) as Record<
          string,
          unknown
        >;
    } catch {
      catalog = null;
    }
    fallbackCatalogs.set(type, catalog);
  }
  return fallbackCatalogs.get(type) ?? null;
}

function lookup(fullKey: string): string | undefined {
  const match = /^[^:]+\/([^:/]+):(.+)$/.exec(fullKey);
  if (!match) return undefined;
  let value: unknown = loadFallback(match[1]!);
  for (const part of match[2]!.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return typeof value === 'string' ? value : undefined;
}

/** Node-RED's `__name__` placeholder syntax. */
export function interpolate(text: string, substitutions: Record<string, unknown> = {}): string {
  return text.replace(/__([a-zA-Z0-9_]+)__/g, (whole, name: string) =>
    name in substitutions ? String(substitutions[name]) : whole,
  );
}

/**
 * Translates a fully qualified catalog key. When the runtime cannot resolve it (catalog not registered, or a test
 * harness whose RED._ is the identity) the en-US catalog file is read instead, so people never see a raw key.
 */
export function translate(RED: RedApi, fullKey: string, substitutions?: Record<string, unknown>): string {
  let text: string | undefined;
  try {
    text = RED._(fullKey, substitutions);
  } catch {
    text = undefined;
  }
  // i18next answers a missing key with the key itself, with or without its namespace.
  const bare = fullKey.slice(fullKey.indexOf(':') + 1);
  if (typeof text === 'string' && text.length > 0 && text !== fullKey && text !== bare) return text;
  const fallback = lookup(fullKey);
  return fallback === undefined ? fullKey : interpolate(fallback, substitutions);
}
