// Import (design 6): claim bundles from the inbox by atomic rename into a worker's private folder,
// read each header and queue the file under its stream, then apply each stream in sequence order under
// a stream lock: verify and open (crypto module), check the contract, map to the bank's table, load rows
// plus the ledger row in one transaction. Permanent problems go to quarantine with a readable reason;
// transient ones are retried with exponential backoff; a gap in a stream is waited for.
//
// Half-written files: a file is claimed only once unchanged for import.settle. A naive ferry that
// writes in place may still pause longer than that; the claim (a rename) does not disturb it, because
// it keeps writing into the same inode. So a bundle that turns out truncated (VERIFY_TRUNCATED) and was
// modified less than import.truncated_grace ago is left where it is and tried again later; only a file
// that stayed truncated for the whole grace period is quarantined as truncated.
import { lstatSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { fingerprintContract, openBundle, readBundleHeader, type BundleHeader } from '../crypto/index.js';
import { isTemporaryName, writeFileAtomicSync } from '../shared/atomic-file.js';
import { parseDuration } from '../shared/config-loader.js';
import { MAX_CATALOGUE_BYTES, catalogueStreamName, parseCatalogue } from '../shared/catalogue.js';
import { canonicalContract, findContract } from '../shared/contracts.js';
import { BundleError, MappingError, VerificationError, describeError, errorCode } from '../shared/errors.js';
import type { ContractValue } from '../shared/mapping.js';
import { decodePayloadBatches, type PayloadPreamble } from '../shared/payload.js';
import { maskResidentId, maskResidentIdsInText } from '../shared/resident-id.js';
import { assertSchema, checkTargetSchema, rowShaper, type SchemaCheck } from './bank-mapping.js';
import { openTarget, type OuterContext } from './context.js';
import { assertAuditable, auditApplied, auditQuarantined, openNodeAudit } from './audit.js';
import { importPortraitAnswer } from './portrait-answers.js';
import { openSideBundle } from './side-bundles.js';
import { quarantine, type QuarantineReason } from './quarantine.js';
import { backoffDelay, classifyFailure } from './retry-policy.js';
import { rowBatches, type TargetValue, type TargetWriter } from './targets/target-writer.js';
import {
  createWorkerFolder,
  discardFile,
  emptyDiscard,
  heartbeat,
  listQueue,
  listStreams,
  lockStream,
  queuedName,
  recoverDeadWorkers,
  releaseWorkerFolder,
  streamFolder,
  unlockStream,
  workFolders,
  type QueuedFile,
  type WorkFolders,
  type WorkerFolder,
} from './work-folders.js';

export interface ImportSummary {
  applied: number;
  rows: number;
  duplicates: number;
  quarantined: number;
  waiting: number;
  retrying: number;
  /** Rows refused by the bank mapping (kept in reject files) in bundles that were applied. */
  rejected: number;
}

export interface ImportOptions {
  /** A file is claimed only once its modification time is this old (the ferry may still be writing). */
  settleMs?: number;
  now?: () => Date;
  /** Workers running this pass side by side (each with its own database connection); default 1. */
  workers?: number;
  onBundle?: (event: { file: string; outcome: string; rows: number }) => void;
  /**
   * Asked between bundles: true ends the pass early (the daemon's stop signal), so a stop during a
   * large backlog waits for one bundle's transaction, not the whole queue. What is left stays queued.
   */
  shouldStop?: () => boolean;
}

const BUNDLE_SUFFIX = '.gbb';

/** One importing worker: its private claim folder and its own connection to the bank database. */
export interface ImportWorker {
  folder: WorkerFolder;
  target: TargetWriter;
  ownsTarget: boolean;
  tokens: number;
  lastBeat: number;
}

/** An inbox file as last seen unsettled: if it looks the same a moment later, it is complete. */
interface Sighting {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  seenAt: number;
}

/**
 * A file younger than the settle window is claimed anyway once two scans at least this far apart saw
 * the same size, times and inode: a ferry that renames whole files into place (as bridge-ferry does)
 * is not kept waiting for the whole window. A naive ferry that pauses longer than this while writing
 * in place is covered by the truncated-file rule above (left in place and retried within
 * import.truncated_grace), so claiming early never applies a partial file.
 */
export const STABLE_RECHECK_MS = 100;

interface ContextRuntime {
  folders: WorkFolders;
  workers: ImportWorker[];
  sightings: Map<string, Sighting>;
  schema?: SchemaCheck;
  heartbeatTimer?: NodeJS.Timeout;
}

const runtimes = new WeakMap<OuterContext, ContextRuntime>();

function durationOf(text: string, fallback: number): number {
  return parseDuration(text) ?? fallback;
}

function runtimeOf(ctx: OuterContext): ContextRuntime {
  let runtime = runtimes.get(ctx);
  if (!runtime) {
    const created: ContextRuntime = {
      folders: workFolders(ctx.settings.folders.state, ctx.settings.folders.inbox),
      workers: [],
      sightings: new Map(),
    };
    runtime = created;
    runtimes.set(ctx, created);
    ctx.cleanups.push(async () => {
      if (created.heartbeatTimer) clearInterval(created.heartbeatTimer);
      for (const worker of created.workers.splice(0)) {
        releaseWorkerFolder(created.folders, worker.folder);
        if (worker.ownsTarget) await worker.target.close();
      }
    });
  }
  return runtime;
}

/** The context's workers, created on first use: the first uses ctx.target, the others their own. */
export function contextWorkers(ctx: OuterContext, count: number): ImportWorker[] {
  const runtime = runtimeOf(ctx);
  // The audit log is opened before the first bundle: a broken or locked log stops the node here.
  if (runtime.workers.length === 0) openNodeAudit(ctx);
  mkdirSync(runtime.folders.inbox, { recursive: true });
  mkdirSync(runtime.folders.queue, { recursive: true });
  if (runtime.workers.length === 0) emptyDiscard(runtime.folders);
  while (runtime.workers.length < count) {
    const first = runtime.workers.length === 0;
    runtime.workers.push({
      folder: createWorkerFolder(runtime.folders),
      target: first ? ctx.target : openTarget(ctx.settings),
      ownsTarget: !first,
      tokens: 0,
      lastBeat: Date.now(),
    });
  }
  if (!runtime.heartbeatTimer) {
    // Leases stay fresh while a long transaction runs: the timer fires between awaits.
    const every = Math.max(200, durationOf(ctx.settings.config.import.lease_timeout, 30_000) / 4);
    runtime.heartbeatTimer = setInterval(() => {
      for (const worker of runtime.workers) heartbeat(worker.folder);
    }, every);
    runtime.heartbeatTimer.unref();
  }
  return runtime.workers.slice(0, count);
}

/** Checks the mapping against the live bank schema once per context; throws with every problem. */
export async function ensureSchema(ctx: OuterContext): Promise<SchemaCheck> {
  const runtime = runtimeOf(ctx);
  if (!runtime.schema) {
    const check = await checkTargetSchema(ctx.settings, ctx.target);
    assertSchema(check, ctx.target.description);
    for (const warning of check.warnings) ctx.logger.warn({ warning }, 'bank schema');
    runtime.schema = check;
  }
  return runtime.schema;
}

function emptySummary(): ImportSummary {
  return { applied: 0, rows: 0, duplicates: 0, quarantined: 0, waiting: 0, retrying: 0, rejected: 0 };
}

function addSummary(into: ImportSummary, from: ImportSummary): void {
  into.applied += from.applied;
  into.rows += from.rows;
  into.duplicates += from.duplicates;
  into.quarantined += from.quarantined;
  into.waiting += from.waiting;
  into.retrying += from.retrying;
  into.rejected += from.rejected;
}

/**
 * One pass: recover dead workers' claims, claim settled inbox files, queue them by stream, then apply
 * everything that is next in its stream, until nothing more applies. With `workers` > 1 that many
 * workers run the pass side by side.
 */
export async function importOnce(
  ctx: OuterContext,
  options: ImportOptions = {},
): Promise<ImportSummary & { unsettled: number }> {
  await ensureSchema(ctx);
  const workers = contextWorkers(ctx, Math.max(1, options.workers ?? 1));
  const results = await Promise.all(workers.map((worker) => workerPass(ctx, worker, options)));
  const total = emptySummary();
  let unsettled = 0;
  let waiting = 0;
  for (const result of results) {
    addSummary(total, result);
    unsettled = Math.max(unsettled, result.unsettled);
    waiting = Math.max(waiting, result.waiting);
  }
  // Workers see the same waiting files; count them once.
  total.waiting = waiting;
  return { ...total, unsettled };
}

/** One worker's pass (the daemon runs one loop of these per worker). */
export async function workerPass(
  ctx: OuterContext,
  worker: ImportWorker,
  options: ImportOptions = {},
): Promise<ImportSummary & { unsettled: number; settling: number }> {
  const runtime = runtimeOf(ctx);
  // Nothing is applied that the audit log could not record (an append failed earlier).
  assertAuditable(ctx);
  const now = options.now ?? (() => new Date());
  const settings = ctx.settings.config.import;
  const leaseTimeout = durationOf(settings.lease_timeout, 30_000);
  beat(worker);
  recoverDeadWorkers(runtime.folders, worker.folder.id, leaseTimeout, Date.now());
  const settleMs = options.settleMs ?? durationOf(settings.settle, 1000);
  const settling = claimInbox(ctx, runtime, worker, settleMs, Date.now());
  let unsettled = settling;
  const summary = emptySummary();
  unsettled += await queueClaimed(ctx, runtime.folders, worker, summary, options.shouldStop);
  for (const { stream, dir } of listStreams(runtime.folders)) {
    if (options.shouldStop?.()) break;
    if (listQueue(dir).length === 0) continue;
    if (!lockStream(runtime.folders, dir, worker.folder, leaseTimeout, Date.now())) continue;
    try {
      unsettled += await applyStream(ctx, worker, stream, dir, summary, now, options);
    } finally {
      unlockStream(dir, worker.folder);
    }
  }
  return { ...summary, unsettled, settling };
}

function beat(worker: ImportWorker): void {
  const t = Date.now();
  if (t - worker.lastBeat < 500) return;
  worker.lastBeat = t;
  heartbeat(worker.folder);
}

/** Moves settled inbox files into the worker's private folder; returns how many are not settled yet. */
function claimInbox(
  ctx: OuterContext,
  runtime: ContextRuntime,
  worker: ImportWorker,
  settleMs: number,
  nowMs: number,
): number {
  const { folders, sightings } = runtime;
  let unsettled = 0;
  let rawNames: Buffer[];
  try {
    rawNames = readdirSync(folders.inbox, { encoding: 'buffer' });
  } catch {
    return 0;
  }
  const present = new Set<string>();
  for (const rawName of rawNames) {
    const name = rawName.toString('utf8');
    if (!Buffer.from(name, 'utf8').equals(rawName)) {
      // Not UTF-8: the decoded name does not reach the file, so it is moved by its raw bytes.
      const rawPath = Buffer.concat([Buffer.from(`${folders.inbox}/`), rawName]);
      quarantineRecorded(ctx, rawPath, `hex:${rawName.toString('hex')}`, {
        code: 'INBOX_NOT_A_BUNDLE',
        reason: 'file name is not valid UTF-8',
      });
      continue;
    }
    if (isTemporaryName(name)) continue;
    const path = join(folders.inbox, name);
    let stat;
    try {
      stat = lstatSync(path);
    } catch {
      continue; // taken by another worker or removed by the ferry
    }
    if (!stat.isFile() || !name.endsWith(BUNDLE_SUFFIX)) {
      quarantineRecorded(ctx, path, name, {
        code: 'INBOX_NOT_A_BUNDLE',
        reason: notBundleReason(stat, name),
      });
      continue;
    }
    // Settled: neither written nor renamed within the settle window (file times come from a coarser
    // clock than Date.now(), so with no window at all nothing waits), or unchanged across two scans
    // STABLE_RECHECK_MS apart.
    if (settleMs > 0 && (nowMs - stat.mtimeMs < settleMs || nowMs - stat.ctimeMs < settleMs)) {
      present.add(name);
      const seen = sightings.get(name);
      const same =
        seen !== undefined &&
        seen.size === stat.size &&
        seen.mtimeMs === stat.mtimeMs &&
        seen.ctimeMs === stat.ctimeMs &&
        seen.ino === stat.ino;
      if (!same || nowMs - seen.seenAt < Math.min(settleMs, STABLE_RECHECK_MS)) {
        if (!same) {
          sightings.set(name, {
            size: stat.size,
            mtimeMs: stat.mtimeMs,
            ctimeMs: stat.ctimeMs,
            ino: stat.ino,
            seenAt: nowMs,
          });
          ctx.state.noteReceived(name);
        }
        unsettled++;
        continue;
      }
    }
    sightings.delete(name);
    try {
      renameSync(path, join(worker.folder.dir, name));
      ctx.state.record({
        file: name,
        bundleId: null,
        stream: null,
        sequence: null,
        state: 'claimed',
        reason: null,
        rows: null,
      });
    } catch {
      // Another worker claimed it first: the rename is the lock.
    }
  }
  for (const name of sightings.keys()) if (!present.has(name)) sightings.delete(name);
  return unsettled;
}

function notBundleReason(stat: Stats, name: string): string {
  if (stat.isSymbolicLink()) return 'a symbolic link was planted in the inbox; links are never followed';
  if (stat.isDirectory()) return 'a directory in the inbox';
  if (!stat.isFile()) return 'not a regular file (device, FIFO or socket)';
  return `file name '${name}' does not end in ${BUNDLE_SUFFIX}`;
}

/** Whether a truncated file may still be growing (modified within the grace period). */
function stillGrowing(ctx: OuterContext, path: string): boolean {
  try {
    const grace = durationOf(ctx.settings.config.import.truncated_grace, 120_000);
    return Date.now() - statSync(path).mtimeMs < grace;
  } catch {
    return false;
  }
}

/** Reads the header of each claimed file and moves it into its stream's queue. */
async function queueClaimed(
  ctx: OuterContext,
  folders: WorkFolders,
  worker: ImportWorker,
  summary: ImportSummary,
  shouldStop?: () => boolean,
): Promise<number> {
  let unsettled = 0;
  for (const name of readdirSync(worker.folder.dir)) {
    // Claimed files left here are queued by this worker's next pass, or taken over after its lease.
    if (shouldStop?.()) break;
    const path = join(worker.folder.dir, name);
    let header: BundleHeader;
    try {
      header = await readBundleHeader(path);
    } catch (error) {
      if (errorCode(error) === 'VERIFY_TRUNCATED' && stillGrowing(ctx, path)) {
        unsettled++;
        ctx.state.record({
          file: name,
          bundleId: null,
          stream: null,
          sequence: null,
          state: 'claimed',
          reason: 'header incomplete: the file is still being written',
          rows: null,
        });
        continue;
      }
      if (classifyFailure(error) === 'transient') continue;
      summary.quarantined++;
      quarantineRecorded(ctx, path, name, {
        code: errorCode(error) ?? 'UNEXPECTED',
        reason: describeError(error),
      });
      continue;
    }
    if (header.kind === 'catalogue') {
      // A catalogue never enters a stream queue: it is recorded (newest wins) and deleted.
      await importCatalogue(ctx, path, name, summary);
      continue;
    }
    if (header.kind === 'portrait') {
      // A portrait answer goes to the lending tables, never into a stream queue or the ledger.
      await importPortrait(ctx, path, name, summary);
      continue;
    }
    const dir = streamFolder(folders, header.stream);
    worker.tokens++;
    const token = `${worker.folder.id.split('-').slice(-3).join('')}${worker.tokens.toString(36)}`;
    try {
      renameSync(path, join(dir, queuedName(header.sequence, header.bundleId, token, name)));
      ctx.state.record({ ...taskOf(name, header), state: 'claimed', reason: null, rows: null });
    } catch (error) {
      ctx.logger.warn(
        { file: name, err: describeError(error) },
        'cannot queue a claimed bundle; it stays claimed',
      );
    }
  }
  return unsettled;
}

/**
 * Runs the handler of a side bundle (catalogue, portrait answer): a refused one is quarantined with its
 * reason; a transient failure (a locked database) leaves it claimed for the next pass.
 */
async function handleSideBundle(
  ctx: OuterContext,
  path: string,
  name: string,
  summary: ImportSummary,
  what: string,
  handle: () => Promise<void>,
): Promise<void> {
  try {
    await handle();
  } catch (error) {
    if (classifyFailure(error) === 'transient') {
      ctx.logger.warn({ file: name, err: describeError(error) }, `${what} not read yet; will try again`);
      return;
    }
    summary.quarantined++;
    quarantineRecorded(ctx, path, name, {
      code: errorCode(error) ?? 'UNEXPECTED',
      reason: describeError(error),
    });
  }
}

/** Records a portrait answer (outer-node/portrait-answers.ts) in the lending tables. */
async function importPortrait(
  ctx: OuterContext,
  path: string,
  name: string,
  summary: ImportSummary,
): Promise<void> {
  await handleSideBundle(ctx, path, name, summary, 'portrait', async () => {
    const arrival = await importPortraitAnswer(ctx, path, name);
    if (arrival.applicationId === undefined) {
      ctx.logger.warn(
        { file: name, requestId: arrival.requestId },
        'portrait answer for a request this bank database does not have; dropped',
      );
    } else {
      ctx.logger.info(
        { file: name, ...arrival },
        arrival.released ? 'portrait arrived' : 'portrait refused by the county',
      );
    }
  });
}

/**
 * Verifies and opens a catalogue bundle (issue 6), records its entries in the state database (a newer
 * catalogue replaces an older one; older ones are dropped) and deletes the file. It never touches the
 * ledger or the bank tables. A refused catalogue is quarantined; a transient failure leaves it claimed.
 */
async function importCatalogue(
  ctx: OuterContext,
  path: string,
  name: string,
  summary: ImportSummary,
): Promise<void> {
  await handleSideBundle(ctx, path, name, summary, 'catalogue', async () => {
    const { header, signer, body } = await openSideBundle(ctx, path, name, 'Catalogue', MAX_CATALOGUE_BYTES);
    const catalogue = parseCatalogue(body, name);
    const expected = catalogueStreamName(signer.name, catalogue.bank);
    const prefix = `${signer.name}.${catalogue.bank}.`;
    const foreign = catalogue.streams.filter((e) => !e.stream.startsWith(prefix) || e.stream === expected);
    if (header.stream !== expected || foreign.length > 0) {
      throw new BundleError(
        'BUNDLE_PAYLOAD_INVALID',
        `Catalogue on stream '${header.stream}' must travel on '${expected}' and list only streams under '${prefix}'`,
        { where: name },
      );
    }
    const taken = ctx.state.recordCatalogue(
      catalogue.streams.map((e) => ({
        stream: e.stream,
        sender: signer.name,
        catalogueStream: header.stream,
        catalogueSequence: header.sequence,
        createdAt: catalogue.createdAt,
        latest: e.latest,
        oldestRetained: e.oldestRetained,
      })),
      new Date().toISOString(),
    );
    rmSync(path, { force: true });
    ctx.state.forget(name);
    ctx.logger.debug(
      { stream: header.stream, sequence: header.sequence, streams: catalogue.streams.length, taken },
      taken > 0 ? 'catalogue recorded' : 'older catalogue dropped',
    );
  });
}

/** Applies a stream's queued bundles in sequence order while the next one is there. */
async function applyStream(
  ctx: OuterContext,
  worker: ImportWorker,
  stream: string,
  dir: string,
  summary: ImportSummary,
  now: () => Date,
  options: ImportOptions,
): Promise<number> {
  for (;;) {
    if (options.shouldStop?.()) return 0;
    beat(worker);
    const queued = listQueue(dir);
    if (queued.length === 0) return 0;
    const last = await worker.target.lastApplied(stream);
    const head: QueuedFile[] = [];
    const later: QueuedFile[] = [];
    for (const item of queued) {
      if (item.sequence <= last) {
        // Reject a sequence number already applied: a duplicate delivery or a replay.
        discardFile(runtimeOf(ctx).folders, item.path);
        summary.duplicates++;
        ctx.state.record({
          file: item.file,
          bundleId: item.bundleId,
          stream,
          sequence: item.sequence,
          state: 'duplicate',
          reason: `sequence ${item.sequence} already applied`,
          rows: null,
        });
        options.onBundle?.({ file: item.file, outcome: 'duplicate', rows: 0 });
      } else if (item.sequence === last + 1) {
        head.push(item);
      } else {
        later.push(item);
      }
    }
    const next = head[0];
    if (!next) {
      if (later.length > 0) {
        summary.waiting += later.length;
        const first = later[0];
        if (first) {
          ctx.state.record({
            file: first.file,
            bundleId: first.bundleId,
            stream,
            sequence: first.sequence,
            state: 'waiting',
            reason: `waiting for sequence ${last + 1} of ${stream}`,
            rows: null,
          });
        }
      }
      return 0;
    }
    const retry = ctx.state.retry(next.bundleId);
    if (retry && retry.nextAttemptAt > Date.now()) {
      summary.retrying++;
      return 0;
    }
    const outcome = await applyBundle(ctx, worker, next, now());
    options.onBundle?.({
      file: next.file,
      outcome: outcome.kind,
      rows: outcome.kind === 'applied' ? outcome.rows : 0,
    });
    switch (outcome.kind) {
      case 'applied':
        summary.applied++;
        summary.rows += outcome.rows;
        summary.rejected += outcome.rejected;
        break;
      case 'duplicate':
        summary.duplicates++;
        break;
      case 'quarantined':
        summary.quarantined++;
        break; // another copy of the same sequence may be queued; otherwise the stream waits
      case 'unsettled':
        return 1;
      case 'retrying':
        summary.retrying++;
        return 0;
      case 'out-of-order':
        break; // another worker moved the stream on; look again
    }
  }
}

function taskOf(file: string, header: BundleHeader) {
  return { file, bundleId: header.bundleId, stream: header.stream, sequence: header.sequence };
}

type ApplyResult =
  | { kind: 'applied'; rows: number; rejected: number }
  | { kind: 'duplicate' }
  | { kind: 'out-of-order' }
  | { kind: 'quarantined'; reason: string }
  | { kind: 'retrying'; reason: string }
  | { kind: 'unsettled' };

interface RejectedRow {
  bundleId: string;
  stream: string;
  sequence: number;
  dataset: string;
  key: Record<string, ContractValue>;
  column: string;
  reason: string;
}

/** Verifies, opens and applies one queued bundle file. */
async function applyBundle(
  ctx: OuterContext,
  worker: ImportWorker,
  item: QueuedFile,
  now: Date,
): Promise<ApplyResult> {
  const name = item.file;
  let header: BundleHeader | undefined;
  try {
    const opened = await openBundle({
      path: item.path,
      identity: ctx.identity,
      trust: ctx.trust,
      now,
      expectSenderRole: 'inner',
    });
    header = opened.header;
    if (!ctx.settings.config.senders.includes(opened.signer.name)) {
      throw new VerificationError(
        'VERIFY_UNKNOWN_SENDER',
        `Bundle signed by '${opened.signer.name}', which is not among the accepted senders`,
        {
          where: name,
          hint: 'Add the inner node to senders in the configuration if it should be accepted',
        },
      );
    }
    if (header.kind !== 'rows' && header.kind !== 'tombstones') {
      throw new BundleError(
        'BUNDLE_PAYLOAD_INVALID',
        `A '${header.kind}' bundle arrived on the main lane, which carries rows and tombstones only`,
        {
          where: name,
        },
      );
    }
    ctx.state.record({ ...taskOf(name, header), state: 'verified', reason: null, rows: null });
    checkContract(ctx, header);
    const schema = await ensureSchema(ctx);
    const shape = schema.shapes.get(header.dataset);
    if (!shape)
      throw new MappingError(
        'MAPPING_CONTRACT_MISMATCH',
        `Dataset '${header.dataset}' has no usable mapping`,
        { where: name },
      );
    // Decoded a segment at a time: rows travel in batches down to the target (no generator step per row).
    const payload = decodePayloadBatches(opened.body, name);
    const first = await payload.next();
    if (first.done || !first.value.preamble) {
      throw new BundleError('BUNDLE_PAYLOAD_INVALID', 'Bundle payload has no preamble', { where: name });
    }
    const preamble = first.value.preamble;
    const leading = first.value.rows;
    checkPreamble(header, preamble, name);
    const kind = preamble.kind;
    const shaper = rowShaper(shape, preamble.columns, kind, name);
    const settings = ctx.settings.config.import;
    const rejectLimit = Math.max(
      settings.max_rejected_rows,
      Math.floor(settings.max_reject_ratio * header.rowCount),
    );
    const rejects: RejectedRow[] = [];
    const keyColumns = shape.contract.key.map((k) => ({
      name: k,
      index: preamble.columns.indexOf(k),
      isId: shape.contract.columns.find((c) => c.name === k)?.type.kind === 'resident_id',
    }));
    const rejectFile = join(
      ctx.settings.folders.rejects,
      header.dataset,
      `${header.bundleId.replace(/[^A-Za-z0-9-]/g, '_')}.jsonl`,
    );
    const bundle = header;
    const writeRejects = (): void => {
      if (rejects.length === 0) return;
      writeFileAtomicSync(rejectFile, rejects.map((r) => `${JSON.stringify(r)}\n`).join(''), 0o600);
    };
    async function* batches(): AsyncGenerator<ContractValue[][]> {
      if (leading.length > 0) yield leading;
      for await (const batch of payload) yield batch.rows;
    }
    async function* shaped(): AsyncGenerator<TargetValue[][]> {
      let count = 0;
      for await (const batch of batches()) {
        const out: TargetValue[][] = [];
        for (const values of batch) {
          count++;
          if (count > bundle.rowCount) break;
          const row = shaper.shape(values);
          if (Array.isArray(row)) {
            out.push(row);
            continue;
          }
          rejects.push({
            bundleId: bundle.bundleId,
            stream: bundle.stream,
            sequence: bundle.sequence,
            dataset: bundle.dataset,
            key: Object.fromEntries(
              keyColumns.map((k) => [k.name, maskKey(values[k.index] ?? null, k.isId)]),
            ),
            column: row.column,
            reason: maskResidentIdsInText(row.reason),
          });
          if (rejects.length > rejectLimit) {
            writeRejects();
            throw new MappingError(
              'MAPPING_TOO_MANY_REJECTS',
              `More than ${rejectLimit} rows of the bundle do not fit the bank's table (last: ${row.column}: ${row.reason})`,
              {
                where: rejectFile,
                hint: 'Read the reject file, widen or re-encode the bank columns, then retry the bundle from quarantine',
              },
            );
          }
        }
        // More rows than the signed header says: stop reading, refused below.
        if (count > bundle.rowCount) break;
        if (out.length > 0) yield out;
      }
      if (count !== bundle.rowCount) {
        throw new BundleError(
          'BUNDLE_PAYLOAD_INVALID',
          `Payload holds ${count > bundle.rowCount ? 'more' : count} rows but the header says ${bundle.rowCount}`,
          { where: name },
        );
      }
      // Rejects are on disk (under a name fixed by the bundle id) before the rows commit.
      writeRejects();
    }
    const outcome = await worker.target.apply(
      shaper.plan,
      kind,
      rowBatches(shaped()),
      {
        bundleId: header.bundleId,
        stream: header.stream,
        sequence: header.sequence,
        dataset: header.dataset,
      },
      () => opened.plaintextDigest(),
    );
    ctx.state.clearRetry(header.bundleId);
    if (outcome.outcome === 'applied') {
      auditApplied(ctx, header, opened.signer, outcome.rows, opened.plaintextDigest());
      discardFile(runtimeOf(ctx).folders, item.path);
      // An empty bundle is a placeholder (issue 6): the county replaced a sequence lost beyond its
      // retention by it, and re-sent the dataset as a snapshot under later sequences.
      const placeholder = header.rowCount === 0;
      ctx.state.record({
        ...taskOf(name, header),
        state: 'loaded',
        reason:
          rejects.length > 0
            ? `${rejects.length} row(s) rejected: ${rejectFile}`
            : placeholder
              ? 'placeholder for a sequence lost beyond the county retention; superseded by a snapshot re-send'
              : null,
        rows: outcome.rows,
      });
      if (placeholder) {
        ctx.logger.warn(
          { bundleId: header.bundleId, stream: header.stream, sequence: header.sequence },
          'placeholder applied: the sequence was lost beyond the county retention and is superseded by a snapshot re-send',
        );
      }
      ctx.logger.info(
        {
          bundleId: header.bundleId,
          stream: header.stream,
          sequence: header.sequence,
          rows: outcome.rows,
          rejected: rejects.length,
          worker: worker.folder.id,
        },
        'bundle applied',
      );
      return { kind: 'applied', rows: outcome.rows, rejected: rejects.length };
    }
    if (outcome.outcome === 'duplicate') {
      discardFile(runtimeOf(ctx).folders, item.path);
      ctx.state.record({
        ...taskOf(name, header),
        state: 'duplicate',
        reason: 'already in the ledger',
        rows: null,
      });
      return { kind: 'duplicate' };
    }
    return { kind: 'out-of-order' };
  } catch (error) {
    const reason = describeError(error);
    if (errorCode(error) === 'VERIFY_TRUNCATED' && stillGrowing(ctx, item.path)) {
      ctx.state.record({
        file: name,
        bundleId: item.bundleId,
        stream: header?.stream ?? null,
        sequence: item.sequence,
        state: 'waiting',
        reason: 'truncated, but modified recently: waiting for the rest of the file',
        rows: null,
      });
      return { kind: 'unsettled' };
    }
    if (classifyFailure(error) === 'permanent') {
      quarantineRecorded(ctx, item.path, name, {
        code: errorCode(error) ?? (error as { code?: string }).code ?? 'LOAD_FAILED',
        reason,
        bundleId: item.bundleId,
        sequence: item.sequence,
        ...(header ? { stream: header.stream } : {}),
      });
      ctx.state.clearRetry(item.bundleId);
      return { kind: 'quarantined', reason };
    }
    const importSettings = ctx.settings.config.import;
    const base = durationOf(importSettings.retry_base_delay, 1000);
    const cap = durationOf(importSettings.retry_max_delay, 300_000);
    const stream = header?.stream ?? '';
    const retry = ctx.state.recordRetry(
      { bundleId: item.bundleId, stream, sequence: item.sequence, reason },
      (attempt) => backoffDelay(attempt, base, cap),
      Date.now(),
    );
    ctx.state.record({
      file: name,
      bundleId: item.bundleId,
      stream: header?.stream ?? null,
      sequence: item.sequence,
      state: 'retrying',
      reason: `${reason} (attempt ${retry.attempts}, next at ${new Date(retry.nextAttemptAt).toISOString()})`,
      rows: null,
      attempt: true,
    });
    ctx.logger.warn({ file: name, err: reason, attempt: retry.attempts }, 'bundle import failed; will retry');
    return { kind: 'retrying', reason };
  }
}

function maskKey(value: ContractValue, isResidentId: boolean): ContractValue {
  if (typeof value === 'string') return isResidentId ? maskResidentId(value) : maskResidentIdsInText(value);
  return value;
}

function checkContract(ctx: OuterContext, header: BundleHeader): void {
  const spec = ctx.settings.config.datasets[header.dataset];
  if (!spec) {
    throw new MappingError(
      'MAPPING_CONTRACT_MISMATCH',
      `Dataset '${header.dataset}' is not configured on this bank node`,
      {
        where: header.bundleId,
        hint: `Add datasets.${header.dataset} with its table and columns to ${ctx.settings.path}`,
      },
    );
  }
  const contract = findContract(header.dataset);
  if (!contract || fingerprintContract(canonicalContract(contract)) !== header.contract) {
    throw new MappingError(
      'MAPPING_CONTRACT_MISMATCH',
      `Contract fingerprint of dataset '${header.dataset}' differs from this node's contract`,
      {
        where: header.bundleId,
        hint: 'Both nodes must run the same contract version; upgrade the older node',
      },
    );
  }
}

function checkPreamble(header: BundleHeader, preamble: PayloadPreamble, where: string): void {
  if (
    preamble.dataset !== header.dataset ||
    preamble.contract !== header.contract ||
    preamble.kind !== header.kind
  ) {
    throw new BundleError('BUNDLE_PAYLOAD_INVALID', 'Payload preamble does not match the signed header', {
      where,
    });
  }
  const contract = findContract(header.dataset);
  for (const column of preamble.columns) {
    if (!contract?.columns.some((c) => c.name === column)) {
      throw new MappingError(
        'MAPPING_CONTRACT_MISMATCH',
        `Payload column '${column}' is not in contract ${header.dataset}`,
        { where },
      );
    }
  }
  if (new Set(preamble.columns).size !== preamble.columns.length) {
    throw new BundleError('BUNDLE_PAYLOAD_INVALID', 'Payload names a column twice', { where });
  }
}

/** Moves a file into quarantine with its reason, and records it in the audit log. */
function quarantineRecorded(
  ctx: OuterContext,
  path: string | Buffer,
  name: string,
  detail: Omit<QuarantineReason, 'file' | 'at' | 'originalName'>,
): string | undefined {
  const kept = quarantine(ctx.settings.folders.quarantine, path, name, detail, ctx.state);
  if (kept !== undefined) {
    auditQuarantined(ctx, detail, kept);
    // One line per refused file in the daemon's log, with the code an operator searches for.
    ctx.logger.warn(
      { file: name, code: detail.code, bundleId: detail.bundleId, kept },
      `bundle quarantined, nothing from it applied: ${maskResidentIdsInText(detail.reason)}`,
    );
  }
  return kept;
}

/** Moves a file to quarantine with its reason (kept for callers of the thin version). */
export function quarantineFile(ctx: OuterContext, path: string, code: string, reason: string): void {
  const name = path.split('/').pop() ?? path;
  quarantineRecorded(ctx, path, name, { code, reason });
}
