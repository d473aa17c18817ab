// Copies the Node-RED editor files (node .html, locales/, icons/) beside the built node .js files,
// where Node-RED's registry looks for them, writing the option table (src/client/options.ts) into the .html files
// that validate numeric settings, so the editor checks what the runtime checks.
import fs from 'node:fs';
import path from 'node:path';
import { OPTION_RULES, readOptionSetting } from '../src/index';

/** The repository root (this file runs built, as dist/scripts/copy-assets.js). */
const root = path.resolve(__dirname, '..', '..');
const out = path.join(root, 'dist', 'nodes');
fs.mkdirSync(out, { recursive: true });
// `OPTION_RULES` in a node .html stands for the table and the function that reads a setting by its rule.
const OPTIONS_MARK = '/* OPTION_RULES */ null';
const optionsScript = `{ rules: ${JSON.stringify(OPTION_RULES)}, read: ${readOptionSetting.toString()} }`;
for (const name of fs.readdirSync(path.join(root, 'nodes'))) {
  if (!name.endsWith('.html')) continue;
  const html = fs.readFileSync(path.join(root, 'nodes', name), 'utf8');
  fs.writeFileSync(path.join(out, name), html.split(OPTIONS_MARK).join(optionsScript));
}
for (const dir of ['locales', 'icons']) {
  const from = path.join(root, dir);
  if (fs.existsSync(from)) fs.cpSync(from, path.join(out, dir), { recursive: true });
}
