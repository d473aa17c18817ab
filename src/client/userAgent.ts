// The user agent string (the Python SDK's shape, our identity), used in the MQTT username and HTTP User-Agent.
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';

/** Package name used as the product token. */
export const PRODUCT_NAME = 'node-red-contrib-azure-iot-module';

function packageVersion(): string {
  // Works from src/client (tsx) and dist/src/client (built): walk up to the package.json that names this package.
  let dir = __dirname;
  for (let i = 0; i < 5; i += 1) {
    const candidate = path.join(dir, 'package.json');
    try {
      const pkg = JSON.parse(fs.readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === PRODUCT_NAME && pkg.version) return pkg.version;
    } catch {
      // not here: keep walking up
    }
    dir = path.dirname(dir);
  }
  return '0.0.0';
}

let cached: string | undefined;

/**
 * `node-red-contrib-azure-iot-module/{version}({node version};{os.type()} {os.release()};{arch})` — the Python SDK's
 * shape (no space before `(`). productInfo is appended by the caller.
 */
export function userAgentString(): string {
  cached ??= `${PRODUCT_NAME}/${packageVersion()}(${process.versions.node};${os.type()} ${os.release()};${os.arch()})`;
  return cached;
}
