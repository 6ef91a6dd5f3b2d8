// Incremental export of one dataset to one bank: read after the stream's (watermark, key) cursor,
// map to the contract, keep only the bank's authorised columns, seal for that bank alone, record
// the bundle and advance the cursor in one state transaction, then publish into the outbox.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  fingerprintContract,
  recipientCertificates,
  sealBundle,
  type SealResult,
} from '../crypto/index.js';
import { publishFile, temporaryNameFor } from '../shared/atomic-file.js';
import { parseDuration, parseSize } from '../shared/config-loader.js';
import { canonicalContract, findContract, type DataContract } from '../shared/contracts.js';
import { ConfigError, KeyError, MappingError } from '../shared/errors.js';
import { compileMapping, type RowReject, type SourceValue } from '../shared/mapping.js';
import { encodePayloadLines } from '../shared/payload.js';
import { formatInstant } from '../shared/time.js';
import type { InnerContext } from './context.js';
import type { Cursor } from './sources/source-reader.js';

export interface ExportProgress {
  dataset: string;
  bank: string;
  rows: number;
  bytes: number;
}

export interface ExportOptions {
  now?: () => Date;
  onProgress?: (progress: ExportProgress) => void;
}

export interface StreamExportResult {
  stream: string;
  bank: string;
  dataset: string;
  rows: number;
  rejects: number;
  bundles: SealResult[];
}

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

function datasetContract(ctx: InnerContext, dataset: string): DataContract {
  const spec = ctx.settings.config.datasets[dataset];
  const contract = spec && findContract(spec.contract);
  if (!contract) {
    throw new ConfigError('CONFIG_INVALID', `No dataset named '${dataset}' in the configuration`, {
      where: ctx.settings.path,
      hint: `Known datasets: ${Object.keys(ctx.settings.config.datasets).join(', ') || 'none'}`,
    });
  }
  return contract;
}

/** Re-publishes bundles that were sealed and recorded but not yet copied into the outbox (crash recovery). */
export async function publishPending(ctx: InnerContext): Promise<number> {
  const pending = ctx.state.unpublished();
  for (const bundle of pending) await publishToOutbox(ctx, bundle.file, bundle.bundleId);
  return pending.length;
}

async function publishToOutbox(ctx: InnerContext, sentPath: string, bundleId: string): Promise<void> {
  const outbox = ctx.settings.folders.outbox;
  mkdirSync(outbox, { recursive: true });
  const finalPath = join(outbox, sentPath.split('/').pop() ?? `${bundleId}.gbb`);
  const temp = temporaryNameFor(finalPath);
  copyFileSync(sentPath, temp);
  await publishFile(temp, finalPath);
  ctx.state.markPublished(bundleId);
}

export async function exportDataset(
  ctx: InnerContext,
  dataset: string,
  options: ExportOptions = {},
): Promise<StreamExportResult[]> {
  await publishPending(ctx);
  const results: StreamExportResult[] = [];
  for (const { bank, columns } of authorisedBanks(ctx, dataset)) {
    results.push(await exportStream(ctx, dataset, bank, columns, options));
  }
  return results;
}

export async function exportStream(
  ctx: InnerContext,
  dataset: string,
  bank: string,
  authorisedColumns: string[],
  options: ExportOptions = {},
): Promise<StreamExportResult> {
  const { config } = ctx.settings;
  const spec = config.datasets[dataset];
  if (!spec) throw new ConfigError('CONFIG_INVALID', `No dataset named '${dataset}'`, { where: ctx.settings.path });
  const contract = datasetContract(ctx, dataset);
  const where = `${ctx.settings.path}: datasets.${dataset}`;
  const mapping = compileMapping(contract, spec.columns, where);
  const fingerprint = fingerprintContract(canonicalContract(contract));
  const now = options.now ?? (() => new Date());
  const stream = streamName(config.node.name, bank, dataset);
  const recipientsNow = recipientCertificates(ctx.trust, bank, now());
  if (recipientsNow.length === 0) {
    throw new KeyError('KEY_NOT_FOUND', `No valid encryption certificate for bank '${bank}'`, {
      where: ctx.settings.folders.trust,
      hint: `Import the bank's current certificate with: bridge-keys import-cert --trust ${ctx.settings.folders.trust} CERT.pem`,
    });
  }
  const keyColumns = contract.key.map((k) => spec.columns[k]?.from ?? k);
  const columnIndexes = authorisedColumns.map((c) => contract.columns.findIndex((cc) => cc.name === c));
  const maxRows = config.bundles.max_rows;
  const maxBytes = parseSize(config.bundles.max_bytes) ?? 64 * 1024 * 1024;
  const ttl = parseDuration(config.bundles.expires_after) ?? 14 * 86_400_000;
  const lag = parseDuration(spec.safety_lag) ?? 5000;
  const source = ctx.source(spec.source);
  const startedAt = new Date();
  const result: StreamExportResult = { stream, bank, dataset, rows: 0, rejects: 0, bundles: [] };
  const rejectFile = join(
    ctx.settings.folders.rejects,
    dataset,
    `${bank}-${startedAt.toISOString().replace(/[:.]/g, '-')}.jsonl`,
  );
  let rejectLines: string[] = [];
  const flushRejects = (): void => {
    if (rejectLines.length === 0) return;
    mkdirSync(join(ctx.settings.folders.rejects, dataset), { recursive: true });
    writeFileSync(rejectFile, rejectLines.join(''), { flag: 'a', mode: 0o600 });
    rejectLines = [];
  };

  try {
    // The upper bound is fixed for the whole run so that rows written during the export wait for the
    // next run instead of racing the cursor.
    const upTo = formatInstant(new Date(now().getTime() - lag), spec.watermark_format, spec.watermark_timezone);
    for (;;) {
      const state = ctx.state.stream(stream, bank, dataset);
      let cursor: Cursor | null =
        state.cursorWatermark === null
          ? null
          : { watermark: state.cursorWatermark, key: JSON.parse(state.cursorKey ?? '[]') as SourceValue[] };
      const lines: string[] = [];
      let bytes = 0;
      let read = 0;
      let batchRejects = 0;
      for (const sourceRow of source.readBatch({
        table: spec.table,
        columns: mapping.sourceColumns,
        watermark: spec.watermark,
        key: keyColumns,
        after: cursor,
        upTo,
        limit: maxRows,
      })) {
        read++;
        cursor = { watermark: String(sourceRow[spec.watermark]), key: keyColumns.map((k) => sourceRow[k] ?? null) };
        const mapped = mapping.mapRow(sourceRow);
        if ('rejects' in mapped) {
          batchRejects++;
          rejectLines.push(rejectLine(stream, keyColumns, sourceRow, mapped.rejects));
          continue;
        }
        const line = JSON.stringify(columnIndexes.map((i) => mapped.row[i] ?? null));
        bytes += line.length + 1;
        lines.push(line);
        if (bytes >= maxBytes) break;
      }
      if (read === 0) break;
      result.rejects += batchRejects;
      if (result.rejects > 0 && result.rejects / (result.rows + lines.length + result.rejects) > spec.max_reject_ratio && result.rejects >= 10) {
        flushRejects();
        throw new MappingError(
          'MAPPING_TOO_MANY_REJECTS',
          `Export of ${dataset} for ${bank} stopped: ${result.rejects} rejected rows exceed the threshold (max_reject_ratio ${spec.max_reject_ratio})`,
          { where: rejectFile, hint: 'Read the reject file, fix the source or the mapping, then export again' },
        );
      }
      flushRejects();
      const sequence = state.nextSequence;
      const sent = await sealBatch(ctx, {
        stream,
        bank,
        dataset,
        sequence,
        fingerprint,
        columns: authorisedColumns,
        lines,
        now: now(),
        ttl,
      });
      ctx.state.recordSealed(
        {
          bundleId: sent.header.bundleId,
          stream,
          sequence,
          file: sent.path,
          rowCount: lines.length,
          bytes: sent.bytes,
          digest: sent.plaintextDigest,
          createdAt: sent.header.createdAt,
        },
        cursor?.watermark ?? null,
        cursor ? JSON.stringify(cursor.key) : null,
      );
      await publishToOutbox(ctx, sent.path, sent.header.bundleId);
      result.rows += lines.length;
      result.bundles.push(sent);
      options.onProgress?.({ dataset, bank, rows: result.rows, bytes: sent.bytes });
      ctx.logger.debug(
        { stream, sequence, rows: lines.length, bytes: sent.bytes, bundleId: sent.header.bundleId },
        'bundle sealed',
      );
      if (read < maxRows && bytes < maxBytes) break;
    }
    ctx.state.recordRun(runRecord(dataset, bank, startedAt, result, 'ok', null));
    return result;
  } catch (error) {
    flushRejects();
    ctx.state.recordRun(
      runRecord(dataset, bank, startedAt, result, 'failed', error instanceof Error ? error.message : String(error)),
    );
    throw error;
  }
}

interface BatchToSeal {
  stream: string;
  bank: string;
  dataset: string;
  sequence: number;
  fingerprint: string;
  columns: string[];
  /** Rows already serialised as JSON arrays. */
  lines: string[];
  now: Date;
  ttl: number;
}

async function sealBatch(ctx: InnerContext, batch: BatchToSeal): Promise<SealResult> {
  const sentDir = join(ctx.settings.folders.state, 'sent');
  mkdirSync(sentDir, { recursive: true });
  const recipients = recipientCertificates(ctx.trust, batch.bank, batch.now);
  // The bundle id is chosen by the crypto module; the file name carries it, so seal under a
  // provisional name and let the result tell us the final one.
  const provisional = join(sentDir, `${batch.stream}.${String(batch.sequence).padStart(10, '0')}.gbb`);
  const sealed = await sealBundle({
    identity: ctx.identity,
    recipients,
    description: {
      dataset: batch.dataset,
      contract: batch.fingerprint,
      stream: batch.stream,
      sequence: batch.sequence,
      rowCount: batch.lines.length,
      kind: 'rows',
      createdAt: batch.now,
      expiresAt: new Date(batch.now.getTime() + batch.ttl),
    },
    body: toAsync(
      encodePayloadLines(
        { dataset: batch.dataset, contract: batch.fingerprint, kind: 'rows', columns: batch.columns },
        batch.lines,
      ),
    ),
    outputPath: provisional,
  });
  return sealed;
}

// eslint-disable-next-line @typescript-eslint/require-await -- adapts a sync generator to the async body
async function* toAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}

function rejectLine(
  stream: string,
  keyColumns: string[],
  row: Readonly<Record<string, SourceValue>>,
  rejects: RowReject[],
): string {
  const key = Object.fromEntries(keyColumns.map((k) => [k, describe(row[k] ?? null)]));
  return `${JSON.stringify({ stream, key, rejects })}\n`;
}

function describe(value: SourceValue): string | number | null {
  if (value === null) return null;
  if (value instanceof Uint8Array) return `hex:${Buffer.from(value).toString('hex')}`;
  return typeof value === 'number' ? value : String(value);
}

function runRecord(
  dataset: string,
  bank: string,
  startedAt: Date,
  result: StreamExportResult,
  status: 'ok' | 'failed',
  message: string | null,
) {
  return {
    dataset,
    bank,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    rows: result.rows,
    rejects: result.rejects,
    bundles: result.bundles.length,
    status,
    message,
  };
}
