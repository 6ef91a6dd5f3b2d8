// `inner-node mapping check FILE`: validates a mapping file against its contract and the live source,
// then maps the first rows as a dry run, listing the rows and any rejects. Nothing is written.
import { resolve } from 'node:path';
import { findContract } from '../shared/contracts.js';
import { ConfigError } from '../shared/errors.js';
import { compileMapping, describeRaw, type ContractValue, type RowReject } from '../shared/mapping.js';
import { loadMappingFile, type InnerSettings } from './config.js';
import { openSource } from './context.js';
import { ROW_PROBLEM, ROW_WHERE, type ReadRow } from './sources/source-reader.js';

export interface MappingCheckReport {
  dataset: string;
  file: string;
  source: string;
  /** Problems that stop an export: unknown columns and the like. Empty when the mapping is usable. */
  problems: string[];
  /** Source columns that no contract column is mapped from (for information). */
  unmappedSourceColumns: string[];
  rows: { where: string; row: Record<string, ContractValue> }[];
  rejects: { where: string; rejects: RowReject[] }[];
}

function datasetFor(settings: InnerSettings, file: string, dataset: string | undefined): string {
  if (dataset !== undefined) {
    if (!Object.hasOwn(settings.config.datasets, dataset)) {
      throw new ConfigError('CONFIG_INVALID', `No dataset named '${dataset}'`, { where: settings.path });
    }
    return dataset;
  }
  const wanted = resolve(file);
  const using = Object.entries(settings.config.datasets)
    .filter(([, spec]) => spec.mapping !== undefined && settings.resolve(spec.mapping) === wanted)
    .map(([name]) => name);
  const first = using[0];
  if (first === undefined) {
    throw new ConfigError('CONFIG_INVALID', `No dataset in ${settings.path} uses the mapping file ${file}`, {
      hint: 'Name the dataset whose source and table it should be checked against with --dataset NAME',
    });
  }
  return first;
}

export async function checkMappingFile(
  settings: InnerSettings,
  file: string,
  options: { dataset?: string; rows?: number } = {},
): Promise<MappingCheckReport> {
  const dataset = datasetFor(settings, file, options.dataset);
  const spec = settings.config.datasets[dataset];
  const contract = spec && findContract(spec.contract);
  if (!spec || !contract) throw new ConfigError('CONFIG_INVALID', `Dataset '${dataset}' is not usable`);
  const columns = loadMappingFile(file, spec.contract);
  const mapping = compileMapping(contract, columns, file);
  const keyColumns = contract.key.map((k) => columns[k]?.from ?? k);
  const readColumns = [
    ...new Set([...mapping.sourceColumns, ...(spec.watermark ? [spec.watermark] : []), ...keyColumns]),
  ];
  const source = openSource(settings, spec.source);
  const report: MappingCheckReport = {
    dataset,
    file,
    source: `${source.description}${spec.table ? `, table ${spec.table}` : ''}`,
    problems: [],
    unmappedSourceColumns: [],
    rows: [],
    rejects: [],
  };
  try {
    const sourceColumns = await source.describe(spec.table ?? '');
    const names = new Set(sourceColumns.map((c) => c.name));
    for (const column of readColumns) {
      if (!names.has(column)) {
        const users = Object.entries(columns)
          .filter(([, m]) => m.from === column)
          .map(([c]) => c);
        const role =
          column === spec.watermark
            ? 'the watermark'
            : users.length > 0
              ? `mapped to ${users.join(', ')}`
              : 'a key';
        report.problems.push(
          `source column ${column} (${role}) does not exist; the source has ${[...names].join(', ')}`,
        );
      }
    }
    report.unmappedSourceColumns = sourceColumns.map((c) => c.name).filter((c) => !readColumns.includes(c));
    if (report.problems.length > 0) return report;
    const limit = options.rows ?? 10;
    let rows: ReadRow[] = [];
    if (spec.mode === 'incremental' && spec.watermark) {
      rows = await source.readAfter({
        table: spec.table ?? '',
        columns: readColumns,
        order: [spec.watermark, ...keyColumns],
        after: null,
        limit,
      });
    } else {
      for await (const batch of source.scan({
        table: spec.table ?? '',
        columns: readColumns,
        key: keyColumns,
        batchSize: limit,
      })) {
        rows = batch.slice(0, limit);
        break;
      }
    }
    rows.forEach((row, index) => {
      const where =
        row[ROW_WHERE] ??
        `row ${index + 1} (${keyColumns.map((k) => `${k}=${describeRaw(row[k] ?? null)}`).join(', ')})`;
      const problem = row[ROW_PROBLEM];
      if (problem) {
        report.rejects.push({
          where,
          rejects: [
            { column: '-', sourceColumn: '-', rule: problem.rule, reason: problem.reason, raw: problem.raw },
          ],
        });
        return;
      }
      const mapped = mapping.mapRow(row);
      if ('rejects' in mapped) report.rejects.push({ where, rejects: mapped.rejects });
      else
        report.rows.push({
          where,
          row: Object.fromEntries(contract.columns.map((c, i) => [c.name, mapped.row[i] ?? null])),
        });
    });
    return report;
  } finally {
    await source.close();
  }
}
