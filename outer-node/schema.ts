// `outer-node schema plan|apply`: the DDL that creates the mapped tables in a new bank database, for
// each database kind.
import { findContract } from '../shared/contracts.js';
import { ConfigError } from '../shared/errors.js';
import { bankColumn, type OuterSettings } from './config.js';
import { createTableSql } from './targets/ddl.js';
import type { TablePlan, TargetKind, TargetWriter } from './targets/target-writer.js';

/** The table plan for a dataset with every mapped contract column, in contract order. */
export function configuredTablePlan(settings: OuterSettings, dataset: string): TablePlan {
  const spec = settings.config.datasets[dataset];
  const contract = findContract(dataset);
  if (!spec || !contract) {
    throw new ConfigError('CONFIG_INVALID', `Dataset '${dataset}' is not configured`, {
      where: settings.path,
    });
  }
  const columns = contract.columns.map((c) => {
    const columnSpec = spec.columns[c.name];
    return {
      contract: c,
      target: bankColumn(columnSpec) ?? null,
      convert: typeof columnSpec === 'object' ? columnSpec.convert : undefined,
    };
  });
  return {
    table: spec.table,
    columns,
    key: contract.key.map((k) => bankColumn(spec.columns[k]) ?? k),
    keyPositions: contract.key.map((k) => contract.columns.findIndex((c) => c.name === k)),
  };
}

/** DDL for the configured datasets, in the connected target's own dialect. */
export function planSchema(settings: OuterSettings, target: TargetWriter): string {
  return Object.keys(settings.config.datasets)
    .map((dataset) => `-- ${dataset}\n${target.createTableSql(configuredTablePlan(settings, dataset))}`)
    .join('\n\n');
}

/** DDL for the configured datasets in any database kind, without connecting to one. */
export function planSchemaFor(settings: OuterSettings, kind: TargetKind): string {
  return Object.keys(settings.config.datasets)
    .map((dataset) => `-- ${dataset}\n${createTableSql(kind, configuredTablePlan(settings, dataset))}`)
    .join('\n\n');
}
