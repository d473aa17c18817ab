// Copies the Node-RED editor files (node .html, locales/, icons/) beside the built node .js files,
// where Node-RED's registry looks for them, writing the option table (src/client/options.ts) into the .html files
// that validate numeric settings, so the editor checks what the runtime checks, and the config node's settings and
// secrets (nodes/shared/clientConfigFields.ts) into its .html.
import fs from 'node:fs';
import path from 'node:path';
import { CLIENT_CONFIG_FIELDS, CLIENT_CREDENTIALS } from '../nodes/shared/clientConfigFields';
import { OPTION_RULES, readOptionSetting } from '../src/index';

/** The repository root (this file runs built, as dist/scripts/copy-assets.js). */
const root = path.resolve(__dirname, '..', '..');
const out = path.join(root, 'dist', 'nodes');
fs.mkdirSync(out, { recursive: true });
// Marks in a node .html and what the build writes in their place: the option table with the function that reads a
// setting by its rule, and the config node's settings and secrets.
const MARKS: Record<string, string> = {
  '/* OPTION_RULES */ null': `{ rules: ${JSON.stringify(OPTION_RULES)}, read: ${readOptionSetting.toString()} }`,
  '/* CLIENT_CONFIG_FIELDS */ null': JSON.stringify({
    settings: CLIENT_CONFIG_FIELDS,
    credentials: CLIENT_CREDENTIALS,
  }),
};
for (const name of fs.readdirSync(path.join(root, 'nodes'))) {
  if (!name.endsWith('.html')) continue;
  let html = fs.readFileSync(path.join(root, 'nodes', name), 'utf8');
  for (const [mark, script] of Object.entries(MARKS)) html = html.split(mark).join(script);
  fs.writeFileSync(path.join(out, name), html);
}
for (const dir of ['locales', 'icons']) {
  const from = path.join(root, dir);
  if (fs.existsSync(from)) fs.cpSync(from, path.join(out, dir), { recursive: true });
}
