// Copies the Node-RED editor files (node .html, locales/, icons/) beside the built node .js files,
// where Node-RED's registry looks for them, writing the option table (src/client/options.ts, just built by tsc)
// into the .html files that validate numeric settings, so the editor checks what the runtime checks.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'dist', 'nodes');
fs.mkdirSync(out, { recursive: true });
const { OPTION_RULES, readOptionSetting } = require(path.join(root, 'dist', 'src', 'client', 'options.js'));
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
