// A TargetWriter loads rows into one bank database, with the ledger row in the same transaction as
// the rows (design 6): a bundle is applied completely and once, or not at all.
import type { ContractColumn } from '../../shared/contracts.js';
import type { ContractValue } from '../../shared/mapping.js';
import type { Conversion } from '../config.js';

export type TargetKind = 'sqlite' | 'postgres' | 'mariadb';

export interface LedgerEntry {
  bundleId: string;
  stream: string;
  sequence: number;
  dataset: string;
  rowCount: number;
  digest: string;
}

/** How one dataset lands in the bank's table: contract columns in payload order to bank columns (DDL). */
export interface TablePlan {
  table: string;
  /** For each payload column: its contract definition and the bank column, or null if not stored. */
  columns: { contract: ContractColumn; target: string | null; convert?: Conversion | undefined }[];
  /** Bank column names of the contract key, in key order. */
  key: string[];
  /** Positions of the key columns in a payload row. */
  keyPositions: number[];
}

/** A value already converted for the bank column it goes to. */
export type TargetValue = string | number | boolean | null;

/**
 * Rows that also come in batches (what the import hands over: one batch per decrypted segment). A
 * target may read `batches` and loop over each batch synchronously instead of awaiting every row;
 * either way the rows can be read only once.
 */
export interface RowBatches extends AsyncIterable<TargetValue[]> {
  readonly batches: AsyncIterable<TargetValue[][]>;
}

/** Wraps batches as rows that a row-at-a-time target can read too. */
export function rowBatches(batches: AsyncIterable<TargetValue[][]>): RowBatches {
  return {
    batches,
    async *[Symbol.asyncIterator]() {
      for await (const batch of batches) yield* batch;
    },
  };
}

/** The batches behind `rows`, when it has them. */
export function batchesOf(rows: AsyncIterable<TargetValue[]>): AsyncIterable<TargetValue[][]> | undefined {
  return 'batches' in rows ? (rows as RowBatches).batches : undefined;
}

/** What one bundle writes: bank column names in row order, and which of them form the key. */
export interface LoadPlan {
  table: string;
  columns: string[];
  /** Bank column names of the key (all of them appear in `columns`). */
  key: string[];
  /** Positions of the key columns in a row. */
  keyPositions: number[];
}

/** A bank column as the live database describes it. */
export interface TargetColumn {
  name: string;
  /** Lower-case declared type, e.g. 'character varying', 'varchar', 'numeric', 'datetime', 'text'. */
  dataType: string;
  /** Longest value in characters (VARCHAR(n), CHAR(n)); null when the type has no character limit. */
  charMax: number | null;
  /** Longest value in bytes (MariaDB TEXT family); null when not limited in bytes. */
  byteMax: number | null;
  /** The column's character set as the database names it ('utf8mb4', 'gbk', 'latin1', 'UTF8'...). */
  charset: string | null;
  numericPrecision: number | null;
  numericScale: number | null;
  nullable: boolean;
}

export interface TargetTable {
  /** The table's name as the database spells it (looked up without regard to case). */
  name: string;
  columns: TargetColumn[];
  /** Column lists of the primary key and unique indexes (ON CONFLICT / ON DUPLICATE KEY needs one). */
  uniqueKeys: string[][];
}

export type ApplyOutcome =
  | { outcome: 'applied'; rows: number }
  | { outcome: 'duplicate' }
  | { outcome: 'out-of-order'; expected: number };

export interface LedgerSummary {
  stream: string;
  lastSequence: number;
  bundles: number;
  rows: number;
  lastAppliedAt: string | null;
}

/** One bundle as the ledger records it (no digest): what was applied, and when. */
export interface LedgerRecord {
  stream: string;
  sequence: number;
  dataset: string;
  rows: number;
  /** ISO 8601 instant. */
  appliedAt: string;
}

export interface TargetWriter {
  readonly kind: TargetKind;
  readonly description: string;
  /** Creates the ledger table if it is missing. */
  prepare(): Promise<void>;
  /** Highest sequence applied for a stream, 0 when none. */
  lastApplied(stream: string): Promise<number>;
  /** Per stream: what the ledger holds (status). */
  ledgerSummary(): Promise<LedgerSummary[]>;
  /** Ledger rows applied at or after `since`, oldest first (the report's throughput chart). */
  ledgerSince(since: Date): Promise<LedgerRecord[]>;
  /** The live shape of a bank table, or undefined when it does not exist. */
  describeTable(table: string): Promise<TargetTable | undefined>;
  /**
   * Applies rows (kind 'rows': upserts) or tombstones (deletes by key) and the ledger row in one
   * transaction. `digest` is read after the rows were consumed, because the plaintext digest is only
   * known then. Nothing is committed if the row stream throws.
   */
  apply(
    plan: LoadPlan,
    kind: 'rows' | 'tombstones',
    rows: AsyncIterable<TargetValue[]>,
    ledger: Omit<LedgerEntry, 'digest' | 'rowCount'>,
    digest: () => string,
  ): Promise<ApplyOutcome>;
  /** DDL that would create the mapped table for this database kind. */
  createTableSql(plan: TablePlan): string;
  /** Runs DDL (schema apply). SQLite runs it synchronously. */
  exec(sql: string): Promise<void> | void;
  /**
   * Housekeeping while no bundle is being applied (the daemon calls it before it waits), such as a
   * SQLite WAL checkpoint. Optional.
   */
  idle?(): Promise<void>;
  close(): Promise<void>;
}

export type { ContractValue };
