// Schema drift (design 3): the source's columns are compared with the ones accepted at the last
// export; a source that gains, loses or retypes a column is handled by the dataset's policy.
import { MappingError, SourceError } from '../shared/errors.js';
import type { InnerContext } from './context.js';
import { datasetMapping, datasetSpec } from './datasets.js';
import type { SourceColumn, SourceReader } from './sources/source-reader.js';

export interface DriftReport {
  added: SourceColumn[];
  removed: SourceColumn[];
  retyped: { name: string; from: string; to: string }[];
}

export function compareColumns(before: SourceColumn[], after: SourceColumn[]): DriftReport {
  const old = new Map(before.map((c) => [c.name, c.type]));
  const now = new Map(after.map((c) => [c.name, c.type]));
  return {
    added: after.filter((c) => !old.has(c.name)),
    removed: before.filter((c) => !now.has(c.name)),
    retyped: after.flatMap((c) => {
      const was = old.get(c.name);
      return was !== undefined && was !== c.type ? [{ name: c.name, from: was, to: c.type }] : [];
    }),
  };
}

export function describeDrift(drift: DriftReport): string {
  return [
    ...drift.added.map((c) => `column ${c.name} added (${c.type})`),
    ...drift.removed.map((c) => `column ${c.name} removed`),
    ...drift.retyped.map((c) => `column ${c.name} changed type from ${c.from} to ${c.to}`),
  ].join('; ');
}

function missingColumnsError(
  ctx: InnerContext,
  dataset: string,
  source: SourceReader,
  missing: string[],
): MappingError {
  const spec = datasetSpec(ctx, dataset);
  return new MappingError(
    'MAPPING_UNKNOWN_COLUMN',
    `Dataset ${dataset}: the source has no column(s) ${missing.join(', ')}${spec.table ? ` in table ${spec.table}` : ''}`,
    {
      where: `${source.description}; mapping ${spec.mapping ?? ctx.settings.path}`,
      hint: "Correct the column names in the mapping (check them with 'inner-node mapping check')",
    },
  );
}

/**
 * Compares the source's columns with the accepted ones and applies the dataset's drift policy:
 * ignore (accept and carry on), add_nullable (accept added columns, pause on removed or retyped
 * ones), pause (pause on any change). A paused dataset throws SOURCE_DRIFT and stays paused.
 */
export async function checkDrift(ctx: InnerContext, dataset: string): Promise<DriftReport | undefined> {
  const spec = datasetSpec(ctx, dataset);
  const source = ctx.source(spec.source);
  const columns = await source.describe(spec.table ?? '');
  const { readColumns } = datasetMapping(ctx, dataset);
  const missing = readColumns.filter((c) => !columns.some((s) => s.name === c));
  const stored = ctx.state.sourceSchema(dataset);
  if (!stored) {
    if (missing.length > 0) throw missingColumnsError(ctx, dataset, source, missing);
    ctx.state.recordSourceSchema(dataset, JSON.stringify(columns));
    return undefined;
  }
  const drift = compareColumns(JSON.parse(stored.columns) as SourceColumn[], columns);
  if (drift.added.length + drift.removed.length + drift.retyped.length === 0) {
    if (missing.length > 0) throw missingColumnsError(ctx, dataset, source, missing);
    return undefined;
  }
  const text = describeDrift(drift);
  const onlyAdded = drift.removed.length === 0 && drift.retyped.length === 0;
  if (spec.drift === 'ignore' || (spec.drift === 'add_nullable' && onlyAdded)) {
    ctx.logger.warn(
      { dataset, drift: text, policy: spec.drift },
      'source schema changed; accepted by policy',
    );
    if (missing.length > 0) throw missingColumnsError(ctx, dataset, source, missing);
    ctx.state.recordSourceSchema(dataset, JSON.stringify(columns));
    return drift;
  }
  const reason = `source schema changed: ${text} (policy ${spec.drift})`;
  ctx.state.pause(dataset, reason);
  ctx.logger.warn({ dataset, reason }, 'dataset paused');
  throw new SourceError('SOURCE_DRIFT', `Dataset ${dataset} paused: ${reason}`, {
    where: `${source.description}${spec.table ? `, table ${spec.table}` : ''}`,
    hint: `Check the change with the source's owners, adjust the mapping if needed, then run: inner-node resume --dataset ${dataset}`,
  });
}

/** Releases a paused dataset, accepting the source's current columns as the new baseline. */
export async function resumeDataset(
  ctx: InnerContext,
  dataset: string,
): Promise<{ wasPaused: boolean; reason?: string }> {
  const spec = datasetSpec(ctx, dataset);
  const source = ctx.source(spec.source);
  const columns = await source.describe(spec.table ?? '');
  const { readColumns } = datasetMapping(ctx, dataset);
  const missing = readColumns.filter((c) => !columns.some((s) => s.name === c));
  if (missing.length > 0) throw missingColumnsError(ctx, dataset, source, missing);
  const paused = ctx.state.paused(dataset);
  ctx.state.recordSourceSchema(dataset, JSON.stringify(columns));
  ctx.state.resume(dataset);
  return paused ? { wasPaused: true, reason: paused.reason } : { wasPaused: false };
}
