// `outer-node backup DIR` and `outer-node restore DIR [--force]` (issue 8). A backup holds, taken in
// this order: the state database (SQLite online backup, consistent while the node runs); for a SQLite
// bank target the bank database too (online backup: its ledger and the lending tables come with it);
// then the files: bundles claimed or queued but not applied yet, the quarantine, the reject files and
// the audit log; last a manifest, whose presence marks the backup complete.
//
// PostgreSQL and MariaDB bank databases are backed up with the bank's own tools (pg_dump, mariabackup):
// the ledger lives there, in the same transactions as the rows, so whatever point the bank restores
// to, the ledger agrees with the rows, and bundles delivered again are recognised as duplicates.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomicSync } from '../shared/atomic-file.js';
import {
  BackupError,
  backupSqlite,
  copyTree,
  isDatabaseInUse,
  restoreSqlite,
  type SqliteSnapshot,
} from '../shared/state-backup.js';
import { auditLogFile, auditLogFiles, lendingDatabase, type OuterSettings } from './config.js';

export const MANIFEST = 'manifest.json';
const STATE_DB = 'outer-state.db';
const BANK_DB = 'bank.db';
const LENDING_DB = 'lending.db';

export interface OuterBackupManifest {
  format: 'govbank-outer-backup/1';
  node: string;
  takenAt: string;
  state: SqliteSnapshot;
  /** The SQLite bank database (absent for PostgreSQL/MariaDB targets: the bank backs those up). */
  bank?: SqliteSnapshot;
  /** A separate SQLite lending database (lending.db), when configured. */
  lending?: SqliteSnapshot;
  targetKind: string;
  /** audit: the audit log files (one per writer slot), by name in the backup. */
  files: { pending: number; quarantine: number; rejects: number; audit: string[] };
}

/** Every regular file under `dir` whose name ends in .gbb, at any depth (queue and work folders). */
function bundleFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && d.name.endsWith('.gbb'))
    .map((d) => join(d.parentPath, d.name));
}

/** Takes a backup of the node into `dir` (created; refused if it already holds a backup). */
export async function backupOuterNode(
  settings: OuterSettings,
  dir: string,
  now: Date = new Date(),
): Promise<OuterBackupManifest> {
  if (existsSync(join(dir, MANIFEST))) {
    throw new BackupError('BACKUP_EXISTS', `${dir} already holds a backup`, {
      hint: 'Choose a new folder (the date in the name is a good habit); a backup is never overwritten',
    });
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // The database first: every file it refers to is then on disk when the files are copied.
  const state = await backupSqlite(join(settings.folders.state, STATE_DB), join(dir, STATE_DB));
  const target = settings.config.target;
  const bank =
    target.kind === 'sqlite'
      ? await backupSqlite(settings.resolve(target.path), join(dir, BANK_DB))
      : undefined;
  const lendingDb = lendingDatabase(settings);
  const lending =
    settings.config.lending.db !== undefined && lendingDb !== undefined && existsSync(lendingDb)
      ? await backupSqlite(lendingDb, join(dir, LENDING_DB))
      : undefined;
  // Bundles claimed or queued but not applied: restored into the inbox, where the ledger sorts them.
  const pendingDir = join(dir, 'pending');
  let pending = 0;
  for (const file of bundleFiles(join(settings.folders.state, 'queue')).concat(
    bundleFiles(join(settings.folders.state, 'work')),
  )) {
    mkdirSync(pendingDir, { recursive: true, mode: 0o700 });
    try {
      cpSync(file, join(pendingDir, `${pending}-${basename(file)}`), { errorOnExist: false, force: false });
      pending++;
    } catch {
      // applied and removed meanwhile: the ledger has it
    }
  }
  const quarantine = copyTree(settings.folders.quarantine, join(dir, 'quarantine'));
  const rejects = copyTree(settings.folders.rejects, join(dir, 'rejects'));
  const audit: string[] = [];
  for (const file of auditLogFiles(settings)) {
    cpSync(file, join(dir, basename(file)));
    audit.push(basename(file));
  }
  const manifest: OuterBackupManifest = {
    format: 'govbank-outer-backup/1',
    node: settings.config.node.name,
    takenAt: now.toISOString(),
    state,
    ...(bank ? { bank } : {}),
    ...(lending ? { lending } : {}),
    targetKind: target.kind,
    files: { pending, quarantine, rejects, audit },
  };
  writeFileAtomicSync(join(dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, 0o600);
  return manifest;
}

export interface RestoreReport {
  manifest: OuterBackupManifest;
  restored: string[];
  movedAside: string[];
  /** Bundles put back into the inbox (the ledger recognises any that were applied). */
  redelivered: number;
}

function readManifest(dir: string): OuterBackupManifest {
  try {
    const manifest = JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) as OuterBackupManifest;
    if (manifest.format !== 'govbank-outer-backup/1') throw new Error(`format ${String(manifest.format)}`);
    return manifest;
  } catch (error) {
    throw new BackupError('BACKUP_CORRUPT', `${dir} holds no complete outer-node backup (${MANIFEST})`, {
      hint: 'Give the folder that outer-node backup wrote; a backup without its manifest was interrupted',
      cause: error,
    });
  }
}

/**
 * Restores a backup taken by backupOuterNode. Refuses while the node runs (its databases are open),
 * and refuses to replace existing databases unless `force` (they are moved aside, never deleted).
 */
export async function restoreOuterNode(
  settings: OuterSettings,
  dir: string,
  options: { force?: boolean; now?: Date } = {},
): Promise<RestoreReport> {
  const manifest = readManifest(dir);
  if (manifest.node !== settings.config.node.name && !options.force) {
    throw new BackupError(
      'RESTORE_TARGET_EXISTS',
      `${dir} is a backup of node ${manifest.node}, not ${settings.config.node.name}`,
      { hint: 'Restore the backup of this node, or pass --force if the node was renamed' },
    );
  }
  const stateDb = join(settings.folders.state, STATE_DB);
  const target = settings.config.target;
  const bankDb = target.kind === 'sqlite' ? settings.resolve(target.path) : undefined;
  const lendingDb = settings.config.lending.db !== undefined ? lendingDatabase(settings) : undefined;
  // Every database is checked before any is replaced: a half-done restore is worse than none.
  for (const file of [stateDb, bankDb, lendingDb]) {
    if (file !== undefined && existsSync(file) && isDatabaseInUse(file)) {
      throw new BackupError('RESTORE_TARGET_IN_USE', `${file} is open in a running process; not restoring`, {
        hint: 'Stop the node first (systemctl stop govbank-outer), then restore again',
      });
    }
  }
  if (!options.force) {
    const existing = [stateDb, manifest.bank ? bankDb : undefined, manifest.lending ? lendingDb : undefined]
      .filter((f): f is string => f !== undefined)
      .filter((f) => existsSync(f));
    if (existing.length > 0) {
      throw new BackupError(
        'RESTORE_TARGET_EXISTS',
        `${existing.join(', ')} already exist(s); not restoring over`,
        {
          hint: 'Restore onto an emptied node, or pass --force to move the current databases aside',
        },
      );
    }
  }
  const restoreOptions = { force: options.force ?? false, ...(options.now ? { now: options.now } : {}) };
  const restored: string[] = [];
  const movedAside: string[] = [];
  const state = await restoreSqlite(join(dir, STATE_DB), stateDb, restoreOptions);
  restored.push(state.file);
  movedAside.push(...state.movedAside);
  if (manifest.bank && bankDb !== undefined) {
    const bank = await restoreSqlite(join(dir, BANK_DB), bankDb, restoreOptions);
    restored.push(bank.file);
    movedAside.push(...bank.movedAside);
  }
  if (manifest.lending && lendingDb !== undefined) {
    const lending = await restoreSqlite(join(dir, LENDING_DB), lendingDb, restoreOptions);
    restored.push(lending.file);
    movedAside.push(...lending.movedAside);
  }
  copyTree(join(dir, 'quarantine'), settings.folders.quarantine);
  copyTree(join(dir, 'rejects'), settings.folders.rejects);
  // Audit logs go back under their slot names (audit.log, audit-2.log, ...) beside the configured one.
  for (const name of manifest.files.audit) {
    const into = join(dirname(auditLogFile(settings)), name);
    if (existsSync(into)) {
      const stamp = (options.now ?? new Date()).toISOString().replace(/[:.]/g, '-');
      const aside = `${into}.before-restore-${stamp}`;
      renameSync(into, aside);
      movedAside.push(aside);
    }
    cpSync(join(dir, name), into);
    restored.push(into);
  }
  let redelivered = 0;
  const pendingDir = join(dir, 'pending');
  if (existsSync(pendingDir)) {
    mkdirSync(settings.folders.inbox, { recursive: true });
    for (const name of readdirSync(pendingDir)) {
      // A queued file's name is sequence~bundle~token~original: the inbox gets the original name back.
      const original = name.replace(/^\d+-/, '').split('~').at(-1) ?? name;
      let to = join(settings.folders.inbox, original);
      for (let n = 1; existsSync(to); n++)
        to = join(settings.folders.inbox, original.replace(/\.gbb$/, `~b${n}.gbb`));
      cpSync(join(pendingDir, name), to);
      redelivered++;
    }
  }
  return { manifest, restored, movedAside, redelivered };
}

/** Bytes of a backup folder, for the CLI's summary. */
export function backupSize(dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .reduce((n, d) => n + statSync(join(d.parentPath, d.name)).size, 0);
}
