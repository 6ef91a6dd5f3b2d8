// A SourceReader reads one table of a government source in batches, never the whole table at once
// (style.md rule 7: side effects behind a small interface). Two ways to read: keyset pages in an order
// (watermark then key for incremental export, key alone for snapshots), and a scan in the source's
// own order (delimited files, which have no index).
import type { SourceValue } from '../../shared/mapping.js';

export type SourceRow = Record<string, SourceValue>;

/** A row the reader could not split into columns (a malformed CSV record): rejected as a whole. */
export interface RowProblem {
  rule: string;
  reason: string;
  raw: string;
}

/** Set on a row object by a reader when the row itself is malformed. */
export const ROW_PROBLEM = Symbol('row-problem');
/** Set on a row object by a reader that can say where the row is (file and line), for reject files. */
export const ROW_WHERE = Symbol('row-where');

export type ReadRow = SourceRow & { [ROW_PROBLEM]?: RowProblem; [ROW_WHERE]?: string };

/** A source column as the source reports it: name and declared type (for drift checks). */
export interface SourceColumn {
  name: string;
  type: string;
}

export interface KeysetQuery {
  table: string;
  columns: string[];
  /** The columns that order the read: [watermark, ...key] or [...key]. */
  order: string[];
  /** Strictly after this tuple of `order` values; null for the beginning. */
  after: SourceValue[] | null;
  /** Inclusive upper bound on the first order column (now minus the safety lag), in source format. */
  upTo?: string;
  limit: number;
}

export interface ScanQuery {
  table: string;
  columns: string[];
  key: string[];
  batchSize: number;
}

export interface SourceReader {
  readonly description: string;
  /** Columns of a table with their declared types, in the source's order. */
  describe(table: string): Promise<SourceColumn[]>;
  /** At most `limit` rows in `order` order, strictly after the cursor and up to the bound. */
  readAfter(query: KeysetQuery): Promise<ReadRow[]>;
  /**
   * readAfter with rows as arrays in `columns` order: cheaper to read and to map for wide exports.
   * Optional; offered by sources whose driver returns arrays natively (SQLite).
   */
  readAfterArrays?(query: KeysetQuery): Promise<{ columns: string[]; rows: SourceValue[][] }>;
  /** Every row in batches (snapshots). Database readers page by key; files stream in file order. */
  scan(query: ScanQuery): AsyncIterable<ReadRow[]>;
  /** How many rows readAfter would still return in total, when the source can tell cheaply. */
  count?(query: Omit<KeysetQuery, 'limit'>): Promise<number | undefined>;
  close(): Promise<void>;
}

/** SQL differences between database sources. */
export interface SqlDialect {
  quote(name: string): string;
  param(index: number): string;
  /** Whether (a, b) > (x, y) row-value comparisons are used (else expanded into OR terms). */
  rowValues: boolean;
}

export const sqliteDialect: SqlDialect = {
  quote: (name) => `"${name.replace(/"/g, '""')}"`,
  param: () => '?',
  rowValues: true,
};

/** Quotes an identifier for SQLite/PostgreSQL; kept for callers of the first version. */
export function quoteIdentifier(name: string): string {
  return sqliteDialect.quote(name);
}

/** The WHERE clause of a keyset page: after the cursor (strictly), and up to the bound. */
export function keysetWhere(
  dialect: SqlDialect,
  query: Omit<KeysetQuery, 'limit' | 'columns' | 'table'>,
): { where: string; params: SourceValue[] } {
  const conditions: string[] = [];
  const params: SourceValue[] = [];
  const p = (): string => dialect.param(params.length);
  const order = query.order.map((c) => dialect.quote(c));
  if (query.upTo !== undefined && order[0]) {
    params.push(query.upTo);
    conditions.push(`${order[0]} <= ${dialect.param(params.length)}`);
  }
  if (query.after) {
    const after = query.after;
    if (dialect.rowValues) {
      // Strictly after (watermark, key): ties on the watermark are neither skipped nor re-sent (design 3).
      const placeholders = after.map((v) => {
        params.push(v);
        return p();
      });
      conditions.push(`(${order.join(', ')}) > (${placeholders.join(', ')})`);
    } else {
      // a >= x AND (a > x OR (a = x AND (b > y OR ...))): the leading bound lets the optimiser use the
      // (watermark, key) index as a range; the rest is the exact row-value comparison.
      params.push(after[0] ?? null);
      const lead = `${order[0]} >= ${p()}`;
      const expand = (i: number): string => {
        params.push(after[i] ?? null);
        const gt = `${order[i]} > ${p()}`;
        if (i === order.length - 1) return gt;
        params.push(after[i] ?? null);
        const eq = `${order[i]} = ${p()}`;
        return `(${gt} OR (${eq} AND ${expand(i + 1)}))`;
      };
      conditions.push(`${lead} AND ${expand(0)}`);
    }
  }
  return { where: conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '', params };
}

/** SELECT for a keyset page; the selected columns are the union of the wanted and the order columns. */
export function keysetSelect(
  dialect: SqlDialect,
  query: KeysetQuery,
): { sql: string; params: SourceValue[] } {
  const select = [...new Set([...query.columns, ...query.order])].map((c) => dialect.quote(c)).join(', ');
  const { where, params } = keysetWhere(dialect, query);
  params.push(query.limit);
  const order = query.order.map((c) => dialect.quote(c)).join(', ');
  return {
    sql: `SELECT ${select} FROM ${dialect.quote(query.table)} ${where} ORDER BY ${order} LIMIT ${dialect.param(params.length)}`,
    params,
  };
}

/** A snapshot scan for database readers: keyset pages in key order. */
export async function* keysetScan(reader: SourceReader, query: ScanQuery): AsyncGenerator<ReadRow[]> {
  let after: SourceValue[] | null = null;
  for (;;) {
    const rows = await reader.readAfter({
      table: query.table,
      columns: query.columns,
      order: query.key,
      after,
      limit: query.batchSize,
    });
    if (rows.length === 0) return;
    yield rows;
    const last = rows[rows.length - 1];
    if (!last || rows.length < query.batchSize) return;
    after = query.key.map((k) => last[k] ?? null);
  }
}
