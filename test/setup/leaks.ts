// Fails the run, loudly and at once, when a test leaves a socket, server or timer behind: mocha runs without
// --exit, so a leak would otherwise hang CI until its time limit instead of naming the culprit.
const GRACE_MS = 10_000;
const stdio = new Set<unknown>([process.stdin, process.stdout, process.stderr]);

function describeHandle(handle: unknown): string {
  const h = handle as {
    constructor?: { name?: string };
    remoteAddress?: string;
    remotePort?: number;
    localPort?: number;
    address?: () => unknown;
    _onTimeout?: { name?: string };
    _idleTimeout?: number;
  };
  const kind = h.constructor?.name ?? typeof handle;
  if (h.remotePort !== undefined) return `${kind} ${h.remoteAddress}:${h.remotePort} (local ${h.localPort})`;
  if (typeof h.address === 'function') {
    try {
      return `${kind} listening on ${JSON.stringify(h.address())}`;
    } catch {
      return kind;
    }
  }
  if (h._onTimeout) return `${kind} ${h._onTimeout.name || 'anonymous'}() every/after ${h._idleTimeout} ms`;
  return kind;
}

function leakedHandles(): string[] {
  const getHandles = (process as unknown as { _getActiveHandles: (this: NodeJS.Process) => unknown[] })
    ._getActiveHandles;
  const handles = getHandles
    .call(process)
    .filter((h) => !stdio.has(h) && (h as { hasRef?: () => boolean }).hasRef?.() !== false)
    .map(describeHandle);
  // Timers are not handles: count the referenced ones (unref'd timers do not keep the process alive).
  const timers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  if (timers > 0) handles.push(`${timers} referenced timer(s) (setTimeout / setInterval not cleared or unref'd)`);
  return handles;
}

export async function mochaGlobalTeardown(): Promise<void> {
  const deadline = Date.now() + GRACE_MS;
  let leaked = leakedHandles();
  while (leaked.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100).unref());
    leaked = leakedHandles();
  }
  if (leaked.length === 0) return;
  process.stderr.write(
    `\nLeak check: ${leaked.length} handle(s) still open ${GRACE_MS / 1000} s after the last test:\n`,
  );
  for (const handle of leaked) process.stderr.write(`  - ${handle}\n`);
  process.stderr.write('Failing the run (a leaked socket or timer is a bug, not something to hide with --exit).\n');
  process.exit(1);
}
