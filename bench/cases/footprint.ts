// Case 6: install footprint — size and package count of a production dependency tree, found by walking node_modules
// from the roots the way Node resolves them (dependencies + installed optionalDependencies).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { FootprintRow } from '../results';

interface Tree {
  packages: Set<string>;
  sizes: Map<string, number>;
  bytes: number;
  files: number;
}

function resolvePackage(name: string, fromDir: string): string | undefined {
  let dir = fromDir;
  for (;;) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return fs.realpathSync(candidate);
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** Bytes and files under `dir`, not descending into nested node_modules (those are packages of their own). */
function sizeOf(dir: string, skip: (p: string) => boolean = () => false): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop()!;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && !skip(p)) stack.push(p);
      } else if (e.isFile()) {
        bytes += fs.statSync(p).size;
        files += 1;
      }
    }
  }
  return { bytes, files };
}

function walk(roots: string[], fromDir: string): Tree {
  const tree: Tree = { packages: new Set(), sizes: new Map(), bytes: 0, files: 0 };
  const queue: Array<[string, string]> = roots.map((r) => [r, fromDir]);
  while (queue.length) {
    const [name, from] = queue.shift()!;
    const dir = resolvePackage(name, from);
    if (!dir || tree.packages.has(dir)) continue;
    tree.packages.add(dir);
    const size = sizeOf(dir);
    tree.sizes.set(path.relative(fromDir, dir), size.bytes);
    tree.bytes += size.bytes;
    tree.files += size.files;
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) queue.push([dep, dir]);
  }
  return tree;
}

function largest(tree: Tree, n = 8): Array<{ name: string; bytes: number }> {
  return [...tree.sizes]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, bytes]) => ({ name: name.replace(/^node_modules\//, ''), bytes }));
}

/** Cross-check: the number of packages `npm ls --omit=dev --all --parseable` lists (root excluded), if npm runs. */
export function npmLsCount(root: string): number | undefined {
  try {
    const out = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const lines = new Set(
      out
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && path.resolve(l) !== path.resolve(root)),
    );
    return lines.size;
  } catch {
    return undefined;
  }
}

/** What `npm pack` would publish of this pack (it honours `files`, including its `!` exclusions). */
function publishedFiles(root: string): { bytes: number; files: number } {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const [pack] = JSON.parse(out) as Array<{ unpackedSize: number; entryCount: number }>;
  if (!pack) throw new Error('npm pack --dry-run printed nothing');
  return { bytes: pack.unpackedSize, files: pack.entryCount };
}

/**
 * Case 6: this pack (its published files + production dependencies) against azure-iot-device + azure-iot-device-mqtt.
 */
export function runFootprint(root: string): FootprintRow[] {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    peerDependencies?: Record<string, string>;
    files?: string[];
  };
  const deps = Object.keys(pkg.dependencies);
  // Optional peers (the state directory's LevelDB packages): installed by whoever wants them, not with the pack.
  const optionalPeers = Object.keys(pkg.peerDependencies ?? {});
  const own = publishedFiles(root);
  const ours = walk(deps, root);
  const withPeers = walk([...deps, ...optionalPeers], root);
  const npmCount = npmLsCount(root);
  const clientRoots = deps.filter((d) => d === 'mqtt' || d === 'undici' || d === 'ws');
  const clientOnly = walk(clientRoots, root);
  const sdkRoots = ['azure-iot-device', 'azure-iot-device-mqtt'];
  const sdk = walk(sdkRoots, root);
  const rows: FootprintRow[] = [
    {
      name: 'this pack (own files + production dependencies)',
      roots: ['<own files>', ...deps],
      packages: ours.packages.size + 1,
      bytes: ours.bytes + own.bytes,
      files: ours.files + own.files,
      largest: [{ name: '<own files>', bytes: own.bytes }, ...largest(ours)]
        .sort((a, b) => b.bytes - a.bytes)
        .slice(0, 8),
    },
    ...(optionalPeers.length === 0
      ? []
      : [
          {
            name: `this pack + optional ${optionalPeers.join(' + ')} (hub state directory)`,
            roots: ['<own files>', ...deps, ...optionalPeers],
            packages: withPeers.packages.size + 1,
            bytes: withPeers.bytes + own.bytes,
            files: withPeers.files + own.files,
            largest: [{ name: '<own files>', bytes: own.bytes }, ...largest(withPeers)]
              .sort((a, b) => b.bytes - a.bytes)
              .slice(0, 8),
          },
        ]),
    {
      name: `this pack, client dependencies only (${clientRoots.join(' + ')})`,
      roots: clientRoots,
      packages: clientOnly.packages.size,
      bytes: clientOnly.bytes,
      files: clientOnly.files,
      largest: largest(clientOnly),
    },
    {
      name: 'azure-iot-device + azure-iot-device-mqtt',
      roots: sdkRoots,
      packages: sdk.packages.size,
      bytes: sdk.bytes,
      files: sdk.files,
      largest: largest(sdk),
    },
  ];
  if (npmCount !== undefined) rows[0]!.npmLsPackages = npmCount;
  return rows;
}
