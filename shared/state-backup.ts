// Backup and restore of a node's state database (issue 8). The backup is SQLite's online backup
// (better-sqlite3's db.backup()), so it is consistent while the node keeps running; the copy is
// checked with integrity_check and appears under its final name only when whole (style.md rule 6).
// A restore never lands on a database that a process still has open, and moves the old database's
// -wal and -shm files aside with it: a stale write-ahead log replayed onto the restored file would
// corrupt it.
import Database from 'better-sqlite3';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { publishFile, syncDirectory, temporaryNameFor } from './atomic-file.js';
import { BridgeError } from './errors.js';

export type BackupErrorCode =
  | 'BACKUP_SOURCE_MISSING'
  | 'BACKUP_EXISTS'
  | 'BACKUP_CORRUPT'
  | 'RESTORE_TARGET_EXISTS'
  | 'RESTORE_TARGET_IN_USE';

/** Refusals of a backup or restore; each says what to do (style.md rule 8). */
export class BackupError extends BridgeError<BackupErrorCode> {
  readonly family = 'BackupError';
}

export interface SqliteSnapshot {
  /** The file that was written (the backup, or the restored database). */
  file: string;
  bytes: number;
  /** Rows per table, so an operator (and a test) can compare a backup with its source. */
  tables: Record<string, number>;
}

/** Rows per user table (names come from sqlite_schema, quoted; nothing from outside goes into SQL). */
function tableCounts(db: Database.Database): Record<string, number> {
  const names = (
    db
      .prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      )
      .all() as { name: string }[]
  ).map((r) => r.name);
  const counts: Record<string, number> = {};
  for (const name of names) {
    const row = db.prepare(`SELECT COUNT(*) AS n FROM "${name.replaceAll('"', '""')}"`).get() as {
      n: number;
    };
    counts[name] = row.n;
  }
  return counts;
}

/**
 * Turns a fresh copy into one self-contained file: the copy inherits WAL mode from a live database,
 * and a WAL database leaves -wal and -shm files beside it whenever it is opened. The node switches
 * its state database back to WAL when it opens it.
 */
function makeSelfContained(file: string): void {
  const db = new Database(file, { fileMustExist: true });
  try {
    db.pragma('journal_mode = DELETE');
  } finally {
    db.close();
  }
}

/** Runs PRAGMA integrity_check on a file; returns the problems ([] when the file is sound). */
export function integrityProblems(file: string): string[] {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const rows = db.pragma('integrity_check') as { integrity_check: string }[];
    const messages = rows.map((r) => r.integrity_check);
    return messages.length === 1 && messages[0] === 'ok' ? [] : messages;
  } catch (error) {
    return [error instanceof Error ? error.message : String(error)];
  } finally {
    db?.close();
  }
}

function snapshotOf(file: string): SqliteSnapshot {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return { file, bytes: statSync(file).size, tables: tableCounts(db) };
  } finally {
    db.close();
  }
}

/**
 * Whether another connection (this process or another) has the database open: an exclusive lock
 * cannot be taken while any connection holds it. A node that is running always holds its state
 * database open, so this is how a restore tells a live database from a stopped one.
 */
export function isDatabaseInUse(file: string): boolean {
  if (!existsSync(file)) return false;
  const db = new Database(file, { timeout: 0, fileMustExist: true });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    db.exec('COMMIT');
    return false;
  } catch (error) {
    if (
      (error as { code?: string }).code === 'SQLITE_BUSY' ||
      (error as { code?: string }).code === 'SQLITE_LOCKED'
    ) {
      return true;
    }
    throw error;
  } finally {
    db.close();
  }
}

/**
 * Copies a live SQLite database to `dest` with the online backup API, checks the copy, and publishes
 * it by rename (mode 0600: a state database holds cursor keys that can be resident ID numbers).
 * Refuses to overwrite an existing file.
 */
export async function backupSqlite(src: string, dest: string): Promise<SqliteSnapshot> {
  if (!existsSync(src)) {
    throw new BackupError('BACKUP_SOURCE_MISSING', `No database to back up at ${src}`, {
      hint: "Check the node's state folder (folders.state in its configuration)",
    });
  }
  if (existsSync(dest)) {
    throw new BackupError('BACKUP_EXISTS', `The backup file ${dest} already exists`, {
      hint: 'Choose a new name (the date in the name is a good habit); a backup is never overwritten',
    });
  }
  mkdirSync(dirname(dest), { recursive: true, mode: 0o700 });
  const temp = temporaryNameFor(dest);
  const source = new Database(src, { readonly: true, fileMustExist: true });
  try {
    await source.backup(temp);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  } finally {
    source.close();
  }
  chmodSync(temp, 0o600);
  makeSelfContained(temp);
  const problems = integrityProblems(temp);
  if (problems.length > 0) {
    rmSync(temp, { force: true });
    throw new BackupError(
      'BACKUP_CORRUPT',
      `The backup of ${src} failed its integrity check: ${problems.join('; ')}`,
      {
        hint: 'Run the backup again; if it fails again, check the disk (dmesg) and the source with sqlite3 .recover',
      },
    );
  }
  await publishFile(temp, dest);
  return snapshotOf(dest);
}

export interface RestoreOptions {
  /** Replace an existing database (moved aside, never deleted). A database in use is refused all the same. */
  force?: boolean;
  /** Clock for the name of the moved-aside files. */
  now?: Date;
}

export interface RestoreResult extends SqliteSnapshot {
  /** Where the replaced database (and its -wal/-shm) were moved, if there was one. */
  movedAside: string[];
}

/**
 * Restores `backupFile` to `dest`: checks the backup, copies it beside `dest` under a temporary
 * name, checks the copy, moves any existing database and its -wal/-shm aside, and renames the copy
 * into place. Refuses when `dest` exists unless forced, and always when a process has it open
 * (stop the node first).
 */
export async function restoreSqlite(
  backupFile: string,
  dest: string,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  const backupProblems = integrityProblems(backupFile);
  if (backupProblems.length > 0) {
    throw new BackupError(
      'BACKUP_CORRUPT',
      `The backup ${backupFile} is not a sound SQLite database: ${backupProblems.join('; ')}`,
      {
        hint: 'Use an older backup; nothing was changed',
      },
    );
  }
  const companions = [dest, `${dest}-wal`, `${dest}-shm`, `${dest}-journal`];
  if (!companions.some((f) => existsSync(f))) {
    // nothing there: a new machine or an emptied state folder
  } else {
    // The probe opens the old database, which folds a leftover -wal into it: the file moved aside
    // below is then complete by itself.
    if (existsSync(dest) && isDatabaseInUse(dest)) {
      throw new BackupError(
        'RESTORE_TARGET_IN_USE',
        `${dest} is open in a running process; not restoring over it`,
        {
          hint: 'Stop the node first (systemctl stop govbank-inner or govbank-outer), then restore again',
        },
      );
    }
    if (!options.force) {
      throw new BackupError('RESTORE_TARGET_EXISTS', `${dest} already exists; not restoring over it`, {
        hint: 'Restore to a new machine or an empty state folder, or pass --force to move the current database aside',
      });
    }
  }
  mkdirSync(dirname(dest), { recursive: true, mode: 0o700 });
  const temp = temporaryNameFor(dest);
  const backup = new Database(backupFile, { readonly: true, fileMustExist: true });
  try {
    await backup.backup(temp);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  } finally {
    backup.close();
  }
  chmodSync(temp, 0o600);
  makeSelfContained(temp);
  const copyProblems = integrityProblems(temp);
  if (copyProblems.length > 0) {
    rmSync(temp, { force: true });
    throw new BackupError(
      'BACKUP_CORRUPT',
      `The restored copy failed its integrity check: ${copyProblems.join('; ')}`,
      {
        hint: 'Check the disk of the state folder; nothing was replaced',
      },
    );
  }
  const stamp = (options.now ?? new Date()).toISOString().replace(/[:.]/g, '-');
  const movedAside: string[] = [];
  for (const file of companions.filter((f) => existsSync(f))) {
    const aside = join(dirname(file), `${basename(dest)}.before-restore-${stamp}${file.slice(dest.length)}`);
    renameSync(file, aside);
    movedAside.push(aside);
  }
  if (movedAside.length > 0) syncDirectory(dirname(dest));
  await publishFile(temp, dest);
  const problems = integrityProblems(dest);
  if (problems.length > 0) {
    throw new BackupError(
      'BACKUP_CORRUPT',
      `${dest} failed its integrity check after the restore: ${problems.join('; ')}`,
      {
        hint: `The replaced database is kept as ${movedAside[0] ?? '(none)'}; check the disk`,
      },
    );
  }
  return { ...snapshotOf(dest), movedAside };
}

/** Regular files below a folder (0 when it does not exist). */
function countFiles(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).length;
}

/** Copies a folder's tree into `to`, never replacing a file that is there already. */
export function copyTree(from: string, to: string): number {
  if (!existsSync(from)) return 0;
  cpSync(from, to, { recursive: true, force: false, errorOnExist: false, preserveTimestamps: true });
  return countFiles(to);
}
