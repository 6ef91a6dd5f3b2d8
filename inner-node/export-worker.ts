// A worker thread of a parallel incremental export from SQLite (see exportIncremental in export.ts):
// it reads one key range of the table (a page bounded by two (watermark, key) tuples that the main
// thread found), maps each row to the contract and serialises it for the bank. The main thread
// assembles pages in order, seals, and records cursors, so crash safety does not depend on workers.
import Database from 'better-sqlite3';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { findContract } from '../shared/contracts.js';
import { BridgeError, errorCode } from '../shared/errors.js';
import {
  compileMapping,
  describeRaw,
  type ColumnMapping,
  type MapResult,
  type SourceValue,
} from '../shared/mapping.js';
import { sqliteDialect } from './sources/source-reader.js';

export interface WorkerInit {
  path: string;
  table: string;
  readColumns: string[];
  order: string[];
  upTo: string;
  contract: string;
  columns: Record<string, ColumnMapping>;
  where: string;
  columnIndexes: number[];
  allColumns: boolean;
  keyColumns: string[];
}

export interface PageRequest {
  id: number;
  /** Strictly after this tuple of order values (null: from the beginning). */
  after: SourceValue[] | null;
  /** Up to and including this tuple (null: to the upper bound of the run). */
  until: SourceValue[] | null;
}

export interface PageReject {
  index: number;
  key: Record<string, string | number | null>;
  rejects: { column: string; sourceColumn: string; rule: string; reason: string; raw: string }[];
}

export type PageResult =
  | {
      id: number;
      count: number;
      /** UTF-8: one line per row read, each ending in '\n'; an empty line for a rejected row. */
      lines: Uint8Array;
      /** The JSON cursor tuple of every row read, joined by '\n'. */
      cursors: string;
      rejects: PageReject[];
    }
  | { id: number; error: { family: string; code: string | undefined; message: string } };

/** Reads and maps pages; used by worker threads and by the main thread for its own share of pages. */
export function pageReader(init: WorkerInit): { read(request: PageRequest): PageResult; close(): void } {
  const contract = findContract(init.contract);
  if (!contract) throw new Error(`unknown contract ${init.contract}`);
  const mapping = compileMapping(contract, init.columns, init.where);
  const db = new Database(init.path, { readonly: true, fileMustExist: true });
  db.defaultSafeIntegers(false);
  const q = (name: string): string => sqliteDialect.quote(name);
  const select = [...new Set([...init.readColumns, ...init.order])].map(q).join(', ');
  const tuple = `(${init.order.map(q).join(', ')})`;
  const marks = `(${init.order.map(() => '?').join(', ')})`;
  const statements = new Map<string, Database.Statement>();
  const statement = (after: boolean, until: boolean): Database.Statement => {
    const name = `${after}/${until}`;
    let s = statements.get(name);
    if (!s) {
      // The plain bounds on the leading (watermark) column let SQLite start and stop the index range
      // scan; the row-value comparisons are the exact page bounds.
      // A page's upper tuple never lies beyond the run's bound (now minus the safety lag), so a page
      // with one needs no other upper bound; two would leave SQLite to pick the looser one.
      const lead = q(init.order[0] ?? '');
      const where: string[] = [];
      if (after) where.push(`${lead} >= ?`, `${tuple} > ${marks}`);
      if (until) where.push(`${lead} <= ?`, `${tuple} <= ${marks}`);
      else where.push(`${lead} <= ?`);
      // Rows as arrays: cheaper to read and to map than objects.
      s = db
        .prepare(
          `SELECT ${select} FROM ${q(init.table)} WHERE ${where.join(' AND ')} ORDER BY ${init.order.map(q).join(', ')}`,
        )
        .raw(true);
      statements.set(name, s);
    }
    return s;
  };
  const keyOf = (row: Record<string, SourceValue>): Record<string, string | number | null> =>
    Object.fromEntries(
      init.keyColumns.map((k) => {
        const v = row[k] ?? null;
        return [
          k,
          v === null ? null : typeof v === 'number' ? v : typeof v === 'string' ? v : describeRaw(v),
        ];
      }),
    );
  let bound:
    { columns: string[]; map: (values: readonly SourceValue[]) => MapResult; order: number[] } | undefined;
  const bind = (columns: string[]): NonNullable<typeof bound> => {
    if (bound?.columns.join('\u0000') !== columns.join('\u0000')) {
      bound = {
        columns,
        map: mapping.bindColumns(columns),
        order: init.order.map((c) => columns.indexOf(c)),
      };
    }
    return bound;
  };
  const read = (request: PageRequest): PageResult => {
    try {
      const params: unknown[] = [];
      if (request.after) params.push(request.after[0] ?? null, ...request.after);
      if (request.until) params.push(request.until[0] ?? null, ...request.until);
      else params.push(init.upTo);
      const query = statement(request.after !== null, request.until !== null);
      const rows = query.all(...params) as SourceValue[][];
      const bound = bind(query.columns().map((c) => c.name));
      const lines: string[] = [];
      const cursors: string[] = [];
      const rejects: PageReject[] = [];
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i] ?? [];
        cursors.push(JSON.stringify(bound.order.map((c) => row[c] ?? null)));
        const mapped = bound.map(row);
        if ('rejects' in mapped) {
          lines.push('');
          rejects.push({
            index: i,
            key: keyOf(Object.fromEntries(bound.columns.map((c, k) => [c, row[k] ?? null]))),
            rejects: mapped.rejects,
          });
          continue;
        }
        lines.push(
          JSON.stringify(init.allColumns ? mapped.row : init.columnIndexes.map((c) => mapped.row[c] ?? null)),
        );
      }
      return {
        id: request.id,
        count: rows.length,
        // Encoded here, on the worker's core: the main thread only slices bytes into bundles.
        lines: Buffer.from(lines.length > 0 ? `${lines.join('\n')}\n` : '', 'utf8'),
        cursors: cursors.join('\n'),
        rejects,
      };
    } catch (error) {
      return {
        id: request.id,
        error: {
          family: error instanceof BridgeError ? String(error.family) : 'Error',
          code: errorCode(error),
          message: error instanceof Error ? error.message : String(error),
        },
      };
    }
  };
  return { read, close: () => db.close() };
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  const reader = pageReader(workerData as WorkerInit);
  port.on('message', (request: PageRequest) => port.postMessage(reader.read(request)));
}
