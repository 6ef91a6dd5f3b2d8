// DDL for a new bank database (`outer-node schema plan|apply`): the mapped tables in each database's
// own types, chosen so that every contract value fits without loss (exact decimals, explicit lengths).
import type { ContractType } from '../../shared/contracts.js';
import type { Conversion } from '../config.js';
import type { TablePlan, TargetKind } from './target-writer.js';

function longest(values: readonly string[]): number {
  return Math.max(1, ...values.map((v) => [...v].length));
}

/** The column type for a contract type (after the column's conversion) in one database kind. */
export function columnType(kind: TargetKind, type: ContractType, convert: Conversion | undefined): string {
  const text = (n: number | undefined): string =>
    kind === 'sqlite' ? 'TEXT' : n === undefined ? (kind === 'postgres' ? 'text' : 'TEXT') : `VARCHAR(${n})`;
  const fixed = (n: number): string => (kind === 'sqlite' ? 'TEXT' : `CHAR(${n})`);
  switch (type.kind) {
    case 'string':
      return text(type.maxLength);
    case 'resident_id':
      return fixed(18);
    case 'enum':
      return text(longest(type.values));
    case 'month':
      return fixed(convert === 'month_compact' ? 6 : 7);
    case 'date':
      if (convert === 'date_compact') return fixed(8);
      return kind === 'sqlite' ? 'TEXT' : 'DATE';
    case 'timestamp':
      // PostgreSQL keeps the instant; MariaDB DATETIME holds wall time at target.naive_time_offset.
      return kind === 'postgres' ? 'timestamptz' : kind === 'mariadb' ? 'DATETIME' : 'TEXT';
    case 'decimal':
      if (convert === 'yuan_to_fen') return kind === 'sqlite' ? 'INTEGER' : 'BIGINT';
      // SQLite keeps decimals as TEXT: its NUMERIC affinity would turn '1234.50' into a float.
      return kind === 'sqlite' ? 'TEXT' : `DECIMAL(${type.precision},${type.scale})`;
    case 'integer':
      return kind === 'sqlite' ? 'INTEGER' : 'BIGINT';
    case 'boolean':
      if (convert === 'boolean_yn' || convert === 'boolean_10') return fixed(1);
      return kind === 'postgres' ? 'boolean' : kind === 'mariadb' ? 'BOOLEAN' : 'INTEGER';
  }
}

export function quoteIdentifier(kind: TargetKind, name: string): string {
  return kind === 'mariadb' ? `\`${name.replace(/`/g, '``')}\`` : `"${name.replace(/"/g, '""')}"`;
}

export function createTableSql(kind: TargetKind, plan: TablePlan): string {
  const q = (n: string): string => quoteIdentifier(kind, n);
  const columns = plan.columns.flatMap((c) =>
    c.target
      ? [
          `  ${q(c.target)} ${columnType(kind, c.contract.type, c.convert)}${c.contract.nullable ? '' : ' NOT NULL'}`,
        ]
      : [],
  );
  const suffix = kind === 'mariadb' ? ' ENGINE=InnoDB DEFAULT CHARSET=utf8mb4' : '';
  return `CREATE TABLE IF NOT EXISTS ${q(plan.table)} (\n${columns.join(',\n')},\n  PRIMARY KEY (${plan.key.map(q).join(', ')})\n)${suffix};`;
}
