// Export of one dataset to each authorised bank (design 3 and 6). Per stream (bank, dataset):
// - incremental: read after the stream's (watermark, key) cursor up to now minus the safety lag;
// - snapshot: read the whole source, send rows that are new or changed since they were last sent, and
//   tombstones (key columns only) for keys that a complete snapshot no longer finds.
// Rows are mapped to the contract, cut down to the bank's authorised columns, sealed for that bank
// alone, and each bundle is recorded with the cursor (or the snapshot keys) in one state transaction
// before it is published into the outbox, so a crash at any instant loses nothing and repeats nothing.
import { join } from 'node:path';
import { fingerprintContract, recipientCertificates, sha256Hex } from '../crypto/index.js';
import { InvalidText } from '../shared/charset.js';
import { parseDuration, parseSize } from '../shared/config-loader.js';
import { canonicalContract } from '../shared/contracts.js';
import { ConfigError, KeyError, SourceError } from '../shared/errors.js';
import { describeRaw, type MapResult, type RowReject, type SourceValue } from '../shared/mapping.js';
import { maskResidentIdsInText } from '../shared/resident-id.js';
import { formatInstant } from '../shared/time.js';
import { assertAuditable } from './audit.js';
import type { InnerContext } from './context.js';
import { authorisedBanks, datasetContract, datasetMapping, datasetSpec, streamName } from './datasets.js';
import { checkDrift } from './drift.js';
import { exportPagesInParallel, PARALLEL_AFTER_ROWS, parallelWorkers } from './parallel-export.js';
import { ROW_PROBLEM, ROW_WHERE, type ReadRow } from './sources/source-reader.js';
import {
  BundleAssembler,
  checkRejectThreshold,
  PayloadBody,
  publishPending,
  pruneSent,
  RejectFile,
  runRecord,
  sealAndRecord,
  supersedeLostSequences,
  type ExportOptions,
  type StreamExportResult,
  type StreamJob,
} from './stream-bundles.js';

export type { ExportOptions, ExportProgress, StreamExportResult } from './stream-bundles.js';
export { publishPending, pruneSent } from './stream-bundles.js';
export { authorisedBanks, datasetMapping, streamName } from './datasets.js';
export { checkDrift, compareColumns, describeDrift, resumeDataset, type DriftReport } from './drift.js';

export async function exportDataset(
  ctx: InnerContext,
  dataset: string,
  options: ExportOptions = {},
): Promise<StreamExportResult[]> {
  datasetSpec(ctx, dataset);
  await publishPending(ctx);
  const paused = ctx.state.paused(dataset);
  if (paused) {
    throw new SourceError(
      'SOURCE_PAUSED',
      `Dataset ${dataset} is paused since ${paused.since}: ${paused.reason}`,
      {
        hint: `When the source and the mapping agree again, run: inner-node resume --dataset ${dataset}`,
      },
    );
  }
  const holder = ctx.state.lockDataset(dataset);
  if (holder !== undefined) {
    throw new SourceError(
      'SOURCE_BUSY',
      `Dataset ${dataset} is being exported by another process (pid ${holder})`,
      {
        where: ctx.settings.folders.state,
        hint: "Wait for it to finish; a daemon ('inner-node run') exports every dataset at its interval by itself",
      },
    );
  }
  try {
    // The audit log opens (and is verified) before anything is read or sealed.
    assertAuditable(ctx);
    await checkDrift(ctx, dataset);
    const results: StreamExportResult[] = [];
    const banks = authorisedBanks(ctx, dataset);
    if (options.bank !== undefined && !banks.some((b) => b.bank === options.bank)) {
      throw new ConfigError(
        'CONFIG_INVALID',
        `Bank '${options.bank}' is not authorised to receive dataset ${dataset}`,
        {
          where: ctx.settings.path,
          hint: `Authorised: ${banks.map((b) => b.bank).join(', ') || 'none'}; name one of them, or leave --bank out`,
        },
      );
    }
    for (const { bank, columns } of banks) {
      if (options.bank !== undefined && bank !== options.bank) continue;
      results.push(await exportStream(ctx, dataset, bank, columns, options));
    }
    pruneSent(ctx, options.now?.());
    return results;
  } finally {
    ctx.state.unlockDataset(dataset);
  }
}

function rawKey(job: StreamJob, row: ReadRow): Record<string, string | number | null> {
  return Object.fromEntries(job.keyColumns.map((k) => [k, describeValue(row[k] ?? null)]));
}

function describeValue(value: SourceValue): string | number | null {
  if (value === null) return null;
  if (value instanceof InvalidText || value instanceof Uint8Array) return describeRaw(value);
  return typeof value === 'number' ? value : String(value);
}

function rejectRow(job: StreamJob, row: ReadRow, rejects: RowReject[]): void {
  const where = row[ROW_WHERE];
  for (const r of rejects) {
    job.rejects.add({
      stream: job.stream,
      ...(where ? { where } : {}),
      key: rawKey(job, row),
      column: r.column,
      sourceColumn: r.sourceColumn,
      rule: r.rule,
      reason: r.reason,
      raw: r.raw,
    });
  }
}

type MappedRow = { line: string } | { rejected: true };

/** A mapping bound to the column order of array rows. */
interface BoundColumns {
  columns: string[];
  map: (values: readonly SourceValue[]) => MapResult;
  orderIndexes: number[];
}

function bindColumns(job: StreamJob, columns: string[], order: string[]): BoundColumns {
  return {
    columns,
    map: job.mapping.bindColumns(columns),
    orderIndexes: order.map((c) => columns.indexOf(c)),
  };
}

/** mapForBank for a row given as an array; undefined when rejected (the rejects are written). */
function mapArrayForBank(job: StreamJob, bound: BoundColumns, values: SourceValue[]): string | undefined {
  const mapped = bound.map(values);
  if ('rejects' in mapped) {
    rejectRow(job, Object.fromEntries(bound.columns.map((c, i) => [c, values[i] ?? null])), mapped.rejects);
    return undefined;
  }
  return JSON.stringify(job.allColumns ? mapped.row : job.columnIndexes.map((i) => mapped.row[i] ?? null));
}

/** Writes the reject of a row the reader could not split into columns; returns whether there was one. */
function rejectMalformed(job: StreamJob, row: ReadRow): boolean {
  const problem = row[ROW_PROBLEM];
  if (!problem) return false;
  job.rejects.add({
    stream: job.stream,
    ...(row[ROW_WHERE] ? { where: row[ROW_WHERE] } : {}),
    key: null,
    column: null,
    sourceColumn: null,
    rule: problem.rule,
    reason: problem.reason,
    raw: problem.raw,
  });
  return true;
}

/** Maps one source row to the bank's authorised columns (a JSON line), or writes its rejects. */
function mapForBank(job: StreamJob, row: ReadRow): MappedRow {
  if (rejectMalformed(job, row)) return { rejected: true };
  const mapped = job.mapping.mapRow(row);
  if ('rejects' in mapped) {
    rejectRow(job, row, mapped.rejects);
    return { rejected: true };
  }
  // All columns authorised: the contract row is already in the bank's column order.
  if (job.allColumns) return { line: JSON.stringify(mapped.row) };
  const values = job.columnIndexes.map((i) => mapped.row[i] ?? null);
  return { line: JSON.stringify(values) };
}

export async function exportStream(
  ctx: InnerContext,
  dataset: string,
  bank: string,
  authorisedColumns: string[],
  options: ExportOptions = {},
): Promise<StreamExportResult> {
  const { config } = ctx.settings;
  const spec = datasetSpec(ctx, dataset);
  const contract = datasetContract(ctx, dataset);
  const { mapping, keyColumns, readColumns } = datasetMapping(ctx, dataset);
  const now = options.now ?? (() => new Date());
  const stream = streamName(config.node.name, bank, dataset);
  if (recipientCertificates(ctx.trust, bank, now()).length === 0) {
    throw new KeyError('KEY_NOT_FOUND', `No valid encryption certificate for bank '${bank}'`, {
      where: ctx.settings.folders.trust,
      hint: `Import the bank's current certificate with: bridge-keys import-cert --trust ${ctx.settings.folders.trust} CERT.pem`,
    });
  }
  const startedAt = new Date();
  const job: StreamJob = {
    ctx,
    spec,
    dataset,
    bank,
    stream,
    contract,
    mapping,
    fingerprint: fingerprintContract(canonicalContract(contract)),
    authorisedColumns,
    columnIndexes: authorisedColumns.map((c) => contract.columns.findIndex((cc) => cc.name === c)),
    allColumns:
      authorisedColumns.length === contract.columns.length &&
      authorisedColumns.every((c, i) => contract.columns[i]?.name === c),
    keyColumns,
    readColumns,
    maxRows: config.bundles.max_rows,
    maxBytes: parseSize(config.bundles.max_bytes) ?? 64 * 1024 * 1024,
    ttl: parseDuration(config.bundles.expires_after) ?? 14 * 86_400_000,
    source: ctx.source(spec.source),
    rejects: new RejectFile(
      join(
        ctx.settings.folders.rejects,
        dataset,
        `${bank}-${startedAt.toISOString().replace(/[:.]/g, '-')}.jsonl`,
      ),
    ),
    result: { stream, bank, dataset, rows: 0, rejects: 0, bundles: [] },
    now,
    options,
  };
  try {
    // A snapshot re-send (issue 6) seals its bundles first, then supersedes the lost sequences.
    const firstSequence = ctx.state.stream(stream, bank, dataset).nextSequence;
    if (spec.mode === 'snapshot') await exportSnapshot(job);
    else await exportIncremental(job);
    if (options.snapshot) {
      const next = ctx.state.stream(stream, bank, dataset).nextSequence;
      const sealed = next > firstSequence ? { from: firstSequence, to: next - 1 } : undefined;
      if (sealed) job.result.snapshot = sealed;
      job.result.placeholders = await supersedeLostSequences(job, sealed);
    }
    job.rejects.flush();
    if (job.rejects.exists) job.result.rejectFile = job.rejects.path;
    ctx.state.recordRun(runRecord(dataset, bank, startedAt, job.result, 'ok', null));
    return job.result;
  } catch (error) {
    job.rejects.flush();
    ctx.state.recordRun(
      runRecord(
        dataset,
        bank,
        startedAt,
        job.result,
        'failed',
        maskResidentIdsInText(error instanceof Error ? error.message : String(error)),
      ),
    );
    throw error;
  }
}

function cursorText(job: StreamJob, value: SourceValue, column: string): string | number | null {
  if (value instanceof InvalidText || value instanceof Uint8Array) {
    throw new SourceError(
      'SOURCE_DECODE',
      `Column ${column} of ${job.dataset} holds bytes that are not valid text`,
      {
        where: `${job.source.description}, value ${describeRaw(value)}`,
        hint: 'Watermark and key columns must be valid text or numbers; fix the source row',
      },
    );
  }
  if (typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  return value;
}

/** Rows per source read; a bundle gathers several pages (see exportIncremental). */
const PAGE_ROWS = 2_000;

async function exportIncremental(job: StreamJob): Promise<void> {
  const { ctx, spec, stream } = job;
  const watermark = spec.watermark ?? '';
  const order = [watermark, ...job.keyColumns];
  const lag = parseDuration(spec.safety_lag) ?? 5000;
  // The upper bound is fixed for the whole run so that rows written during the export wait for the
  // next run instead of racing the cursor.
  const upTo = formatInstant(
    new Date(job.now().getTime() - lag),
    spec.watermark_format,
    spec.watermark_timezone,
  );
  const table = spec.table ?? '';
  const cursorOf = (): SourceValue[] | null => {
    const state = ctx.state.stream(stream, job.bank, job.dataset);
    return state.cursorWatermark === null
      ? null
      : [state.cursorWatermark, ...(JSON.parse(state.cursorKey ?? '[]') as SourceValue[])];
  };
  let total: number | undefined;
  if (job.options.estimate && job.source.count) {
    const from = job.options.snapshot ? null : cursorOf();
    total = await job.source.count({ table, columns: job.readColumns, order, after: from, upTo });
  }
  // Pages are smaller than bundles: rows die young (cheap for the garbage collector) while a bundle
  // collects lines from several pages. The cursor saved with a bundle is that of its last row read.
  const pageSize = Math.min(job.maxRows, PAGE_ROWS);
  // Rows come as objects, or as arrays where the source offers them (cheaper to read and map).
  const readArrays = job.source.readAfterArrays?.bind(job.source);
  let bound: BoundColumns | undefined;
  const cursorOfRow = (row: ReadRow | SourceValue[]): (string | number | null)[] =>
    Array.isArray(row)
      ? order.map((c, i) => cursorText(job, row[bound?.orderIndexes[i] ?? -1] ?? null, c))
      : order.map((c) => cursorText(job, row[c] ?? null, c));
  const bundle = new BundleAssembler(job, total);
  // A snapshot re-send reads every row from the start (the cursor is left alone until the end).
  let after = job.options.snapshot ? null : cursorOf();
  let read = 0;
  for (;;) {
    const query = { table, columns: job.readColumns, order, after, upTo, limit: pageSize };
    let rows: (ReadRow | SourceValue[])[];
    if (readArrays) {
      const page = await readArrays(query);
      if (bound?.columns.join('\u0000') !== page.columns.join('\u0000'))
        bound = bindColumns(job, page.columns, order);
      rows = page.rows;
    } else {
      rows = await job.source.readAfter(query);
    }
    let consumed = 0;
    for (const row of rows) {
      consumed++;
      let line: string | undefined;
      if (Array.isArray(row) && bound) {
        line = mapArrayForBank(job, bound, row);
      } else {
        const mapped = mapForBank(job, row as ReadRow);
        line = 'rejected' in mapped ? undefined : mapped.line;
      }
      bundle.add(line, row);
      if (bundle.full) {
        after = cursorOfRow(row);
        await bundle.seal(cursorOfRow);
        // The rest of the page is read again from the new cursor.
        break;
      }
    }
    read += consumed;
    if (consumed === rows.length) {
      const last = rows[rows.length - 1];
      if (last) after = cursorOfRow(last);
      if (rows.length < pageSize) break;
      // A long export from SQLite continues on worker threads (one per core) once it has shown it is
      // long; short ones never pay for starting workers.
      if (read >= PARALLEL_AFTER_ROWS && parallelWorkers(job) > 0) {
        await exportPagesInParallel(job, { order, upTo, table, after, pageSize, bundle });
        finishReread(job);
        return;
      }
    }
  }
  await bundle.seal(cursorOfRow);
  finishReread(job);
}

/**
 * After a snapshot re-send of an incremental stream: every row up to this run's bound was sent, so the
 * cursor moves to the last row read (it never passed this run's bound, the previous cursor's limit).
 */
function finishReread(job: StreamJob): void {
  const cursor = job.resendCursor;
  if (!job.options.snapshot || !cursor) return;
  const [watermark, ...key] = cursor;
  job.ctx.state.advanceCursor(job.stream, String(watermark), JSON.stringify(key));
}

async function exportSnapshot(job: StreamJob): Promise<void> {
  const { ctx, stream, result } = job;
  ctx.state.stream(stream, job.bank, job.dataset);
  const generation = ctx.state.nextGeneration(stream);
  const keyIndexes = job.contract.key.map((k) => job.contract.columns.findIndex((c) => c.name === k));
  let body = new PayloadBody();
  let entries: { key: string; digest: string }[] = [];
  let pendingKeys = new Set<string>();
  const flush = async (): Promise<void> => {
    if (body.rows === 0) return;
    checkRejectThreshold(job, body.rows);
    job.rejects.flush();
    const sealedEntries = entries;
    const bytes = body.bytesAtMost;
    await sealAndRecord(job, 'rows', job.authorisedColumns, body, null, null, () =>
      ctx.state.upsertSnapshotKeys(stream, sealedEntries, generation),
    );
    job.options.onProgress?.({ dataset: job.dataset, bank: job.bank, rows: result.rows, bytes });
    body = new PayloadBody();
    entries = [];
    pendingKeys = new Set();
  };
  for await (const batch of job.source.scan({
    table: job.spec.table ?? '',
    columns: job.readColumns,
    key: job.keyColumns,
    batchSize: Math.min(job.maxRows, 10_000),
  })) {
    const unchanged = new Set<string>();
    for (const row of batch) {
      if (rejectMalformed(job, row)) {
        result.rejects++;
        continue;
      }
      const mapped = job.mapping.mapRow(row);
      if ('rejects' in mapped) {
        result.rejects++;
        rejectRow(job, row, mapped.rejects);
        // A row that is still there but now fails a rule is not a delete: keep its key alive (the bank
        // keeps the version it has until the row is fixed).
        const key = job.mapping.mapKey(row);
        if (key) unchanged.add(JSON.stringify(key));
        continue;
      }
      const key = JSON.stringify(keyIndexes.map((i) => mapped.row[i] ?? null));
      const line = JSON.stringify(job.columnIndexes.map((i) => mapped.row[i] ?? null));
      const previous = ctx.state.snapshotEntry(stream, key);
      if (pendingKeys.has(key) || previous?.seen === generation || unchanged.has(key)) {
        result.rejects++;
        rejectRow(job, row, [
          {
            column: job.contract.key.join(','),
            sourceColumn: job.keyColumns.join(','),
            rule: 'duplicate-key',
            reason: 'the key occurs more than once in the source',
            raw: job.keyColumns.map((k) => describeRaw(row[k] ?? null)).join(','),
          },
        ]);
        continue;
      }
      const digest = sha256Hex(line);
      // A snapshot re-send (issue 6) sends every row, changed or not.
      if (previous?.digest === digest && !job.options.snapshot) {
        unchanged.add(key);
        continue;
      }
      body.add(line);
      entries.push({ key, digest });
      pendingKeys.add(key);
      if (body.rows >= job.maxRows || body.bytesAtMost >= job.maxBytes) await flush();
    }
    ctx.state.markSeen(stream, [...unchanged], generation);
  }
  await flush();
  checkRejectThreshold(job, 0);
  // The snapshot was read to the end: keys it did not see were deleted at the source.
  result.tombstones = 0;
  for (;;) {
    const keys = ctx.state.unseenKeys(stream, generation, job.maxRows);
    if (keys.length === 0) break;
    const tombstones = new PayloadBody();
    // Keys are stored as the JSON arrays of the contract key values: they are the payload rows.
    for (const key of keys) tombstones.add(key);
    await sealAndRecord(job, 'tombstones', [...job.contract.key], tombstones, null, null, () =>
      ctx.state.deleteSnapshotKeys(stream, keys),
    );
  }
}
