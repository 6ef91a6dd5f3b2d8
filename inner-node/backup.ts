// `inner-node backup DIR` and `inner-node restore DIR [--force]` (issue 8, docs/runbooks.md "Restoring
// a node"). A backup holds, taken in this order: the state database (SQLite online backup, consistent
// while the node runs), then the files it refers to: the sent bundles kept for resends (state/sent/),
// the reject files and the audit log(s); last a manifest, whose presence marks the backup complete.
// Taking the database first means every bundle it records is already on disk when the files are
// copied; a file newer than the database copy is harmless (its sequence is sealed again).
//
// A restore refuses while a node process holds the state (the daemon's pid file, a live export lock,
// the database open), and pauses every dataset, saying so: the restored node must be reconciled with
// each bank before it exports again (an older cursor must not send sequences the bank already has).
import Database from 'better-sqlite3';
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
import { auditLogFile, auditLogFiles, type InnerSettings } from './config.js';
import { daemonPidFile, runningDaemon } from './daemon.js';
import { processAlive } from './state.js';

export const MANIFEST = 'manifest.json';
const STATE_DB = 'inner-state.db';

export interface InnerBackupManifest {
  format: 'govbank-inner-backup/1';
  node: string;
  takenAt: string;
  state: SqliteSnapshot;
  /** sent: bundles kept for resends; audit: the audit log files (one per writer slot), by name. */
  files: { sent: number; rejects: number; audit: string[] };
}

/** Takes a backup of the node into `dir` (created; refused if it already holds a backup). */
export async function backupInnerNode(
  settings: InnerSettings,
  dir: string,
  now: Date = new Date(),
): Promise<InnerBackupManifest> {
  if (existsSync(join(dir, MANIFEST))) {
    throw new BackupError('BACKUP_EXISTS', `${dir} already holds a backup`, {
      hint: 'Choose a new folder (the date in the name is a good habit); a backup is never overwritten',
    });
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // The database first: every bundle it records is then on disk when the files are copied.
  const state = await backupSqlite(join(settings.folders.state, STATE_DB), join(dir, STATE_DB));
  const sent = copyTree(join(settings.folders.state, 'sent'), join(dir, 'sent'));
  const rejects = copyTree(settings.folders.rejects, join(dir, 'rejects'));
  const audit: string[] = [];
  for (const file of auditLogFiles(settings)) {
    cpSync(file, join(dir, basename(file)));
    audit.push(basename(file));
  }
  const manifest: InnerBackupManifest = {
    format: 'govbank-inner-backup/1',
    node: settings.config.node.name,
    takenAt: now.toISOString(),
    state,
    files: { sent, rejects, audit },
  };
  // Last: a folder without its manifest is an interrupted backup.
  writeFileAtomicSync(join(dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, 0o600);
  return manifest;
}

export interface RestoreReport {
  manifest: InnerBackupManifest;
  restored: string[];
  movedAside: string[];
  /** Datasets paused by the restore until reconciled ('inner-node resume'). */
  paused: string[];
}

function readManifest(dir: string): InnerBackupManifest {
  try {
    const manifest = JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) as InnerBackupManifest;
    if (manifest.format !== 'govbank-inner-backup/1') throw new Error(`format ${String(manifest.format)}`);
    return manifest;
  } catch (error) {
    throw new BackupError('BACKUP_CORRUPT', `${dir} holds no complete inner-node backup (${MANIFEST})`, {
      hint: 'Give the folder that inner-node backup wrote; a backup without its manifest was interrupted',
      cause: error,
    });
  }
}

/** Refuses while a node process holds the state: the daemon's pid file, a live export lock, an open database. */
function assertStateFree(settings: InnerSettings, stateDb: string): void {
  const inUse = (detail: string): BackupError =>
    new BackupError('RESTORE_TARGET_IN_USE', `${detail}; not restoring`, {
      hint: 'Stop the node first (systemctl stop govbank-inner, and any inner-node export), then restore again',
    });
  const daemon = runningDaemon(settings.folders.state);
  if (daemon !== undefined)
    throw inUse(`an inner node (pid ${daemon}, ${daemonPidFile(settings.folders.state)}) runs`);
  if (!existsSync(stateDb)) return;
  if (isDatabaseInUse(stateDb)) throw inUse(`${stateDb} is open in a running process`);
  const db = new Database(stateDb, { readonly: true, fileMustExist: true });
  try {
    const locks = db.prepare('SELECT dataset, pid FROM export_locks').all() as {
      dataset: string;
      pid: number;
    }[];
    const live = locks.find((l) => l.pid !== process.pid && processAlive(l.pid));
    if (live) throw inUse(`process ${live.pid} is exporting dataset ${live.dataset}`);
  } catch (error) {
    if (error instanceof BackupError) throw error;
    // An old state database without export_locks: nobody can hold a lock in it.
  } finally {
    db.close();
  }
}

/**
 * Restores a backup taken by backupInnerNode. Refuses while the node runs, refuses to replace an
 * existing state database unless `force` (moved aside, never deleted), and pauses every dataset.
 */
export async function restoreInnerNode(
  settings: InnerSettings,
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
  assertStateFree(settings, stateDb);
  const now = options.now ?? new Date();
  const restored: string[] = [];
  const movedAside: string[] = [];
  const state = await restoreSqlite(join(dir, STATE_DB), stateDb, { force: options.force ?? false, now });
  restored.push(state.file);
  movedAside.push(...state.movedAside);
  // Hold every dataset until reconciled with the banks (runbook step 3); locks of the process that
  // was exporting when the backup was taken mean nothing on this machine.
  const paused: string[] = [];
  const db = new Database(stateDb);
  try {
    db.transaction(() => {
      db.prepare('DELETE FROM export_locks').run();
      const pause = db.prepare(
        'INSERT INTO paused_datasets (dataset, reason, since) VALUES (?, ?, ?) ON CONFLICT (dataset) DO NOTHING',
      );
      for (const dataset of Object.keys(settings.config.datasets).sort()) {
        const reason = `restored from the backup of ${manifest.takenAt}: reconcile with each bank, then inner-node resume --dataset ${dataset}`;
        if (pause.run(dataset, reason, now.toISOString()).changes > 0) paused.push(dataset);
      }
    })();
  } finally {
    db.close();
  }
  const sentDir = join(settings.folders.state, 'sent');
  copyTree(join(dir, 'sent'), sentDir);
  if (existsSync(join(dir, 'sent'))) restored.push(sentDir);
  copyTree(join(dir, 'rejects'), settings.folders.rejects);
  // Audit logs go back under their slot names (audit.log, audit-2.log, ...) beside the configured one.
  for (const name of manifest.files.audit) {
    const into = join(dirname(auditLogFile(settings)), name);
    if (existsSync(into)) {
      const aside = `${into}.before-restore-${now.toISOString().replace(/[:.]/g, '-')}`;
      renameSync(into, aside);
      movedAside.push(aside);
    }
    mkdirSync(dirname(into), { recursive: true, mode: 0o700 });
    cpSync(join(dir, name), into);
    restored.push(into);
  }
  return { manifest, restored, movedAside, paused };
}

/** Bytes of a backup folder, for the CLI's summary. */
export function backupSize(dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .reduce((n, d) => n + statSync(join(d.parentPath, d.name)).size, 0);
}
