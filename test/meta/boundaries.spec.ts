// Keeps the layering honest: the library knows nothing of Node-RED, only the transport imports mqtt/undici,
// the hub and the client never share parsers, and the library prints nothing.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');

function sourceFiles(dir: string): string[] {
  const full = path.join(root, dir);
  if (!fs.existsSync(full)) return [];
  return fs
    .readdirSync(full, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(dir, f));
}

function importsOf(file: string): string[] {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/(?:from\s+|require\(\s*|import\(\s*)['"]([^'"]+)['"]/g)) found.push(m[1]!);
  return found;
}

function resolveFrom(file: string, spec: string): string {
  return spec.startsWith('.') ? path.normalize(path.join(path.dirname(file), spec)) : spec;
}

describe('module boundaries', () => {
  it('src/** never imports node-red or nodes/', () => {
    for (const file of sourceFiles('src')) {
      for (const spec of importsOf(file)) {
        const target = resolveFrom(file, spec);
        assert.ok(!/^(node-red|@node-red\/)/.test(target), `${file} imports ${spec}`);
        assert.ok(!target.startsWith('nodes'), `${file} imports ${spec}`);
      }
    }
  });

  it('only src/client/transport/* imports mqtt or undici (the hub may use mqtt-packet via aedes only)', () => {
    for (const file of [...sourceFiles('src'), ...sourceFiles('nodes')]) {
      for (const spec of importsOf(file)) {
        if (/^(mqtt|undici)(\/|$)/.test(spec)) {
          assert.ok(file.startsWith(path.join('src', 'client', 'transport')), `${file} imports ${spec}`);
        }
      }
    }
  });

  it('nodes/** reaches the library only through src/index.ts', () => {
    for (const file of sourceFiles('nodes')) {
      for (const spec of importsOf(file)) {
        const target = resolveFrom(file, spec);
        if (target.startsWith('src'))
          assert.equal(target.replace(/\.(ts|js)$/, ''), path.join('src', 'index'), `${file} imports ${spec}`);
      }
    }
  });

  // The demo deploys Node-RED nodes, so it may use the adapters' pure helpers (nodes/shared), never a node file.
  it('scripts/** reach the library only through src/index.ts and nodes only through nodes/shared, never through computed or dist/ paths', () => {
    const files = sourceFiles('scripts');
    assert.ok(files.length > 0, 'scripts/ holds TypeScript');
    for (const file of files) {
      for (const spec of importsOf(file)) {
        const target = resolveFrom(file, spec);
        assert.ok(!target.startsWith('dist'), `${file} imports ${spec}`);
        if (target.startsWith('nodes'))
          assert.ok(target.startsWith(path.join('nodes', 'shared')), `${file} imports ${spec}`);
        if (target.startsWith('src'))
          assert.equal(target.replace(/\.(ts|js)$/, ''), path.join('src', 'index'), `${file} imports ${spec}`);
      }
      assert.ok(
        !/require\(\s*[^'"\s]/.test(fs.readFileSync(path.join(root, file), 'utf8')),
        `${file} requires a computed path`,
      );
    }
  });

  it('src/client/** never imports src/hub/** and the hub never imports the client', () => {
    for (const file of sourceFiles(path.join('src', 'client'))) {
      for (const spec of importsOf(file))
        assert.ok(!resolveFrom(file, spec).startsWith(path.join('src', 'hub')), `${file} imports ${spec}`);
    }
    for (const file of sourceFiles(path.join('src', 'hub'))) {
      for (const spec of importsOf(file))
        assert.ok(!resolveFrom(file, spec).startsWith(path.join('src', 'client')), `${file} imports ${spec}`);
    }
  });

  it('the library prints nothing (console only in CLIs)', () => {
    for (const file of sourceFiles('src')) {
      if (file.endsWith('cli.ts')) continue;
      const text = fs.readFileSync(path.join(root, file), 'utf8');
      assert.ok(!/console\.(log|info|warn|error|debug)/.test(text), `${file} uses console`);
    }
  });
});
