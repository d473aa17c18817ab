// Copies the Node-RED editor files (node .html, locales/, icons/) beside the built node .js files,
// where Node-RED's registry looks for them.
import fs from 'node:fs';
import path from 'node:path';

/** The repository root (this file runs built, as dist/scripts/copy-assets.js). */
const root = path.resolve(__dirname, '..', '..');
const out = path.join(root, 'dist', 'nodes');
fs.mkdirSync(out, { recursive: true });
for (const name of fs.readdirSync(path.join(root, 'nodes'))) {
  if (name.endsWith('.html')) fs.copyFileSync(path.join(root, 'nodes', name), path.join(out, name));
}
for (const dir of ['locales', 'icons']) {
  const from = path.join(root, dir);
  if (fs.existsSync(from)) fs.cpSync(from, path.join(out, dir), { recursive: true });
}
