// A TargetWriter loads contract rows into one bank database, with the ledger row in the same
// transaction as the rows (design 6): a bundle is applied completely and once, or not at all.
import type { ContractColumn } from '../../shared/contracts.js';
import type { ContractValue } from '../../shared/mapping.js';

export interface LedgerEntry {
  bundleId: string;
  stream: string;
  sequence: number;
  dataset: string;
  rowCount: number;
  digest: string;
}

/** How one dataset lands in the bank's table: contract columns in payload order to bank columns. */
export interface TablePlan {
  table: string;
  /** For each payload column: its contract definition and the bank column, or null if not stored. */
  columns: { contract: ContractColumn; target: string | null }[];
  /** Bank column names of the contract key, in key order. */
  key: string[];
  /** Positions of the key columns in a payload row. */
  keyPositions: number[];
}

export type ApplyOutcome =
  | { outcome: 'applied'; rows: number }
  | { outcome: 'duplicate' }
  | { outcome: 'out-of-order'; expected: number };

export interface TargetWriter {
  readonly description: string;
  /** Creates the ledger table if it is missing. */
  prepare(): Promise<void>;
  /** Highest sequence applied for a stream, 0 when none. */
  lastApplied(stream: string): Promise<number>;
  /**
   * Applies rows (or tombstones) and the ledger row in one transaction. `digest` is read after the
   * rows were consumed, because the plaintext digest is only known then. Nothing is committed if the
   * row stream throws.
   */
  apply(
    plan: TablePlan,
    kind: 'rows' | 'tombstones',
    rows: AsyncIterable<ContractValue[]>,
    ledger: Omit<LedgerEntry, 'digest' | 'rowCount'>,
    digest: () => string,
  ): Promise<ApplyOutcome>;
  /** DDL that would create the mapped table for this database kind. */
  createTableSql(plan: TablePlan): string;
  close(): Promise<void>;
}
