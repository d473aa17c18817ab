// Every installed package accepts every Node the pack supports (no EBADENGINE from `npm ci` or a user's install on
// any of them), and the supported range is the one the test matrix runs: Node 20, 22 and 24.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import semver from 'semver';

const root = path.resolve(__dirname, '..', '..');
const readJson = <T>(file: string): T => JSON.parse(fs.readFileSync(path.join(root, file), 'utf8')) as T;

interface Lock {
  packages: Record<
    string,
    { version?: string; engines?: { node?: string } | string[]; optional?: boolean; os?: string[]; cpu?: string[] }
  >;
}
const pkg = readJson<{ engines: { node: string }; 'node-red': { version: string } }>('package.json');

/** The oldest Node of each `||` part of a range: the versions a user may have that npm must not warn about. */
function floors(range: string): string[] {
  return range.split('||').map((part) => semver.minVersion(part.trim())!.version);
}

/** Packages of a lockfile whose `engines.node` refuses `version` (platform packages for other systems excepted). */
function refusing(lock: Lock, version: string): string[] {
  return Object.entries(lock.packages)
    .filter(([name, entry]) => name !== '' && !(entry.optional && (entry.os || entry.cpu)))
    .filter(([, entry]) => {
      const range = !Array.isArray(entry.engines) ? entry.engines?.node : undefined;
      return range !== undefined && !semver.satisfies(version, range);
    })
    .map(
      ([name, entry]) =>
        `${name.replace(/^.*node_modules\//, '')}@${entry.version} wants node ${(entry.engines as { node: string }).node}`,
    );
}

describe('engines: the supported Nodes and every dependency agree', () => {
  it('package.json engines is Node 20.19+, 22.12+ and 24, the Nodes of the test matrix', () => {
    assert.deepEqual(floors(pkg.engines.node), ['20.19.0', '22.12.0', '24.0.0']);
    for (const tested of ['20.20.2', '22.23.5', '24.22.3'])
      assert.ok(semver.satisfies(tested, pkg.engines.node), tested);
    assert.ok(!semver.satisfies('26.0.0', pkg.engines.node), 'an untested major is not claimed');
    assert.ok(!semver.satisfies('18.20.0', pkg.engines.node));
  });

  for (const floor of floors(pkg.engines.node)) {
    it(`every package of package-lock.json accepts Node ${floor}`, () => {
      assert.deepEqual(refusing(readJson<Lock>('package-lock.json'), floor), []);
    });
  }

  it('Node-RED 5.0 of the matrix (.ci/node-red-5.0) accepts the Nodes it runs on, 22 and 24', () => {
    const lock = readJson<Lock>('.ci/node-red-5.0/package-lock.json');
    for (const floor of floors(pkg.engines.node).filter((v) => semver.major(v) >= 22))
      assert.deepEqual(refusing(lock, floor), [], floor);
    assert.match(lock.packages['node_modules/node-red']!.version!, /^5\.0\./);
  });

  it('node-red.version admits every Node-RED of the matrix: 3.1, 4.1 and 5.0', () => {
    for (const version of ['3.1.0', '4.1.0', '5.0.0'])
      assert.ok(semver.satisfies(version, pkg['node-red'].version), version);
  });
});
