// MariaDB/MySQL bank target: in one transaction, lock the stream's row in bridge_streams (SELECT ...
// FOR UPDATE serialises workers of any process), check the ledger, write the rows in batched
// multi-row INSERT ... ON DUPLICATE KEY UPDATE (or DELETE ... WHERE key IN for tombstones), then the
// ledger row; COMMIT. Strict SQL mode, so a value that does not fit fails instead of being cut.
import mysql from 'mysql2/promise';
import { LoadError } from '../../shared/errors.js';
import { createTableSql, quoteIdentifier } from './ddl.js';
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

export interface MariadbTargetSpec {
  url?: string | undefined;
  host: string;
  port: number;
  database?: string | undefined;
  user?: string | undefined;
  password_env?: string | undefined;
  naive_time_offset: string;
}

const LEDGER_SQL = [
  `CREATE TABLE IF NOT EXISTS bridge_ledger (
    bundle_id VARCHAR(100) NOT NULL PRIMARY KEY,
    stream VARCHAR(255) NOT NULL,
    sequence BIGINT NOT NULL,
    dataset VARCHAR(100) NOT NULL,
    row_count BIGINT NOT NULL,
    digest VARCHAR(100) NOT NULL,
    applied_at DATETIME(3) NOT NULL,
    UNIQUE KEY bridge_ledger_stream_sequence (stream, sequence)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  // One row per stream, locked FOR UPDATE by the applier of that stream.
  `CREATE TABLE IF NOT EXISTS bridge_streams (
    stream VARCHAR(255) NOT NULL PRIMARY KEY,
    last_sequence BIGINT NOT NULL
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
];

/** Rows per multi-row INSERT: large enough to amortise round trips, small enough for max_allowed_packet. */
export const MARIADB_BATCH_ROWS = 1000;

const q = (name: string): string => quoteIdentifier('mariadb', name);

const TEXT_TYPES = new Set(['char', 'varchar']);
const BYTE_LIMITED = new Set(['tinytext', 'text', 'mediumtext', 'longtext']);

export function mariadbConnectionOptions(spec: MariadbTargetSpec): mysql.ConnectionOptions {
  const password = spec.password_env ? process.env[spec.password_env] : undefined;
  if (spec.password_env && password === undefined) {
    throw new LoadError(
      'LOAD_CONNECT',
      `Environment variable ${spec.password_env} (target.password_env) is not set`,
      {
        hint: 'Set it in the service environment; passwords are never written in the configuration',
      },
    );
  }
  const base: mysql.ConnectionOptions = spec.url
    ? { uri: spec.url }
    : { host: spec.host, port: spec.port, database: spec.database, user: spec.user };
  return {
    ...base,
    ...(password !== undefined ? { password } : {}),
    charset: 'utf8mb4',
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    connectTimeout: 10_000,
  };
}

export class MariadbTarget implements TargetWriter {
  readonly kind = 'mariadb' as const;
  readonly description: string;
  private readonly options: mysql.ConnectionOptions;
  private readonly timeZone: string;
  private connectionPromise: Promise<mysql.Connection> | undefined;

  constructor(spec: MariadbTargetSpec) {
    this.options = mariadbConnectionOptions(spec);
    this.timeZone = spec.naive_time_offset === 'Z' ? '+00:00' : spec.naive_time_offset;
    const where = spec.url ? new URL(spec.url) : undefined;
    this.description = `MariaDB ${where ? `${where.hostname}:${where.port || 3306}${where.pathname}` : `${spec.host}:${spec.port}/${spec.database ?? ''}`}`;
  }

  private async connect(): Promise<mysql.Connection> {
    let connection: mysql.Connection;
    try {
      connection = await mysql.createConnection(this.options);
    } catch (error) {
      throw new LoadError('LOAD_CONNECT', `Cannot connect to ${this.description}`, {
        hint: 'Check that the server runs and target.url / host, port, user and password_env are right; the import retries by itself',
        cause: error,
      });
    }
    connection.on('error', () => this.forget(connection));
    await connection.query(
      "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'",
    );
    // TIMESTAMP columns convert from the session zone: wall times we send are at naive_time_offset.
    await connection.query('SET time_zone = ?', [this.timeZone]);
    await connection.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
    return connection;
  }

  private connection(): Promise<mysql.Connection> {
    if (!this.connectionPromise) {
      const pending = this.connect();
      this.connectionPromise = pending;
      pending.catch(() => {
        if (this.connectionPromise === pending) this.connectionPromise = undefined;
      });
    }
    return this.connectionPromise;
  }

  private forget(connection: mysql.Connection): void {
    void this.connectionPromise?.then((c) => {
      if (c === connection) this.connectionPromise = undefined;
    });
  }

  private drop(connection: mysql.Connection): void {
    this.forget(connection);
    this.connectionPromise = undefined;
    connection.destroy();
  }

  private async query<T>(sql: string, params: unknown[] = []): Promise<T> {
    const connection = await this.connection();
    try {
      const [rows] = await connection.query(sql, params);
      return rows as T;
    } catch (error) {
      if (!(error as { code?: string }).code?.startsWith('ER_')) this.drop(connection);
      throw error;
    }
  }

  async prepare(): Promise<void> {
    for (const sql of LEDGER_SQL) await this.query(sql);
  }

  async lastApplied(stream: string): Promise<number> {
    const rows = await this.query<{ last: string | null }[]>(
      'SELECT MAX(sequence) AS last FROM bridge_ledger WHERE stream = ?',
      [stream],
    );
    return Number(rows[0]?.last ?? 0);
  }

  async ledgerSummary(): Promise<LedgerSummary[]> {
    const rows = await this.query<
      { stream: string; last: string; bundles: string; rows: string | null; at: string | null }[]
    >(
      `SELECT stream, MAX(sequence) AS last, COUNT(*) AS bundles, SUM(row_count) AS \`rows\`, MAX(applied_at) AS at
       FROM bridge_ledger GROUP BY stream ORDER BY stream`,
    );
    return rows.map((r) => ({
      stream: r.stream,
      lastSequence: Number(r.last),
      bundles: Number(r.bundles),
      rows: Number(r.rows ?? 0),
      lastAppliedAt: r.at ? `${r.at.replace(' ', 'T')}${this.timeZone}` : null,
    }));
  }

  async ledgerSince(since: Date): Promise<LedgerRecord[]> {
    // applied_at is DATETIME in the session's time zone: compare and read it as Unix time.
    const rows = await this.query<
      { stream: string; sequence: string; dataset: string; n: string; t: string }[]
    >(
      `SELECT stream, sequence, dataset, row_count AS n, UNIX_TIMESTAMP(applied_at) AS t
       FROM bridge_ledger WHERE applied_at >= FROM_UNIXTIME(?) ORDER BY applied_at`,
      [Math.floor(since.getTime() / 1000)],
    );
    return rows.map((r) => ({
      stream: r.stream,
      sequence: Number(r.sequence),
      dataset: r.dataset,
      rows: Number(r.n),
      appliedAt: new Date(Math.round(Number(r.t) * 1000)).toISOString(),
    }));
  }

  async describeTable(table: string): Promise<TargetTable | undefined> {
    const columns = await this.query<
      {
        TABLE_NAME: string;
        COLUMN_NAME: string;
        DATA_TYPE: string;
        CHARACTER_MAXIMUM_LENGTH: string | null;
        CHARACTER_OCTET_LENGTH: string | null;
        CHARACTER_SET_NAME: string | null;
        NUMERIC_PRECISION: string | null;
        NUMERIC_SCALE: string | null;
        IS_NULLABLE: string;
      }[]
    >(
      `SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, CHARACTER_OCTET_LENGTH, CHARACTER_SET_NAME,
              NUMERIC_PRECISION, NUMERIC_SCALE, IS_NULLABLE
       FROM information_schema.COLUMNS
       WHERE TABLE_SCHEMA = DATABASE() AND LOWER(TABLE_NAME) = LOWER(?)
       ORDER BY (TABLE_NAME = ?) DESC, TABLE_NAME, ORDINAL_POSITION`,
      [table, table],
    );
    const first = columns[0];
    if (!first) return undefined;
    const name = first.TABLE_NAME;
    const indexes = await this.query<{ INDEX_NAME: string; COLUMN_NAME: string }[]>(
      `SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS
       WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX`,
      [name],
    );
    const unique = new Map<string, string[]>();
    for (const row of indexes)
      unique.set(row.INDEX_NAME, [...(unique.get(row.INDEX_NAME) ?? []), row.COLUMN_NAME]);
    const num = (v: string | null): number | null => (v === null ? null : Number(v));
    return {
      name,
      columns: columns
        .filter((c) => c.TABLE_NAME === name)
        .map((c) => {
          const type = c.DATA_TYPE.toLowerCase();
          const charset = c.CHARACTER_SET_NAME?.toLowerCase() ?? null;
          return {
            name: c.COLUMN_NAME,
            dataType: type,
            charMax: TEXT_TYPES.has(type) ? num(c.CHARACTER_MAXIMUM_LENGTH) : null,
            byteMax: BYTE_LIMITED.has(type) ? num(c.CHARACTER_OCTET_LENGTH) : null,
            // MariaDB's 'utf8' is the 3-byte utf8mb3.
            charset: charset === 'utf8' ? 'utf8mb3' : charset,
            numericPrecision: type === 'decimal' ? num(c.NUMERIC_PRECISION) : null,
            numericScale: type === 'decimal' ? num(c.NUMERIC_SCALE) : null,
            nullable: c.IS_NULLABLE === 'YES',
          };
        }),
      uniqueKeys: [...unique.values()],
    };
  }

  async apply(
    plan: LoadPlan,
    kind: 'rows' | 'tombstones',
    rows: AsyncIterable<TargetValue[]>,
    ledger: Omit<LedgerEntry, 'digest' | 'rowCount'>,
    digest: () => string,
  ): Promise<ApplyOutcome> {
    const connection = await this.connection();
    const table = q(plan.table);
    const updates = plan.columns.filter((c) => !plan.key.includes(c)).map((c) => `${q(c)} = VALUES(${q(c)})`);
    const insertSql = `INSERT INTO ${table} (${plan.columns.map(q).join(', ')}) VALUES ? ON DUPLICATE KEY UPDATE ${
      updates.length > 0 ? updates.join(', ') : plan.key.map((k) => `${q(k)} = ${q(k)}`).join(', ')
    }`;
    const deleteSql =
      plan.key.length === 1
        ? `DELETE FROM ${table} WHERE ${q(plan.key[0] ?? '')} IN (?)`
        : `DELETE FROM ${table} WHERE (${plan.key.map(q).join(', ')}) IN (?)`;
    const flush = async (batch: TargetValue[][]): Promise<void> => {
      if (batch.length === 0) return;
      if (kind === 'rows') await connection.query(insertSql, [batch]);
      else {
        const keys = batch.map((row) =>
          plan.key.length === 1 ? row[plan.keyPositions[0] ?? 0] : plan.keyPositions.map((p) => row[p]),
        );
        await connection.query(deleteSql, [keys]);
      }
    };
    try {
      await connection.query('START TRANSACTION');
      await connection.query(
        'INSERT INTO bridge_streams (stream, last_sequence) VALUES (?, 0) ON DUPLICATE KEY UPDATE stream = stream',
        [ledger.stream],
      );
      await connection.query('SELECT last_sequence FROM bridge_streams WHERE stream = ? FOR UPDATE', [
        ledger.stream,
      ]);
      const [seen] = await connection.query(
        'SELECT 1 FROM bridge_ledger WHERE bundle_id = ? OR (stream = ? AND sequence = ?)',
        [ledger.bundleId, ledger.stream, ledger.sequence],
      );
      if ((seen as unknown[]).length > 0) {
        await connection.query('ROLLBACK');
        return { outcome: 'duplicate' };
      }
      const [lastRows] = await connection.query(
        'SELECT MAX(sequence) AS last FROM bridge_ledger WHERE stream = ?',
        [ledger.stream],
      );
      const last = Number((lastRows as { last: string | null }[])[0]?.last ?? 0);
      if (ledger.sequence !== last + 1) {
        await connection.query('ROLLBACK');
        return { outcome: 'out-of-order', expected: last + 1 };
      }
      let count = 0;
      let batch: TargetValue[][] = [];
      for await (const row of rows) {
        batch.push(row);
        count++;
        if (batch.length >= MARIADB_BATCH_ROWS) {
          await flush(batch);
          batch = [];
        }
      }
      await flush(batch);
      await connection.query(
        `INSERT INTO bridge_ledger (bundle_id, stream, sequence, dataset, row_count, digest, applied_at)
         VALUES (?, ?, ?, ?, ?, ?, NOW(3))`,
        [ledger.bundleId, ledger.stream, ledger.sequence, ledger.dataset, count, digest()],
      );
      await connection.query('UPDATE bridge_streams SET last_sequence = ? WHERE stream = ?', [
        ledger.sequence,
        ledger.stream,
      ]);
      await connection.query('COMMIT');
      return { outcome: 'applied', rows: count };
    } catch (error) {
      try {
        await connection.query('ROLLBACK');
      } catch {
        this.drop(connection);
      }
      if (!(error as { code?: string }).code?.startsWith('ER_')) this.drop(connection);
      throw error;
    }
  }

  createTableSql(plan: TablePlan): string {
    return createTableSql('mariadb', plan);
  }

  async exec(sql: string): Promise<void> {
    // DDL from schema plan: one statement at a time (multipleStatements stays off).
    for (const statement of sql
      .split(/;\s*(?:\n|$)/)
      .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
      .filter(Boolean)) {
      await this.query(statement);
    }
  }

  async close(): Promise<void> {
    const pending = this.connectionPromise;
    this.connectionPromise = undefined;
    if (pending) {
      try {
        await (await pending).end();
      } catch {
        // already gone
      }
    }
  }
}
