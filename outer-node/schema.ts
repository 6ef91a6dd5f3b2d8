// `outer-node schema plan|apply`: the DDL that creates the mapped tables in a new bank database.
import { findContract } from '../shared/contracts.js';
import { ConfigError } from '../shared/errors.js';
import type { OuterSettings } from './config.js';
import type { TablePlan, TargetWriter } from './targets/target-writer.js';

/** The table plan for a dataset with every mapped contract column, in contract order. */
export function configuredTablePlan(settings: OuterSettings, dataset: string): TablePlan {
  const spec = settings.config.datasets[dataset];
  const contract = findContract(dataset);
  if (!spec || !contract) {
    throw new ConfigError('CONFIG_INVALID', `Dataset '${dataset}' is not configured`, { where: settings.path });
  }
  const columns = contract.columns.map((c) => ({ contract: c, target: spec.columns[c.name] ?? null }));
  return {
    table: spec.table,
    columns,
    key: contract.key.map((k) => spec.columns[k] ?? k),
    keyPositions: contract.key.map((k) => contract.columns.findIndex((c) => c.name === k)),
  };
}

export function planSchema(settings: OuterSettings, target: TargetWriter): string {
  return Object.keys(settings.config.datasets)
    .map((dataset) => `-- ${dataset}\n${target.createTableSql(configuredTablePlan(settings, dataset))}`)
    .join('\n\n');
}
