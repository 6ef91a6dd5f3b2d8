// One stream's export job and how its bundles are written: rows gathered into a payload up to the
// row and byte caps, sealed for the bank alone, recorded with the cursor (or the snapshot keys) in one
// state transaction, then published into the outbox; rejected rows into the run's reject file.
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { recipientCertificates, sealBundle, type PayloadKind, type SealResult } from '../crypto/index.js';
import { publishFile, temporaryNameFor } from '../shared/atomic-file.js';
import { parseDuration } from '../shared/config-loader.js';
import type { DataContract } from '../shared/contracts.js';
import { MappingError } from '../shared/errors.js';
import type { CompiledMapping, SourceValue } from '../shared/mapping.js';
import type { PayloadPreamble } from '../shared/payload.js';
import { assertAuditable, auditSent } from './audit.js';
import type { DatasetSpec } from './config.js';
import type { InnerContext } from './context.js';
import type { ReadRow, SourceReader } from './sources/source-reader.js';

export interface ExportProgress {
  dataset: string;
  bank: string;
  rows: number;
  bytes: number;
  /** Rows the source still held for this stream when the export started, when known. */
  total?: number;
}

export interface ExportOptions {
  now?: () => Date;
  onProgress?: (progress: ExportProgress) => void;
  /** Ask the source how many rows are waiting (one COUNT query), for progress bars. */
  estimate?: boolean;
  /**
   * A snapshot re-send (issue 6, 'export --snapshot'): every current row of the dataset under new
   * sequences, whatever was sent before; then each sequence the bank reported lost beyond retention is
   * replaced by an empty placeholder bundle, so the bank's stream moves past it (docs/runbooks.md).
   */
  snapshot?: boolean;
  /** Only this bank's stream (default: every authorised bank). */
  bank?: string;
}

export interface StreamExportResult {
  stream: string;
  bank: string;
  dataset: string;
  rows: number;
  rejects: number;
  /** Tombstones sent (snapshot datasets). */
  tombstones?: number;
  bundles: SealResult[];
  /** The reject file of this run, when rows were rejected. */
  rejectFile?: string;
  /** A snapshot re-send: the sequences it sealed (absent when it found no row to send). */
  snapshot?: { from: number; to: number };
  /** A snapshot re-send: lost sequences replaced by placeholder bundles. */
  placeholders?: number[];
}

/** Re-publishes bundles that were sealed and recorded but not yet copied into the outbox (crash recovery). */
export async function publishPending(ctx: InnerContext): Promise<number> {
  const pending = ctx.state.unpublished();
  for (const bundle of pending) await publishToOutbox(ctx, bundle.file, bundle.bundleId);
  return pending.length;
}

export async function publishToOutbox(ctx: InnerContext, sentPath: string, bundleId: string): Promise<void> {
  const outbox = ctx.settings.folders.outbox;
  mkdirSync(outbox, { recursive: true });
  const finalPath = join(outbox, sentPath.split('/').pop() ?? `${bundleId}.gbb`);
  const temp = temporaryNameFor(finalPath);
  copyFileSync(sentPath, temp);
  await publishFile(temp, finalPath);
  ctx.state.markPublished(bundleId);
}

/** Deletes kept copies of sent bundles older than the retention period (they no longer serve resends). */
export function pruneSent(ctx: InnerContext, now: Date = new Date()): number {
  const retention = parseDuration(ctx.settings.config.bundles.retention) ?? 14 * 86_400_000;
  const expired = ctx.state.expiredSent(new Date(now.getTime() - retention).toISOString());
  for (const bundle of expired) {
    if (existsSync(bundle.file)) rmSync(bundle.file, { force: true });
    ctx.state.markPruned(bundle.bundleId);
  }
  return expired.length;
}

/** Everything one stream's export needs, worked out once. */
export interface StreamJob {
  ctx: InnerContext;
  spec: DatasetSpec;
  dataset: string;
  bank: string;
  stream: string;
  contract: DataContract;
  mapping: CompiledMapping;
  fingerprint: string;
  authorisedColumns: string[];
  columnIndexes: number[];
  /** Whether the bank may see every contract column (no cutting needed). */
  allColumns: boolean;
  keyColumns: string[];
  readColumns: string[];
  maxRows: number;
  maxBytes: number;
  ttl: number;
  source: SourceReader;
  rejects: RejectFile;
  result: StreamExportResult;
  now: () => Date;
  options: ExportOptions;
  /**
   * A snapshot re-send of an incremental stream reads from the start, so it must not move the cursor
   * back: bundles keep the recorded cursor, and the cursor of the last row read is set at the end.
   */
  resendCursor?: (string | number | null)[];
}

/** One reject file per stream and run (JSON lines, mode 0600): enough to find, fix and replay each row. */
export class RejectFile {
  private lines: string[] = [];
  private written = false;

  constructor(readonly path: string) {}

  add(record: Record<string, unknown>): void {
    this.lines.push(`${JSON.stringify(record)}\n`);
  }

  flush(): void {
    if (this.lines.length === 0) return;
    mkdirSync(join(this.path, '..'), { recursive: true });
    writeFileSync(this.path, this.lines.join(''), { flag: 'a', mode: 0o600 });
    this.lines = [];
    this.written = true;
  }

  get exists(): boolean {
    return this.written;
  }
}

export function checkRejectThreshold(job: StreamJob, pendingRows: number): void {
  const { result, spec } = job;
  const seen = result.rows + pendingRows + result.rejects;
  if (result.rejects >= 10 && result.rejects / seen > spec.max_reject_ratio) {
    job.rejects.flush();
    throw new MappingError(
      'MAPPING_TOO_MANY_REJECTS',
      `Export of ${job.dataset} for ${job.bank} stopped: ${result.rejects} of ${seen} rows rejected, above max_reject_ratio ${spec.max_reject_ratio}`,
      {
        where: job.rejects.path,
        hint: 'Read the reject file, fix the source or the mapping, then export again',
      },
    );
  }
}

/** Gathers lines into a bundle up to the row and byte caps, and seals it with its cursor. */
export class BundleAssembler {
  body = new PayloadBody();
  /** The last row read (sequential path) or its JSON cursor tuple (parallel path). */
  private last: ReadRow | SourceValue[] | string | undefined;

  constructor(
    private readonly job: StreamJob,
    private readonly total: number | undefined,
  ) {}

  add(line: string | undefined, last: ReadRow | SourceValue[] | string): void {
    this.last = last;
    if (line === undefined) {
      this.job.result.rejects++;
      return;
    }
    this.body.add(line);
  }

  /** Rows already encoded as UTF-8 lines (parallel path), with the cursor of the last of them. */
  addBytes(lines: Buffer, rows: number, last: string): void {
    this.last = last;
    this.body.addBytes(lines, rows);
  }

  get full(): boolean {
    return this.fullWith(0, 0);
  }

  /** Whether the bundle is full once `rows` more rows of `bytes` bytes are added. */
  fullWith(rows: number, bytes: number): boolean {
    return this.body.rows + rows >= this.job.maxRows || this.body.bytesAtMost + bytes >= this.job.maxBytes;
  }

  async seal(cursorOfRow: (row: ReadRow | SourceValue[]) => (string | number | null)[]): Promise<void> {
    const { job } = this;
    checkRejectThreshold(job, this.body.rows);
    job.rejects.flush();
    if (this.last === undefined) return;
    const cursor =
      typeof this.last === 'string'
        ? (JSON.parse(this.last) as (string | number | null)[])
        : cursorOfRow(this.last);
    const [cursorWatermark, ...cursorKey] = cursor;
    const rereading = job.options.snapshot === true;
    if (rereading) job.resendCursor = cursor;
    if (this.body.rows > 0) {
      const bytes = this.body.bytesAtMost;
      await sealAndRecord(
        job,
        'rows',
        job.authorisedColumns,
        this.body,
        rereading ? null : String(cursorWatermark),
        rereading ? null : JSON.stringify(cursorKey),
      );
      job.options.onProgress?.({
        dataset: job.dataset,
        bank: job.bank,
        rows: job.result.rows,
        bytes,
        ...(this.total !== undefined ? { total: this.total } : {}),
      });
    } else if (!rereading) {
      // Every row read was rejected: move past them (they are in the reject file).
      job.ctx.state.advanceCursor(job.stream, String(cursorWatermark), JSON.stringify(cursorKey));
    }
    this.body = new PayloadBody();
    this.last = undefined;
  }
}

/** Seals one bundle, records it (with cursor or snapshot bookkeeping) in one transaction, publishes it. */
export async function sealAndRecord(
  job: StreamJob,
  kind: Extract<PayloadKind, 'rows' | 'tombstones'>,
  columns: string[],
  body: PayloadBody,
  cursorWatermark: string | null,
  cursorKey: string | null,
  also?: () => void,
): Promise<void> {
  const { ctx, stream } = job;
  // A broken or unwritable audit log stops the export before it seals (docs/audit.md).
  assertAuditable(ctx);
  const state = ctx.state.stream(stream, job.bank, job.dataset);
  const sequence = state.nextSequence;
  const sent = await sealBatch(ctx, {
    stream,
    bank: job.bank,
    dataset: job.dataset,
    sequence,
    fingerprint: job.fingerprint,
    kind,
    columns,
    body,
    now: job.now(),
    ttl: job.ttl,
  });
  ctx.state.recordSealed(
    {
      bundleId: sent.header.bundleId,
      stream,
      sequence,
      file: sent.path,
      rowCount: body.rows,
      bytes: sent.bytes,
      digest: sent.plaintextDigest,
      createdAt: sent.header.createdAt,
    },
    // A snapshot stream keeps no cursor; keep whatever is there.
    cursorWatermark ?? state.cursorWatermark,
    cursorKey ?? state.cursorKey,
    also,
  );
  // The audit entry follows the commit that moved the cursor: what it records has happened.
  auditSent(ctx, sent, job.dataset, body.rows);
  await publishToOutbox(ctx, sent.path, sent.header.bundleId);
  if (kind === 'tombstones') job.result.tombstones = (job.result.tombstones ?? 0) + body.rows;
  else job.result.rows += body.rows;
  job.result.bundles.push(sent);
  ctx.logger.debug(
    { stream, sequence, kind, rows: body.rows, bytes: sent.bytes, bundleId: sent.header.bundleId },
    'bundle sealed',
  );
}

/**
 * Replaces each lost sequence the bank reported (a gap that left retention, still open) with an empty
 * placeholder bundle under the same sequence: signed like any bundle, recorded in place of the lost one
 * (sent_bundles.supersedes names it) together with the repair, audited, and published. The bank applies
 * it as a bundle of no rows, so its stream moves on in sequence order to the snapshot that follows;
 * call it after the snapshot re-send, so a crash in between leaves the gap open, never papered over.
 */
export async function supersedeLostSequences(
  job: StreamJob,
  snapshot: { from: number; to: number } | undefined,
): Promise<number[]> {
  const { ctx, stream } = job;
  const replaced: number[] = [];
  for (const gap of ctx.state.openRetentionGaps(stream)) {
    const at = job.now();
    if (gap.bundleId === null || gap.file === null) continue; // never sealed here: nothing to supersede
    if (gap.pruned === 0 && existsSync(gap.file)) {
      // A copy is kept again (a restore brought it back): resends serve it, no placeholder needed.
      ctx.state.resolveRetentionGap(stream, gap.sequence, at.toISOString());
      continue;
    }
    assertAuditable(ctx);
    const sent = await sealBatch(ctx, {
      stream,
      bank: job.bank,
      dataset: job.dataset,
      sequence: gap.sequence,
      fingerprint: job.fingerprint,
      kind: 'rows',
      columns: job.authorisedColumns,
      body: new PayloadBody(),
      now: at,
      ttl: job.ttl,
    });
    const recorded = ctx.state.recordPlaceholder(
      {
        bundleId: sent.header.bundleId,
        stream,
        sequence: gap.sequence,
        file: sent.path,
        bytes: sent.bytes,
        digest: sent.plaintextDigest,
        createdAt: sent.header.createdAt,
      },
      snapshot,
    );
    if (!recorded) continue;
    auditSent(ctx, sent, job.dataset, 0);
    await publishToOutbox(ctx, sent.path, sent.header.bundleId);
    replaced.push(gap.sequence);
    ctx.logger.warn(
      {
        stream,
        sequence: gap.sequence,
        supersedes: gap.bundleId,
        placeholder: sent.header.bundleId,
        ...(snapshot ? { snapshotFrom: snapshot.from, snapshotTo: snapshot.to } : {}),
      },
      'lost sequence replaced by a placeholder: the snapshot re-send supersedes it',
    );
  }
  return replaced;
}

interface BatchToSeal {
  stream: string;
  bank: string;
  dataset: string;
  sequence: number;
  fingerprint: string;
  kind: 'rows' | 'tombstones';
  columns: string[];
  /** Rows already serialised as JSON lines, UTF-8. */
  body: PayloadBody;
  now: Date;
  ttl: number;
}

async function sealBatch(ctx: InnerContext, batch: BatchToSeal): Promise<SealResult> {
  const sentDir = join(ctx.settings.folders.state, 'sent');
  mkdirSync(sentDir, { recursive: true });
  const recipients = recipientCertificates(ctx.trust, batch.bank, batch.now);
  const outputPath = join(sentDir, `${batch.stream}.${String(batch.sequence).padStart(10, '0')}.gbb`);
  return sealBundle({
    identity: ctx.identity,
    recipients,
    description: {
      dataset: batch.dataset,
      contract: batch.fingerprint,
      stream: batch.stream,
      sequence: batch.sequence,
      rowCount: batch.body.rows,
      kind: batch.kind,
      createdAt: batch.now,
      expiresAt: new Date(batch.now.getTime() + batch.ttl),
    },
    body: toAsync([
      Buffer.from(
        `${JSON.stringify({ dataset: batch.dataset, contract: batch.fingerprint, kind: batch.kind, columns: batch.columns } satisfies PayloadPreamble)}\n`,
        'utf8',
      ),
      ...batch.body.finish(),
    ]),
    outputPath,
  });
}

// eslint-disable-next-line @typescript-eslint/require-await -- adapts a list to the async body
async function* toAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}

/**
 * A bundle's payload rows as UTF-8 JSON lines (shared/payload.ts format), kept as compact buffers
 * rather than tens of thousands of strings: the bundle's row count must be known before sealing (it is
 * in the signed header), so the rows wait here, and UTF-8 is about half the size of V8's strings for
 * Chinese text.
 */
export class PayloadBody {
  private chunks: Buffer[] = [];
  private pending = '';
  private chunkBytes = 0;
  rows = 0;

  add(line: string): void {
    this.pending += line;
    this.pending += '\n';
    this.rows++;
    if (this.pending.length >= 64 * 1024) this.cut();
  }

  addBytes(lines: Buffer, rows: number): void {
    this.cut();
    this.chunks.push(lines);
    this.chunkBytes += lines.length;
    this.rows += rows;
  }

  private cut(): void {
    if (this.pending.length === 0) return;
    const chunk = Buffer.from(this.pending, 'utf8');
    this.chunks.push(chunk);
    this.chunkBytes += chunk.length;
    this.pending = '';
  }

  /** An upper bound of the payload size in bytes (text not yet encoded counts 3 bytes a unit). */
  get bytesAtMost(): number {
    return this.chunkBytes + this.pending.length * 3;
  }

  finish(): Buffer[] {
    this.cut();
    return this.chunks;
  }
}

export function runRecord(
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
