// SQLite bank target: prepared upserts in one transaction with the ledger row.
import Database from 'better-sqlite3';
import { LoadError } from '../../shared/errors.js';
import { createTableSql } from './ddl.js';
import type {
  ApplyOutcome,
  LedgerEntry,
  LedgerRecord,
  LedgerSummary,
  LoadPlan,
  TablePlan,
  TargetTable,
  TargetValue,
  TargetWriter,
} from './target-writer.js';
import { batchesOf } from './target-writer.js';

const LEDGER_SQL = `
CREATE TABLE IF NOT EXISTS bridge_ledger (
  bundle_id TEXT PRIMARY KEY,
  stream TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  dataset TEXT NOT NULL,
  row_count INTEGER NOT NULL,
  digest TEXT NOT NULL,
  applied_at TEXT NOT NULL,
  UNIQUE (stream, sequence)
)`;

const q = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/**
 * One write transaction at a time per database file inside this process. better-sqlite3 waits for a
 * lock synchronously, so a second worker of the same process waiting on BEGIN IMMEDIATE would block
 * the event loop that the first worker needs to finish; workers of other processes just wait.
 */
const fileLocks = new Map<string, Promise<void>>();

async function withFileLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const previous = fileLocks.get(path) ?? Promise.resolve();
  let release: () => void = () => undefined;
  const current = new Promise<void>((resolve) => (release = resolve));
  const chained = previous.then(() => current);
  fileLocks.set(path, chained);
  await previous;
  try {
    return await fn();
  } finally {
    release();
    if (fileLocks.get(path) === chained) fileLocks.delete(path);
  }
}

export class SqliteTarget implements TargetWriter {
  readonly kind = 'sqlite' as const;
  readonly description: string;
  private readonly db: Database.Database;
  private readonly path: string;
  /** Whether a commit since the last idle checkpoint left pages in the WAL. */
  private walDirty = false;

  constructor(path: string) {
    this.description = `SQLite ${path}`;
    this.path = path;
    try {
      this.db = new Database(path);
    } catch (error) {
      throw new LoadError('LOAD_CONNECT', 'Cannot open the SQLite target', {
        where: path,
        hint: 'Check target.path in the configuration and the folder permissions',
        cause: error,
      });
    }
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 10000');
    // Checkpoints run when the node is idle (idle() below), not inside the commit of the bundle that
    // happens to cross SQLite's default 1,000 pages; this larger bound (64 MiB at 4 KiB pages) still
    // caps the WAL when the node never goes idle. Durability is unchanged: every commit is fsynced in
    // the WAL (synchronous = FULL).
    this.db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
  }

  /** Copies committed WAL pages into the database file while nothing is being applied. */
  idle(): Promise<void> {
    if (this.walDirty && !this.db.inTransaction) {
      this.walDirty = false;
      this.db.pragma('wal_checkpoint(PASSIVE)');
    }
    return Promise.resolve();
  }

  prepare(): Promise<void> {
    this.db.exec(LEDGER_SQL);
    return Promise.resolve();
  }

  lastApplied(stream: string): Promise<number> {
    const row = this.db
      .prepare('SELECT MAX(sequence) AS last FROM bridge_ledger WHERE stream = ?')
      .get(stream) as {
      last: number | null;
    };
    return Promise.resolve(row.last ?? 0);
  }

  ledgerSummary(): Promise<LedgerSummary[]> {
    const rows = this.db
      .prepare(
        `SELECT stream, MAX(sequence) AS lastSequence, COUNT(*) AS bundles, SUM(row_count) AS rows, MAX(applied_at) AS lastAppliedAt
         FROM bridge_ledger GROUP BY stream ORDER BY stream`,
      )
      .all() as LedgerSummary[];
    return Promise.resolve(rows);
  }

  ledgerSince(since: Date): Promise<LedgerRecord[]> {
    // applied_at is an ISO 8601 UTC string (toISOString), so text order is time order.
    const rows = this.db
      .prepare(
        `SELECT stream, sequence, dataset, row_count AS rows, applied_at AS appliedAt
         FROM bridge_ledger WHERE applied_at >= ? ORDER BY applied_at`,
      )
      .all(since.toISOString()) as LedgerRecord[];
    return Promise.resolve(rows);
  }

  describeTable(table: string): Promise<TargetTable | undefined> {
    const info = this.db.prepare(`PRAGMA table_xinfo(${q(table)})`).all() as {
      name: string;
      type: string;
      notnull: number;
      pk: number;
    }[];
    if (info.length === 0) return Promise.resolve(undefined);
    const uniqueKeys: string[][] = [];
    const pk = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
    if (pk.length > 0) uniqueKeys.push(pk.map((c) => c.name));
    const indexes = this.db.prepare(`PRAGMA index_list(${q(table)})`).all() as {
      name: string;
      unique: number;
    }[];
    for (const index of indexes.filter((i) => i.unique === 1)) {
      const cols = this.db.prepare(`PRAGMA index_info(${q(index.name)})`).all() as { name: string }[];
      uniqueKeys.push(cols.map((c) => c.name));
    }
    return Promise.resolve({
      name: table,
      // SQLite does not enforce declared lengths, so no character or byte limit applies.
      columns: info.map((c) => ({
        name: c.name,
        dataType: c.type.toLowerCase().replace(/\(.*$/, '').trim() || 'blob',
        charMax: null,
        byteMax: null,
        charset: 'UTF8',
        numericPrecision: null,
        numericScale: null,
        nullable: c.notnull === 0 && c.pk === 0,
      })),
      uniqueKeys,
    });
  }

  async apply(
    plan: LoadPlan,
    kind: 'rows' | 'tombstones',
    rows: AsyncIterable<TargetValue[]>,
    ledger: Omit<LedgerEntry, 'digest' | 'rowCount'>,
    digest: () => string,
  ): Promise<ApplyOutcome> {
    return withFileLock(this.path, () => this.applyLocked(plan, kind, rows, ledger, digest));
  }

  private async applyLocked(
    plan: LoadPlan,
    kind: 'rows' | 'tombstones',
    rows: AsyncIterable<TargetValue[]>,
    ledger: Omit<LedgerEntry, 'digest' | 'rowCount'>,
    digest: () => string,
  ): Promise<ApplyOutcome> {
    const columnList = plan.columns.map(q).join(', ');
    const updates = plan.columns
      .filter((c) => !plan.key.includes(c))
      .map((c) => `${q(c)} = excluded.${q(c)}`);
    const upsert =
      kind === 'rows'
        ? this.db.prepare(
            `INSERT INTO ${q(plan.table)} (${columnList}) VALUES (${plan.columns.map(() => '?').join(', ')})
             ON CONFLICT (${plan.key.map(q).join(', ')}) DO ${updates.length > 0 ? `UPDATE SET ${updates.join(', ')}` : 'NOTHING'}`,
          )
        : undefined;
    const remove = this.db.prepare(
      `DELETE FROM ${q(plan.table)} WHERE ${plan.key.map((k) => `${q(k)} = ?`).join(' AND ')}`,
    );
    // BEGIN IMMEDIATE takes the write lock now, so two workers cannot both pass the ledger check.
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const seen = this.db
        .prepare('SELECT 1 FROM bridge_ledger WHERE bundle_id = ? OR (stream = ? AND sequence = ?)')
        .get(ledger.bundleId, ledger.stream, ledger.sequence);
      if (seen) {
        this.db.exec('ROLLBACK');
        return { outcome: 'duplicate' };
      }
      const last =
        (
          this.db
            .prepare('SELECT MAX(sequence) AS last FROM bridge_ledger WHERE stream = ?')
            .get(ledger.stream) as {
            last: number | null;
          }
        ).last ?? 0;
      if (ledger.sequence !== last + 1) {
        this.db.exec('ROLLBACK');
        return { outcome: 'out-of-order', expected: last + 1 };
      }
      let count = 0;
      const write = upsert
        ? (row: TargetValue[]): void => {
            upsert.run(sqliteRow(row));
          }
        : (row: TargetValue[]): void => {
            remove.run(plan.keyPositions.map((p) => toSqlite(row[p] ?? null)));
          };
      const batches = batchesOf(rows);
      if (batches) {
        // A whole batch is written without yielding to the event loop between rows.
        for await (const batch of batches) {
          for (const row of batch) write(row);
          count += batch.length;
        }
      } else {
        for await (const row of rows) {
          write(row);
          count++;
        }
      }
      this.db
        .prepare(
          `INSERT INTO bridge_ledger (bundle_id, stream, sequence, dataset, row_count, digest, applied_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          ledger.bundleId,
          ledger.stream,
          ledger.sequence,
          ledger.dataset,
          count,
          digest(),
          new Date().toISOString(),
        );
      this.db.exec('COMMIT');
      this.walDirty = true;
      return { outcome: 'applied', rows: count };
    } catch (error) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw error;
    }
  }

  createTableSql(plan: TablePlan): string {
    return createTableSql('sqlite', plan);
  }

  /** Runs DDL (schema apply). */
  exec(sql: string): void {
    this.db.exec(sql);
  }

  close(): Promise<void> {
    // The last connection checkpoints on close by itself; with bank readers still connected it
    // would not, so the pages this node committed are copied over here.
    if (this.walDirty && this.db.open) this.db.pragma('wal_checkpoint(PASSIVE)');
    this.db.close();
    return Promise.resolve();
  }
}

const WAL_AUTOCHECKPOINT_PAGES = 16_384;

/** The row as SQLite binds it: the row itself unless it holds a boolean (no copy per row). */
function sqliteRow(row: TargetValue[]): TargetValue[] {
  for (const value of row) if (typeof value === 'boolean') return row.map(toSqlite);
  return row;
}

function toSqlite(value: TargetValue): string | number | null {
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}
