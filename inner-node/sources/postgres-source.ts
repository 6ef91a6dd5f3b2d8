// PostgreSQL government source: keyset pages over one client connection, read-only transactions.
// Values arrive as the server's text form (timestamps, dates, numerics, bigints as strings, never
// through a float), except booleans and 2/4-byte integers, which are exact in JavaScript.
import pg from 'pg';
import { SourceError } from '../../shared/errors.js';
import {
  keysetScan,
  keysetSelect,
  keysetWhere,
  type KeysetQuery,
  type ReadRow,
  type ScanQuery,
  type SourceColumn,
  type SourceReader,
  type SqlDialect,
} from './source-reader.js';

const postgresDialect: SqlDialect = {
  quote: (name) => `"${name.replace(/"/g, '""')}"`,
  param: (index) => `$${index}`,
  rowValues: true,
};

const BOOL = 16;
const INT2 = 21;
const INT4 = 23;
const BYTEA = 17;

const textParsers = {
  getTypeParser(oid: number, format?: string): (value: string) => unknown {
    if (format === 'binary') return (value: string) => value;
    if (oid === BOOL) return (value: string) => value === 't';
    if (oid === INT2 || oid === INT4) return (value: string) => Number(value);
    if (oid === BYTEA) return pg.types.getTypeParser(BYTEA, 'text') as (value: string) => unknown;
    return (value: string) => value;
  },
};

export interface PostgresSourceOptions {
  url: string;
  password?: string | undefined;
  schema?: string | undefined;
}

export class PostgresSource implements SourceReader {
  readonly description: string;
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;

  constructor(private readonly options: PostgresSourceOptions) {
    const url = new URL(options.url);
    url.password = '';
    this.description = `PostgreSQL ${url.host}${url.pathname}`;
  }

  private async connection(): Promise<pg.Client> {
    if (this.client) return this.client;
    this.connecting ??= (async () => {
      const client = new pg.Client({
        connectionString: this.options.url,
        ...(this.options.password ? { password: this.options.password } : {}),
        types: textParsers,
        application_name: 'govbank-bridge inner-node',
      });
      try {
        await client.connect();
        await client.query("SET default_transaction_read_only = on; SET client_encoding = 'UTF8'");
        if (this.options.schema)
          await client.query(`SET search_path TO ${postgresDialect.quote(this.options.schema)}`);
      } catch (error) {
        await client.end().catch(() => undefined);
        this.connecting = undefined;
        throw new SourceError('SOURCE_CONNECT', 'Cannot connect to the PostgreSQL source', {
          where: this.description,
          hint: 'Check the url, the password and that the server accepts connections from this host',
          cause: error,
        });
      }
      client.on('error', () => {
        // A dropped connection is reported by the next query; forget it so that one reconnects.
        this.client = undefined;
        this.connecting = undefined;
      });
      this.client = client;
      return client;
    })();
    return this.connecting;
  }

  private async query<T extends pg.QueryResultRow>(
    sql: string,
    params: unknown[],
    table: string,
  ): Promise<T[]> {
    const client = await this.connection();
    try {
      return (await client.query<T>(sql, params)).rows;
    } catch (error) {
      throw new SourceError('SOURCE_QUERY', `Cannot read table ${table}`, {
        where: this.description,
        hint: 'Check the table and column names in the dataset mapping, and the grants of the source user',
        cause: error,
      });
    }
  }

  async describe(table: string): Promise<SourceColumn[]> {
    const rows = await this.query<{ name: string; type: string }>(
      `SELECT column_name AS name,
              data_type || COALESCE('(' || character_maximum_length || ')', '')
                || CASE WHEN data_type = 'numeric' THEN COALESCE('(' || numeric_precision || ',' || numeric_scale || ')', '') ELSE '' END AS type
         FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = $1
        ORDER BY ordinal_position`,
      [table],
      table,
    );
    if (rows.length === 0) {
      throw new SourceError('SOURCE_SCHEMA', `Table ${table} not found in the source`, {
        where: this.description,
        hint: 'Check the table name (PostgreSQL names are case-sensitive) and the schema',
      });
    }
    return rows;
  }

  async readAfter(query: KeysetQuery): Promise<ReadRow[]> {
    const { sql, params } = keysetSelect(postgresDialect, query);
    return this.query<ReadRow>(sql, params, query.table);
  }

  scan(query: ScanQuery): AsyncIterable<ReadRow[]> {
    return keysetScan(this, query);
  }

  async count(query: Omit<KeysetQuery, 'limit'>): Promise<number> {
    const { where, params } = keysetWhere(postgresDialect, query);
    const rows = await this.query<{ n: string }>(
      `SELECT COUNT(*) AS n FROM ${postgresDialect.quote(query.table)} ${where}`,
      params,
      query.table,
    );
    return Number(rows[0]?.n ?? 0);
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.connecting = undefined;
    if (client) await client.end().catch(() => undefined);
  }
}
