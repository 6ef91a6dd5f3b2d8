// SQLite government source, opened read-only.
import Database from 'better-sqlite3';
import { SourceError } from '../../shared/errors.js';
import type { SourceValue } from '../../shared/mapping.js';
import {
  keysetScan,
  keysetSelect,
  keysetWhere,
  sqliteDialect,
  type KeysetQuery,
  type ReadRow,
  type ScanQuery,
  type SourceColumn,
  type SourceReader,
} from './source-reader.js';

export class SqliteSource implements SourceReader {
  readonly description: string;
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();

  constructor(path: string) {
    this.description = `SQLite ${path}`;
    try {
      this.db = new Database(path, { readonly: true, fileMustExist: true });
      this.db.defaultSafeIntegers(false);
    } catch (error) {
      throw new SourceError('SOURCE_CONNECT', `Cannot open SQLite source`, {
        where: path,
        hint: 'Check the path under sources in the configuration and the file permissions',
        cause: error,
      });
    }
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- the interface is async for network sources
  async describe(table: string): Promise<SourceColumn[]> {
    const rows = this.db.prepare(`SELECT name, type FROM pragma_table_info(?)`).all(table) as SourceColumn[];
    if (rows.length === 0) {
      throw new SourceError('SOURCE_SCHEMA', `Table ${table} not found in the source`, {
        where: this.description,
        hint: 'Check the table name in the dataset configuration',
      });
    }
    return rows.map((r) => ({ name: r.name, type: r.type.toLowerCase() }));
  }

  private prepare(sql: string, table: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (statement) return statement;
    try {
      statement = this.db.prepare(sql);
    } catch (error) {
      throw new SourceError('SOURCE_QUERY', `Cannot read table ${table}`, {
        where: this.description,
        hint: 'Check the table and column names in the dataset mapping',
        cause: error,
      });
    }
    this.statements.set(sql, statement);
    return statement;
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- the interface is async for network sources
  async readAfter(query: KeysetQuery): Promise<ReadRow[]> {
    const { sql, params } = keysetSelect(sqliteDialect, query);
    return this.prepare(sql, query.table).all(...params) as ReadRow[];
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- the interface is async for network sources
  async readAfterArrays(query: KeysetQuery): Promise<{ columns: string[]; rows: SourceValue[][] }> {
    const { sql, params } = keysetSelect(sqliteDialect, query);
    const statement = this.prepare(`${sql} /* arrays */`, query.table);
    statement.raw(true);
    return {
      columns: statement.columns().map((c) => c.name),
      rows: statement.all(...params) as SourceValue[][],
    };
  }

  scan(query: ScanQuery): AsyncIterable<ReadRow[]> {
    return keysetScan(this, query);
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- the interface is async for network sources
  async count(query: Omit<KeysetQuery, 'limit'>): Promise<number> {
    const { where, params } = keysetWhere(sqliteDialect, query);
    const row = this.prepare(
      `SELECT COUNT(*) AS n FROM ${sqliteDialect.quote(query.table)} ${where}`,
      query.table,
    ).get(...params) as { n: number };
    return row.n;
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- the interface is async for network sources
  async close(): Promise<void> {
    this.db.close();
  }
}
