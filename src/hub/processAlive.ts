// Whether a process still runs: how the hub tells files left by a process that has ended (discovery files, temp
// directories) from those of one still running.

/** Whether a process with this id runs (one of another user, EPERM, counts as running). Never throws. */
export function processRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
