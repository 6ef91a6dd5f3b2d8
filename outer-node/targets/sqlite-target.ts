// SQLite bank target: prepared upserts in one transaction with the ledger row.
import Database from 'better-sqlite3';
import { LoadError } from '../../shared/errors.js';
import type { ContractType } from '../../shared/contracts.js';
import type { ContractValue } from '../../shared/mapping.js';
import type { ApplyOutcome, LedgerEntry, TablePlan, TargetWriter } from './target-writer.js';

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

function sqliteType(type: ContractType): string {
  switch (type.kind) {
    case 'integer':
    case 'boolean':
      return 'INTEGER';
    default:
      // Decimals stay TEXT: SQLite's NUMERIC affinity would turn '1234.50' into a float.
      return 'TEXT';
  }
}

export class SqliteTarget implements TargetWriter {
  readonly description: string;
  private readonly db: Database.Database;

  constructor(path: string) {
    this.description = `SQLite ${path}`;
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
  }

  prepare(): Promise<void> {
    this.db.exec(LEDGER_SQL);
    return Promise.resolve();
  }

  lastApplied(stream: string): Promise<number> {
    const row = this.db.prepare('SELECT MAX(sequence) AS last FROM bridge_ledger WHERE stream = ?').get(stream) as {
      last: number | null;
    };
    return Promise.resolve(row.last ?? 0);
  }

  async apply(
    plan: TablePlan,
    kind: 'rows' | 'tombstones',
    rows: AsyncIterable<ContractValue[]>,
    ledger: Omit<LedgerEntry, 'digest' | 'rowCount'>,
    digest: () => string,
  ): Promise<ApplyOutcome> {
    const stored = plan.columns.flatMap((c, i) => (c.target ? [{ ...c, target: c.target, position: i }] : []));
    const columnList = stored.map((c) => q(c.target)).join(', ');
    const updates = stored
      .filter((c) => !plan.key.includes(c.target))
      .map((c) => `${q(c.target)} = excluded.${q(c.target)}`);
    const upsert = this.db.prepare(
      `INSERT INTO ${q(plan.table)} (${columnList}) VALUES (${stored.map(() => '?').join(', ')})
       ON CONFLICT (${plan.key.map(q).join(', ')}) DO ${updates.length > 0 ? `UPDATE SET ${updates.join(', ')}` : 'NOTHING'}`,
    );
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
      const last = (
        this.db.prepare('SELECT MAX(sequence) AS last FROM bridge_ledger WHERE stream = ?').get(ledger.stream) as {
          last: number | null;
        }
      ).last ?? 0;
      if (ledger.sequence !== last + 1) {
        this.db.exec('ROLLBACK');
        return { outcome: 'out-of-order', expected: last + 1 };
      }
      let count = 0;
      for await (const row of rows) {
        if (kind === 'rows') {
          upsert.run(stored.map((c) => toSqlite(row[c.position] ?? null)));
        } else {
          remove.run(plan.keyPositions.map((p) => toSqlite(row[p] ?? null)));
        }
        count++;
      }
      this.db
        .prepare(
          `INSERT INTO bridge_ledger (bundle_id, stream, sequence, dataset, row_count, digest, applied_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(ledger.bundleId, ledger.stream, ledger.sequence, ledger.dataset, count, digest(), new Date().toISOString());
      this.db.exec('COMMIT');
      return { outcome: 'applied', rows: count };
    } catch (error) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw error;
    }
  }

  createTableSql(plan: TablePlan): string {
    const columns = plan.columns.flatMap((c) =>
      c.target ? [`  ${q(c.target)} ${sqliteType(c.contract.type)}${c.contract.nullable ? '' : ' NOT NULL'}`] : [],
    );
    return `CREATE TABLE IF NOT EXISTS ${q(plan.table)} (\n${columns.join(',\n')},\n  PRIMARY KEY (${plan.key.map(q).join(', ')})\n);`;
  }

  /** Runs DDL (schema apply). */
  exec(sql: string): void {
    this.db.exec(sql);
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}

function toSqlite(value: ContractValue): string | number | null {
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}
