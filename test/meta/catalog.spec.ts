// The en-US and pt-BR catalogs match key for key and placeholder for placeholder, every error code has text,
// and every catalog key the code and the editor use exists.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const read = (file: string): string => fs.readFileSync(path.join(root, file), 'utf8');
const catalogFiles = fs.readdirSync(path.join(root, 'locales', 'en-US')).filter((f) => f.endsWith('.json'));

function flatten(value: unknown, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    if (child !== null && typeof child === 'object')
      for (const [k, v] of flatten(child, `${prefix}${key}.`)) out.set(k, v);
    else out.set(`${prefix}${key}`, String(child));
  }
  return out;
}

const catalog = (lang: string, file: string): Map<string, string> =>
  flatten(JSON.parse(read(`locales/${lang}/${file}`)));
const placeholders = (text: string): string[] => [...text.matchAll(/__([a-zA-Z0-9_]+)__/g)].map((m) => m[1]!).sort();

/** The string literals of a TypeScript union type alias. */
function unionMembers(file: string, typeName: string): string[] {
  const text = read(file);
  const match = new RegExp(`export type ${typeName} =([^;]+);`).exec(text);
  assert.ok(match, `${typeName} not found in ${file}`);
  return [...match[1]!.matchAll(/'([^']+)'/g)].map((m) => m[1]!);
}

describe('catalogs', () => {
  it('en-US and pt-BR have the same files', () => {
    const pt = fs.readdirSync(path.join(root, 'locales', 'pt-BR')).sort();
    const en = fs.readdirSync(path.join(root, 'locales', 'en-US')).sort();
    assert.deepEqual(pt, en);
  });

  for (const file of catalogFiles) {
    it(`${file}: same keys and placeholders in both languages, no empty text`, () => {
      const en = catalog('en-US', file);
      const pt = catalog('pt-BR', file);
      assert.deepEqual([...pt.keys()].sort(), [...en.keys()].sort());
      for (const [key, text] of en) {
        assert.ok(text.trim() !== '' && pt.get(key)!.trim() !== '', `${file} ${key} is empty`);
        assert.deepEqual(placeholders(pt.get(key)!), placeholders(text), `${file} ${key} placeholders differ`);
      }
    });
  }

  it('every library ErrorCode and node error code has text in both languages', () => {
    const codes = [
      ...unionMembers('src/client/errors.ts', 'ErrorCode'),
      ...unionMembers('nodes/shared/errors.ts', 'NodeErrorCode'),
    ];
    assert.ok(codes.length > 30);
    for (const lang of ['en-US', 'pt-BR']) {
      const texts = catalog(lang, 'iothub-module-client.json');
      for (const code of codes)
        assert.ok(texts.has(`iothub-module-client.errors.${code}`), `${lang} lacks errors.${code}`);
    }
  });

  it('every reason a value cannot be sent as JSON has text about its field in both languages', () => {
    const problems = unionMembers('nodes/shared/errors.ts', 'JsonProblem');
    assert.ok(problems.length >= 6);
    for (const lang of ['en-US', 'pt-BR']) {
      const texts = catalog(lang, 'iothub-module-client.json');
      for (const problem of problems)
        assert.deepEqual(
          placeholders(texts.get(`iothub-module-client.problems.${problem}`) ?? ''),
          ['field'],
          `${lang} problems.${problem}`,
        );
    }
  });

  it('every key the node code uses exists', () => {
    const sources = ['nodes', 'nodes/shared'].flatMap((dir) =>
      fs
        .readdirSync(path.join(root, dir))
        .filter((f) => f.endsWith('.ts'))
        .map((f) => `${dir}/${f}`),
    );
    let checked = 0;
    for (const file of sources) {
      // Literal keys ('status.idle') and template prefixes (`errors.${code}` → every errors.* key).
      for (const m of read(file).matchAll(/catalogKey\('([a-z-]+)', (?:'([a-zA-Z0-9.-]+)'|`([a-zA-Z0-9.-]+)\$\{)/g)) {
        const type = m[1];
        const key = m[2] ?? m[3];
        const prefix = key!.endsWith('.') ? key! : undefined;
        const keys = [...catalog('en-US', `${type}.json`).keys()];
        if (prefix)
          assert.ok(
            keys.some((k) => k.startsWith(`${type}.${prefix}`)),
            `${file}: ${type}.${prefix}*`,
          );
        else assert.ok(keys.includes(`${type}.${key}`), `${file}: ${type}.${key}`);
        checked++;
      }
    }
    assert.ok(checked >= 5, `only ${checked} keys found`);
  });

  it('every data-i18n key and editor RED._ key in the node .html files exists', () => {
    for (const file of fs.readdirSync(path.join(root, 'nodes')).filter((f) => f.endsWith('.html'))) {
      const type = file.replace(/\.html$/, '');
      const keys = new Set(catalog('en-US', `${type}.json`).keys());
      const html = read(`nodes/${file}`);
      for (const m of html.matchAll(/data-i18n="(?:\[[a-z]+\])?([^"]+)"/g))
        assert.ok(keys.has(m[1]!), `${file}: ${m[1]}`);
      for (const m of html.matchAll(/\bt\('([a-zA-Z0-9.-]+)'\)/g))
        assert.ok(keys.has(`${type}.${m[1]}`), `${file}: t('${m[1]}')`);
    }
  });
});
