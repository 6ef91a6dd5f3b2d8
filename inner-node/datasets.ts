// A dataset as configured: its spec, contract, compiled mapping, and the banks authorised for it.
import { findContract, type DataContract } from '../shared/contracts.js';
import { ConfigError } from '../shared/errors.js';
import { compileMapping, type CompiledMapping } from '../shared/mapping.js';
import { datasetColumns, type DatasetSpec } from './config.js';
import type { InnerContext } from './context.js';

export function streamName(sender: string, bank: string, dataset: string): string {
  return `${sender}.${bank}.${dataset}`;
}

/** Banks that may receive a dataset, with the contract columns each is authorised to see. */
export function authorisedBanks(ctx: InnerContext, dataset: string): { bank: string; columns: string[] }[] {
  const contract = datasetContract(ctx, dataset);
  return Object.entries(ctx.settings.config.banks).flatMap(([bank, spec]) => {
    const allowed = spec.datasets[dataset];
    if (!allowed) return [];
    const columns = allowed === '*' ? contract.columns.map((c) => c.name) : allowed;
    // Contract order, whatever order the county listed them in.
    return [{ bank, columns: contract.columns.map((c) => c.name).filter((c) => columns.includes(c)) }];
  });
}

export function datasetSpec(ctx: InnerContext, dataset: string): DatasetSpec {
  const spec = Object.hasOwn(ctx.settings.config.datasets, dataset)
    ? ctx.settings.config.datasets[dataset]
    : undefined;
  if (!spec) {
    throw new ConfigError('CONFIG_INVALID', `No dataset named '${dataset}' in the configuration`, {
      where: ctx.settings.path,
      hint: `Known datasets: ${Object.keys(ctx.settings.config.datasets).join(', ') || 'none'}`,
    });
  }
  return spec;
}

export function datasetContract(ctx: InnerContext, dataset: string): DataContract {
  const contract = findContract(datasetSpec(ctx, dataset).contract);
  if (!contract) throw new ConfigError('CONFIG_INVALID', `Dataset '${dataset}' names an unknown contract`);
  return contract;
}

/** The dataset's compiled mapping and the source columns an export reads (mapping, watermark, key). */
export function datasetMapping(
  ctx: InnerContext,
  dataset: string,
): { mapping: CompiledMapping; keyColumns: string[]; readColumns: string[] } {
  const spec = datasetSpec(ctx, dataset);
  const contract = datasetContract(ctx, dataset);
  const columns = datasetColumns(ctx.settings, dataset);
  const mapping = compileMapping(
    contract,
    columns,
    `${spec.mapping ?? ctx.settings.path}: datasets.${dataset}`,
  );
  const keyColumns = contract.key.map((k) => columns[k]?.from ?? k);
  const readColumns = [
    ...new Set([...mapping.sourceColumns, ...(spec.watermark ? [spec.watermark] : []), ...keyColumns]),
  ];
  return { mapping, keyColumns, readColumns };
}
