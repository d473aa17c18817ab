// Every node type of the pack has its five places (.ts, .html, help in both languages, catalogs, icon, test)
// and package.json maps it to its built file.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const read = (file: string): string => fs.readFileSync(path.join(root, file), 'utf8');
const pkg = JSON.parse(read('package.json')) as {
  'node-red': { nodes: Record<string, string>; plugins?: Record<string, string> };
};
const types = Object.keys(pkg['node-red'].nodes);
// Editor plugins (package.json node-red.plugins) also live in nodes/ but are not node types.
const plugins = Object.keys(pkg['node-red'].plugins ?? {});
const HELP_SECTIONS: Record<string, string[]> = {
  'en-US': ['Inputs', 'Outputs', 'Details'],
  'pt-BR': ['Entradas', 'Saídas', 'Detalhes'],
};

describe('node types', () => {
  it('the pack declares its seven node types', () => {
    assert.deepEqual([...types].sort(), [
      'iothub-module-client',
      'iothub-module-input',
      'iothub-module-invoke',
      'iothub-module-method-request',
      'iothub-module-method-response',
      'iothub-module-output',
      'iothub-module-twin',
    ]);
  });

  it('every top-level nodes/*.ts is a declared node type', () => {
    const files = fs
      .readdirSync(path.join(root, 'nodes'))
      .filter((f) => f.endsWith('.ts') && !plugins.includes(f.replace(/\.ts$/, '')));
    assert.deepEqual(files.map((f) => f.replace(/\.ts$/, '')).sort(), [...types].sort());
  });

  for (const type of types) {
    describe(type, () => {
      it('maps to its built file', () => {
        assert.equal(pkg['node-red'].nodes[type], `dist/nodes/${type}.js`);
      });

      it('has a .ts that registers the type', () => {
        assert.match(read(`nodes/${type}.ts`), new RegExp(`registerType\\('${type}'`));
      });

      it('has an .html with its editor template, registration and icon', () => {
        const html = read(`nodes/${type}.html`);
        assert.match(html, new RegExp(`registerType\\('${type}'`));
        assert.match(html, new RegExp(`data-template-name="${type}"`));
        if (type !== 'iothub-module-client') {
          assert.match(html, /category: 'Azure IoT Edge'/);
          assert.match(html, new RegExp(`icon: '${type}\\.svg'`));
        }
      });

      it('has an icon', () => {
        assert.match(read(`icons/${type}.svg`), /^<svg [^>]*viewBox="0 0 40 60"/);
      });

      for (const lang of ['en-US', 'pt-BR']) {
        it(`has ${lang} help with its sections and a ${lang} catalog`, () => {
          const help = read(`locales/${lang}/${type}.html`);
          assert.match(help, new RegExp(`data-help-name="${type}"`));
          for (const section of HELP_SECTIONS[lang]!)
            assert.ok(help.includes(`<h3>${section}</h3>`), `${lang} help of ${type} lacks ${section}`);
          const catalog = JSON.parse(read(`locales/${lang}/${type}.json`)) as Record<string, unknown>;
          assert.deepEqual(Object.keys(catalog), [type]);
        });
      }

      it('has a flow test', () => {
        assert.ok(fs.existsSync(path.join(root, 'test', 'nodes', `${type}.spec.ts`)), `test/nodes/${type}.spec.ts`);
      });
    });
  }
});
