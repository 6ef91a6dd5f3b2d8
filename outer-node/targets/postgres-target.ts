// PostgreSQL bank target: in one transaction, COPY the bundle's rows into a temporary staging table,
// then INSERT ... ON CONFLICT into the bank's table (or DELETE ... USING for tombstones), then the
// ledger row; COMMIT. A transaction-scoped advisory lock per stream serialises workers of any process,
// and the ledger's UNIQUE (stream, sequence) is the backstop: a race can only produce a rollback.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
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

export interface PostgresTargetSpec {
  url?: string | undefined;
  host: string;
  port: number;
  database?: string | undefined;
  user?: string | undefined;
  password_env?: string | undefined;
}

const LEDGER_SQL = `
CREATE TABLE IF NOT EXISTS bridge_ledger (
  bundle_id text PRIMARY KEY,
  stream text NOT NULL,
  sequence bigint NOT NULL,
  dataset text NOT NULL,
  row_count bigint NOT NULL,
  digest text NOT NULL,
  applied_at timestamptz NOT NULL,
  UNIQUE (stream, sequence)
)`;

const q = (name: string): string => quoteIdentifier('postgres', name);

/** One value in COPY text format: \N for NULL; backslash, tab, newline and carriage return escaped. */
function copyField(value: TargetValue): string {
  if (value === null) return '\\N';
  if (typeof value === 'boolean') return value ? 't' : 'f';
  if (typeof value === 'number') return String(value);
  return /[\\\t\n\r]/.test(value)
    ? value.replace(/[\\\t\n\r]/g, (c) =>
        c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r',
      )
    : value;
}

/** Rows as COPY text lines, in chunks of about 64 KiB (fewer, larger writes). */
async function* copyChunks(
  rows: AsyncIterable<TargetValue[]>,
  counter: { rows: number },
): AsyncGenerator<string> {
  let chunk = '';
  for await (const row of rows) {
    let line = '';
    for (let i = 0; i < row.length; i++) {
      if (i > 0) line += '\t';
      line += copyField(row[i] ?? null);
    }
    chunk += `${line}\n`;
    counter.rows++;
    if (chunk.length >= 65_536) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk.length > 0) yield chunk;
}

export function postgresClientConfig(spec: PostgresTargetSpec): pg.ClientConfig {
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
  const base: pg.ClientConfig = spec.url
    ? { connectionString: spec.url }
    : { host: spec.host, port: spec.port, database: spec.database, user: spec.user };
  return {
    ...base,
    ...(password !== undefined ? { password } : {}),
    connectionTimeoutMillis: 10_000,
    application_name: 'govbank-bridge outer-node',
  };
}

export class PostgresTarget implements TargetWriter {
  readonly kind = 'postgres' as const;
  readonly description: string;
  private readonly config: pg.ClientConfig;
  private client: pg.Client | undefined;
  /** Tables whose recent bundles updated existing keys: how many more bundles go straight to the upsert. */
  private readonly conflicting = new Map<string, number>();

  constructor(spec: PostgresTargetSpec) {
    this.config = postgresClientConfig(spec);
    const where = spec.url ? new URL(spec.url) : undefined;
    this.description = `PostgreSQL ${where ? `${where.hostname}:${where.port || 5432}${where.pathname}` : `${spec.host}:${spec.port}/${spec.database ?? ''}`}`;
  }

  /** The open connection, or a new one (after a failure the old one is dropped and never reused). */
  private async connection(): Promise<pg.Client> {
    if (this.client) return this.client;
    const client = new pg.Client(this.config);
    client.on('error', () => {
      if (this.client === client) this.client = undefined;
    });
    try {
      await client.connect();
      await client.query("SET client_encoding = 'UTF8'");
      // The staging table is a temporary table: give it memory so a bundle stays off the disk.
      await client.query("SET temp_buffers = '256MB'");
    } catch (error) {
      await client.end().catch(() => undefined);
      throw new LoadError('LOAD_CONNECT', `Cannot connect to ${this.description}`, {
        hint: 'Check that the server runs and target.url / host, port, user and password_env are right; the import retries by itself',
        cause: error,
      });
    }
    this.client = client;
    return client;
  }

  private drop(client: pg.Client): void {
    if (this.client === client) this.client = undefined;
    client.end().catch(() => undefined);
  }

  private async query<R extends pg.QueryResultRow>(
    sql: string,
    params: unknown[] = [],
  ): Promise<pg.QueryResult<R>> {
    const client = await this.connection();
    try {
      return await client.query<R>(sql, params);
    } catch (error) {
      if (!(error as { code?: string }).code || /^(08|57P)/.test((error as { code: string }).code))
        this.drop(client);
      throw error;
    }
  }

  async prepare(): Promise<void> {
    try {
      await this.query(LEDGER_SQL);
    } catch (error) {
      // Two workers creating the ledger at once: the loser sees a duplicate type or relation.
      const code = (error as { code?: string }).code;
      if (code !== '23505' && code !== '42P07') throw error;
    }
  }

  async lastApplied(stream: string): Promise<number> {
    const result = await this.query<{ last: string | null }>(
      'SELECT MAX(sequence) AS last FROM bridge_ledger WHERE stream = $1',
      [stream],
    );
    return Number(result.rows[0]?.last ?? 0);
  }

  async ledgerSummary(): Promise<LedgerSummary[]> {
    const result = await this.query<{
      stream: string;
      last: string;
      bundles: string;
      rows: string | null;
      at: Date | null;
    }>(
      `SELECT stream, MAX(sequence) AS last, COUNT(*) AS bundles, SUM(row_count) AS rows, MAX(applied_at) AS at
       FROM bridge_ledger GROUP BY stream ORDER BY stream`,
    );
    return result.rows.map((r) => ({
      stream: r.stream,
      lastSequence: Number(r.last),
      bundles: Number(r.bundles),
      rows: Number(r.rows ?? 0),
      lastAppliedAt: r.at ? r.at.toISOString() : null,
    }));
  }

  async ledgerSince(since: Date): Promise<LedgerRecord[]> {
    const result = await this.query<{
      stream: string;
      sequence: string;
      dataset: string;
      rows: string;
      at: Date;
    }>(
      `SELECT stream, sequence, dataset, row_count AS rows, applied_at AS at
       FROM bridge_ledger WHERE applied_at >= $1 ORDER BY applied_at`,
      [since],
    );
    return result.rows.map((r) => ({
      stream: r.stream,
      sequence: Number(r.sequence),
      dataset: r.dataset,
      rows: Number(r.rows),
      appliedAt: r.at.toISOString(),
    }));
  }

  async describeTable(table: string): Promise<TargetTable | undefined> {
    const columns = await this.query<{
      table_name: string;
      column_name: string;
      data_type: string;
      character_maximum_length: number | null;
      numeric_precision: number | null;
      numeric_scale: number | null;
      is_nullable: string;
    }>(
      `SELECT table_name, column_name, data_type, character_maximum_length, numeric_precision, numeric_scale, is_nullable
       FROM information_schema.columns
       WHERE table_schema = current_schema() AND lower(table_name) = lower($1)
       ORDER BY (table_name = $1) DESC, table_name, ordinal_position`,
      [table],
    );
    const first = columns.rows[0];
    if (!first) return undefined;
    const name = first.table_name;
    const encoding =
      (await this.query<{ server_encoding: string }>('SHOW server_encoding')).rows[0]?.server_encoding ??
      'UTF8';
    const unique = await this.query<{ cols: string[] }>(
      `SELECT array_agg(a.attname::text ORDER BY k.ord) AS cols
       FROM pg_index i
       JOIN pg_class t ON t.oid = i.indrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
       CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
       WHERE i.indisunique AND i.indpred IS NULL AND t.relname = $1 AND n.nspname = current_schema()
       GROUP BY i.indexrelid`,
      [name],
    );
    return {
      name,
      columns: columns.rows
        .filter((c) => c.table_name === name)
        .map((c) => ({
          name: c.column_name,
          dataType: c.data_type,
          charMax: c.character_maximum_length,
          byteMax: null,
          // PostgreSQL text is in the database's encoding; LATIN1 is ISO-8859-1 there.
          charset: /^LATIN1$/i.test(encoding) ? 'iso88591' : encoding,
          numericPrecision: c.data_type === 'numeric' ? c.numeric_precision : null,
          numericScale: c.data_type === 'numeric' ? c.numeric_scale : null,
          nullable: c.is_nullable === 'YES',
        })),
      uniqueKeys: unique.rows.map((r) => r.cols),
    };
  }

  async apply(
    plan: LoadPlan,
    kind: 'rows' | 'tombstones',
    rows: AsyncIterable<TargetValue[]>,
    ledger: Omit<LedgerEntry, 'digest' | 'rowCount'>,
    digest: () => string,
  ): Promise<ApplyOutcome> {
    const client = await this.connection();
    const table = q(plan.table);
    const columns = plan.columns.map(q).join(', ');
    try {
      await client.query('BEGIN');
      // One applier per stream at a time, whatever process it runs in; released at COMMIT/ROLLBACK.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`bridge:${ledger.stream}`]);
      const seen = await client.query(
        'SELECT 1 FROM bridge_ledger WHERE bundle_id = $1 OR (stream = $2 AND sequence = $3)',
        [ledger.bundleId, ledger.stream, ledger.sequence],
      );
      if (seen.rowCount) {
        await client.query('ROLLBACK');
        return { outcome: 'duplicate' };
      }
      const lastRow = await client.query<{ last: string | null }>(
        'SELECT MAX(sequence) AS last FROM bridge_ledger WHERE stream = $1',
        [ledger.stream],
      );
      const last = Number(lastRow.rows[0]?.last ?? 0);
      if (ledger.sequence !== last + 1) {
        await client.query('ROLLBACK');
        return { outcome: 'out-of-order', expected: last + 1 };
      }
      await client.query(
        `CREATE TEMP TABLE bridge_staging ON COMMIT DROP AS SELECT ${columns} FROM ${table} WITH NO DATA`,
      );
      const counter = { rows: 0 };
      const copy = client.query(copyFrom(`COPY bridge_staging (${columns}) FROM STDIN`));
      await pipeline(Readable.from(copyChunks(rows, counter)), copy);
      if (counter.rows > 0) {
        if (kind === 'rows') await this.upsert(client, plan);
        else {
          const match = plan.key.map((k) => `t.${q(k)} = s.${q(k)}`).join(' AND ');
          await client.query(`DELETE FROM ${table} t USING bridge_staging s WHERE ${match}`);
        }
      }
      await client.query(
        `INSERT INTO bridge_ledger (bundle_id, stream, sequence, dataset, row_count, digest, applied_at)
         VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp())`,
        [ledger.bundleId, ledger.stream, ledger.sequence, ledger.dataset, counter.rows, digest()],
      );
      await client.query('COMMIT');
      return { outcome: 'applied', rows: counter.rows };
    } catch (error) {
      // The session may be mid-COPY; dropping it is the one certain rollback.
      this.drop(client);
      throw error;
    }
  }

  /** INSERT ... ON CONFLICT from staging; a bundle holding one key twice keeps its last row. */
  private async upsert(client: pg.Client, plan: LoadPlan): Promise<void> {
    const table = q(plan.table);
    const columns = plan.columns.map(q).join(', ');
    const key = plan.key.map(q).join(', ');
    const updates = plan.columns
      .filter((c) => !plan.key.includes(c))
      .map((c) => `${q(c)} = EXCLUDED.${q(c)}`);
    const action = updates.length > 0 ? `DO UPDATE SET ${updates.join(', ')}` : 'DO NOTHING';
    // Most bundles of a bulk load bring only new keys: a plain INSERT is cheaper than the speculative
    // insertion of ON CONFLICT. If a key exists it fails with 23505, the savepoint takes the work
    // back, and the next 16 bundles of this table go straight to the upsert, so update-heavy
    // streams do not pay twice.
    const upsertOnly = this.conflicting.get(plan.table) ?? 0;
    if (upsertOnly > 0) this.conflicting.set(plan.table, upsertOnly - 1);
    else {
      await client.query('SAVEPOINT bridge_insert');
      try {
        await client.query(`INSERT INTO ${table} (${columns}) SELECT ${columns} FROM bridge_staging`);
        return;
      } catch (error) {
        if ((error as { code?: string }).code !== '23505') throw error;
        await client.query('ROLLBACK TO SAVEPOINT bridge_insert');
        this.conflicting.set(plan.table, 16);
      }
    }
    await client.query('SAVEPOINT bridge_upsert');
    try {
      await client.query(
        `INSERT INTO ${table} (${columns}) SELECT ${columns} FROM bridge_staging ON CONFLICT (${key}) ${action}`,
      );
    } catch (error) {
      if ((error as { code?: string }).code !== '21000') throw error;
      await client.query('ROLLBACK TO SAVEPOINT bridge_upsert');
      await client.query(
        `INSERT INTO ${table} (${columns})
         SELECT DISTINCT ON (${key}) ${columns} FROM bridge_staging ORDER BY ${key}, ctid DESC
         ON CONFLICT (${key}) ${action}`,
      );
    }
  }

  createTableSql(plan: TablePlan): string {
    return createTableSql('postgres', plan);
  }

  async exec(sql: string): Promise<void> {
    await this.query(sql);
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await client.end().catch(() => undefined);
  }
}
