// SQLite government source, opened read-only.
import Database from 'better-sqlite3';
import { SourceError } from '../../shared/errors.js';
import type { SourceValue } from '../../shared/mapping.js';
import { quoteIdentifier, type BatchQuery, type SourceReader } from './source-reader.js';

export class SqliteSource implements SourceReader {
  readonly description: string;
  private readonly db: Database.Database;

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

  columns(table: string): string[] {
    const rows = this.db.prepare(`SELECT name FROM pragma_table_info(?)`).all(table) as { name: string }[];
    if (rows.length === 0) {
      throw new SourceError('SOURCE_SCHEMA', `Table ${table} not found in the source`, {
        where: this.description,
        hint: 'Check the table name in the dataset configuration',
      });
    }
    return rows.map((r) => r.name);
  }

  *readBatch(query: BatchQuery): Iterable<Record<string, SourceValue>> {
    const order = [query.watermark, ...query.key].map(quoteIdentifier);
    const select = [...new Set([...query.columns, query.watermark, ...query.key])].map(quoteIdentifier).join(', ');
    const conditions = [`${quoteIdentifier(query.watermark)} <= ?`];
    const params: SourceValue[] = [query.upTo];
    if (query.after) {
      // Row-value comparison: strictly after (watermark, key) so ties on the watermark are neither
      // skipped nor re-sent (design 3).
      conditions.push(`(${order.join(', ')}) > (${order.map(() => '?').join(', ')})`);
      params.push(query.after.watermark, ...query.after.key);
    }
    const sql = `SELECT ${select} FROM ${quoteIdentifier(query.table)} WHERE ${conditions.join(' AND ')} ORDER BY ${order.join(', ')} LIMIT ?`;
    let statement: Database.Statement;
    try {
      statement = this.db.prepare(sql);
    } catch (error) {
      throw new SourceError('SOURCE_QUERY', `Cannot read table ${query.table}`, {
        where: this.description,
        hint: 'Check the table and column names in the dataset mapping',
        cause: error,
      });
    }
    yield* statement.iterate(...params, query.limit) as Iterable<Record<string, SourceValue>>;
  }

  close(): void {
    this.db.close();
  }
}
