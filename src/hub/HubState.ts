// The local hub's state directory: TLS material as PEM files, and a LevelDB database (classic-level) holding the
// broker's MQTT sessions (a journal of aedes' in-memory session store) beside the hub's own records (policy key,
// identities, twins, store-and-forward queues), so that a restarted hub is the same hub to its clients.
import type { ClassicLevel } from 'classic-level';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { HubTlsMaterial } from './certs';
import v8 from 'node:v8';
import { SessionJournal, type JournalDb } from './SessionJournal';
import { WriteBehind } from './WriteBehind';

/** Key prefixes of the hub's own records (the `hub` sublevel). */
export const StateKeys = {
  policy: 'policy',
  identity: 'identity:',
  twin: 'twin:',
  held: 'held:',
} as const;

/** The record key of a device (`moduleId` undefined) or module: ids may hold `:` but never a NUL. */
export function identityKey(prefix: string, deviceId: string, moduleId?: string): string {
  return moduleId === undefined ? `${prefix}${deviceId}` : `${prefix}${deviceId}\u0000${moduleId}`;
}

/** The hub's own records: JSON values under string keys, in the `hub` sublevel. */
function openRecords(db: ClassicLevel<string, unknown>) {
  return db.sublevel<string, unknown>('hub', { valueEncoding: 'json' });
}
type Records = ReturnType<typeof openRecords>;

/** The packages a state directory needs: optional peer dependencies of the pack, installed beside it on demand. */
export const STATE_PACKAGES = ['classic-level'] as const;

/**
 * Which of {@link STATE_PACKAGES} cannot be loaded from here (none in a clone of this repository, where they are
 * dev dependencies; all in a pack installed without them).
 * @throws never
 */
export function missingStatePackages(resolve: (name: string) => string = require.resolve): string[] {
  return STATE_PACKAGES.filter((name) => {
    try {
      resolve(name);
      return false;
    } catch {
      return true;
    }
  });
}

/** What to tell a user whose hub needs a state directory without the packages for it. */
export function statePackagesHint(missing: readonly string[]): string {
  return (
    `a state directory needs the optional package${missing.length > 1 ? 's' : ''} ` +
    `${missing.join(' and ')}: install ${missing.length > 1 ? 'them' : 'it'} beside this pack (npm install ` +
    `${STATE_PACKAGES.join(' ')}), or run the hub with --ephemeral (nothing kept)`
  );
}

const TLS_FILES = {
  caCert: 'ca.pem',
  caKey: 'ca-key.pem',
  serverCert: 'server.pem',
  serverKey: 'server-key.pem',
} as const;

/**
 * The default state directory of a hub: `<user data dir>/azure-iot-local-hub/<hub name>`, the hub name being the
 * host name without `.azure-devices.net`. The user data dir is `$XDG_DATA_HOME` or `~/.local/share` (Linux and
 * other Unix), `~/Library/Application Support` (macOS), `%LOCALAPPDATA%` (Windows).
 * @throws never
 */
export function defaultStateDir(
  hostName: string,
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): string {
  const home = os.homedir();
  let base: string;
  if (platform === 'win32') base = env.LOCALAPPDATA || path.join(home, 'AppData', 'Local');
  else if (platform === 'darwin') base = path.join(home, 'Library', 'Application Support');
  else
    base =
      env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : path.join(home, '.local', 'share');
  const name = hostName.replace(/\.azure-devices\.net$/i, '').replace(/[^A-Za-z0-9.-]/g, '_');
  return path.join(base, 'azure-iot-local-hub', name);
}

/** Writes a file so that a crash leaves either the old or the new content (temp file, fsync, rename). */
async function writeFileAtomic(file: string, content: string, mode: number): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  const handle = await fs.open(temp, 'w', mode);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(temp, file);
}

/**
 * An open state directory. Hub records are written behind the in-memory state, in order and coalesced per key;
 * {@link settled} resolves once every change made before the call is in the database, and the hub waits for it
 * before it acknowledges a change (HTTP response, twin response, PUBACK of a routed message).
 */
export class HubState {
  private readonly changes: WriteBehind<unknown>;
  private closed = false;
  /** The broker's sessions, once {@link brokerPersistence} has made them. */
  private sessions: SessionJournal | undefined;

  private constructor(
    readonly dir: string,
    private readonly db: ClassicLevel<string, unknown>,
    private readonly records: Records,
    private readonly onError: (err: Error) => void,
  ) {
    this.changes = new WriteBehind(records, onError);
  }

  /**
   * Opens (creating when missing) a state directory.
   * @throws when classic-level is not installed, the directory cannot be created, or the
   * database is locked by another hub process or corrupt.
   */
  static async open(dir: string, onError: (err: Error) => void = () => undefined): Promise<HubState> {
    const missing = missingStatePackages();
    if (missing.length > 0) throw new Error(statePackagesHint(missing));
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    // Loaded only for a hub with a state directory: an in-memory hub never loads LevelDB's native binding.
    const { ClassicLevel } = await import('classic-level');
    const db = new ClassicLevel<string, unknown>(path.join(dir, 'db'), { valueEncoding: 'json' });
    try {
      await db.open();
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      if (cause?.code === 'LEVEL_LOCKED')
        throw new Error(`the state directory ${dir} is in use by another hub`, { cause: err });
      throw err;
    }
    const state = new HubState(dir, db, openRecords(db), onError);
    await state.forgetOldSessionLayout();
    return state;
  }

  /**
   * The aedes persistence for the broker's MQTT sessions, in this database, written behind: {@link settled} also
   * waits for the session changes made before it.
   */
  brokerPersistence(): unknown {
    // Values are structured clones (v8 serialization: buffers and plain objects, readable by later Node versions).
    const sublevel = this.db.sublevel<string, unknown>('sessions', {
      valueEncoding: { name: 'v8', format: 'buffer', encode: (v: unknown) => v8.serialize(v), decode: v8.deserialize },
    });
    this.sessions = new SessionJournal(sublevel as unknown as JournalDb, this.onError);
    return this.sessions;
  }

  /**
   * Earlier versions of the hub kept MQTT sessions in another layout (sublevel `mqtt`, aedes-persistence-level): those
   * are dropped, once; their clients get session present = 0 at their next connect and subscribe again.
   */
  private async forgetOldSessionLayout(): Promise<void> {
    const old = this.db.sublevel<string, unknown>('mqtt', { valueEncoding: 'buffer' });
    if ((await old.keys({ limit: 1 }).all()).length === 0) return;
    await old.clear();
    this.onError(new Error('MQTT sessions stored by an earlier version of the hub were not kept'));
  }

  /** Where the CA certificate file lives (stable across restarts). */
  get caCertPath(): string {
    return path.join(this.dir, TLS_FILES.caCert);
  }

  /**
   * The TLS material kept in the directory, or `undefined` when there is none yet.
   * @throws when a file exists but cannot be read.
   */
  async loadTls(): Promise<HubTlsMaterial | undefined> {
    const read = async (name: string): Promise<string | undefined> => {
      try {
        return await fs.readFile(path.join(this.dir, name), 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
    };
    const [caCert, caKey, serverCert, serverKey] = await Promise.all(
      [TLS_FILES.caCert, TLS_FILES.caKey, TLS_FILES.serverCert, TLS_FILES.serverKey].map(read),
    );
    if (caCert === undefined || serverCert === undefined || serverKey === undefined) return undefined;
    return caKey === undefined ? { caCert, serverCert, serverKey } : { caCert, caKey, serverCert, serverKey };
  }

  /**
   * Keeps TLS material in the directory (keys readable by the owner only). The server files are written before the
   * CA file, which is the one {@link loadTls} looks for last.
   * @throws on file system errors.
   */
  async saveTls(material: HubTlsMaterial): Promise<void> {
    await writeFileAtomic(path.join(this.dir, TLS_FILES.serverKey), material.serverKey, 0o600);
    await writeFileAtomic(path.join(this.dir, TLS_FILES.serverCert), material.serverCert, 0o644);
    if (material.caKey !== undefined)
      await writeFileAtomic(path.join(this.dir, TLS_FILES.caKey), material.caKey, 0o600);
    await writeFileAtomic(path.join(this.dir, TLS_FILES.caCert), material.caCert, 0o644);
  }

  /** Every hub record whose key starts with `prefix`, in key order. */
  async list<T>(prefix: string): Promise<Array<[string, T]>> {
    const out: Array<[string, T]> = [];
    // Keys are UTF-8; U+FFFF sorts after every character an id or a counter holds.
    for await (const [key, value] of this.records.iterator({ gte: prefix, lt: `${prefix}\uffff` }))
      out.push([key, value as T]);
    return out;
  }

  /** One hub record, or undefined. */
  async get<T>(key: string): Promise<T | undefined> {
    return (await this.records.get(key)) as T | undefined;
  }

  /** Records a change (a JSON value) to be written behind; a later change of the same key replaces it. */
  put(key: string, value: unknown): void {
    this.changes.put(key, value);
  }

  /** Records a deletion to be written behind. */
  del(key: string): void {
    this.changes.del(key);
  }

  /**
   * Resolves once every change recorded before this call (hub records and MQTT sessions) is in the database (never
   * rejects).
   */
  async settled(): Promise<void> {
    await Promise.all([this.changes.settled(), this.sessions?.settled()]);
  }

  /** Writes what is pending, then closes the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([this.changes.close(), this.sessions?.close()]);
    await this.db.close();
  }
}
