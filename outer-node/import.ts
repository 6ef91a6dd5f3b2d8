// Import: claim bundles from the inbox by atomic rename, order them per stream, verify and open each
// (crypto module), check the contract, map to the bank's table and apply rows plus the ledger row in
// one transaction. Permanent problems go to quarantine with a readable reason; transient ones stay
// claimed and are retried.
import { lstatSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync, type Stats } from 'node:fs';
import { basename, join } from 'node:path';
import { fingerprintContract, openBundle, readBundleHeader, type BundleHeader } from '../crypto/index.js';
import { isTemporaryName } from '../shared/atomic-file.js';
import { canonicalContract, findContract } from '../shared/contracts.js';
import { BundleError, MappingError, VerificationError, describeError, errorCode } from '../shared/errors.js';
import type { ContractValue } from '../shared/mapping.js';
import { decodePayload, type PayloadPreamble } from '../shared/payload.js';
import type { OuterContext } from './context.js';
import type { TablePlan } from './targets/target-writer.js';

export interface ImportSummary {
  applied: number;
  rows: number;
  duplicates: number;
  quarantined: number;
  waiting: number;
  retrying: number;
}

export interface ImportOptions {
  /** A file is claimed only once its modification time is this old (the ferry may still be writing). */
  settleMs?: number;
  now?: () => Date;
  onBundle?: (event: { file: string; outcome: string; rows: number }) => void;
}

const BUNDLE_SUFFIX = '.gbb';

export function workDir(ctx: OuterContext): string {
  return join(ctx.settings.folders.state, 'work');
}

/** Moves settled inbox files into the private work folder; returns how many are not settled yet. */
export function claimInbox(ctx: OuterContext, settleMs: number, nowMs: number): { claimed: number; unsettled: number } {
  const inbox = ctx.settings.folders.inbox;
  const work = workDir(ctx);
  mkdirSync(inbox, { recursive: true });
  mkdirSync(work, { recursive: true });
  let claimed = 0;
  let unsettled = 0;
  for (const name of readdirSync(inbox)) {
    if (isTemporaryName(name)) continue;
    const path = join(inbox, name);
    let stat;
    try {
      stat = lstatSync(path);
    } catch {
      continue; // taken by another worker or removed by the ferry
    }
    if (!stat.isFile() || !name.endsWith(BUNDLE_SUFFIX)) {
      quarantineFile(ctx, path, 'INBOX_NOT_A_BUNDLE', notBundleReason(stat, name));
      continue;
    }
    if (nowMs - stat.mtimeMs < settleMs) {
      unsettled++;
      continue;
    }
    try {
      renameSync(path, join(work, name));
      claimed++;
      ctx.state.record({ file: name, bundleId: null, stream: null, sequence: null, state: 'claimed', reason: null, rows: null });
    } catch {
      // Another worker claimed it first: the rename is the lock.
    }
  }
  return { claimed, unsettled };
}

function notBundleReason(stat: Stats, name: string): string {
  if (stat.isSymbolicLink()) return 'a symbolic link was planted in the inbox; links are never followed';
  if (stat.isDirectory()) return 'a directory in the inbox';
  if (!stat.isFile()) return 'not a regular file (device, FIFO or socket)';
  return `file name '${name}' does not end in ${BUNDLE_SUFFIX}`;
}

export function quarantineFile(ctx: OuterContext, path: string, code: string, reason: string): void {
  const dir = ctx.settings.folders.quarantine;
  mkdirSync(dir, { recursive: true });
  const name = basename(path);
  const target = join(dir, name);
  try {
    renameSync(path, target);
  } catch {
    return; // already moved by another worker
  }
  writeFileSync(
    join(dir, `${name}.reason.json`),
    `${JSON.stringify({ file: name, code, reason, at: new Date().toISOString() }, null, 2)}\n`,
  );
  ctx.state.record({ file: name, bundleId: null, stream: null, sequence: null, state: 'quarantined', reason: `${code}: ${reason}`, rows: null });
  ctx.logger.warn({ file: name, code, reason }, 'bundle quarantined');
}

/** One pass: claim, then apply everything that is next in its stream, until nothing more applies. */
export async function importOnce(ctx: OuterContext, options: ImportOptions = {}): Promise<ImportSummary & { unsettled: number }> {
  const now = options.now ?? (() => new Date());
  const { unsettled } = claimInbox(ctx, options.settleMs ?? 1000, now().getTime());
  const summary: ImportSummary = { applied: 0, rows: 0, duplicates: 0, quarantined: 0, waiting: 0, retrying: 0 };
  const work = workDir(ctx);
  const pending: { file: string; header: BundleHeader }[] = [];
  for (const name of readdirSync(work)) {
    const path = join(work, name);
    try {
      pending.push({ file: path, header: await readBundleHeader(path) });
    } catch (error) {
      summary.quarantined++;
      quarantineFile(ctx, path, errorCodeOf(error), describeError(error));
    }
  }
  const streams = new Map<string, { file: string; header: BundleHeader }[]>();
  for (const item of pending) {
    const list = streams.get(item.header.stream) ?? [];
    list.push(item);
    streams.set(item.header.stream, list);
  }
  for (const [stream, items] of streams) {
    items.sort((a, b) => a.header.sequence - b.header.sequence);
    let last = await ctx.target.lastApplied(stream);
    for (const item of items) {
      const name = basename(item.file);
      if (item.header.sequence <= last) {
        rmSync(item.file, { force: true });
        summary.duplicates++;
        ctx.state.record({ ...taskOf(name, item.header), state: 'duplicate', reason: `sequence ${item.header.sequence} already applied`, rows: null });
        options.onBundle?.({ file: name, outcome: 'duplicate', rows: 0 });
        continue;
      }
      if (item.header.sequence !== last + 1) {
        summary.waiting++;
        ctx.state.record({ ...taskOf(name, item.header), state: 'waiting', reason: `waiting for sequence ${last + 1} of ${stream}`, rows: null });
        continue;
      }
      const outcome = await applyBundle(ctx, item.file, now());
      if (outcome.kind === 'applied') {
        summary.applied++;
        summary.rows += outcome.rows;
        last = item.header.sequence;
      } else if (outcome.kind === 'duplicate') {
        summary.duplicates++;
        last = item.header.sequence;
      } else if (outcome.kind === 'quarantined') {
        summary.quarantined++;
        break; // the rest of the stream waits for a good copy of this sequence
      } else {
        summary.retrying++;
        break;
      }
      options.onBundle?.({ file: name, outcome: outcome.kind, rows: outcome.kind === 'applied' ? outcome.rows : 0 });
    }
  }
  return { ...summary, unsettled };
}

function taskOf(file: string, header: BundleHeader) {
  return { file, bundleId: header.bundleId, stream: header.stream, sequence: header.sequence };
}

function errorCodeOf(error: unknown): string {
  return errorCode(error) ?? 'UNEXPECTED';
}

type ApplyResult =
  | { kind: 'applied'; rows: number }
  | { kind: 'duplicate' }
  | { kind: 'quarantined'; reason: string }
  | { kind: 'retrying'; reason: string };

/** Verifies, opens and applies one claimed bundle file. */
export async function applyBundle(ctx: OuterContext, path: string, now: Date): Promise<ApplyResult> {
  const name = basename(path);
  try {
    const opened = await openBundle({
      path,
      identity: ctx.identity,
      trust: ctx.trust,
      now,
      expectSenderRole: 'inner',
    });
    const { header } = opened;
    if (!ctx.settings.config.senders.includes(opened.signer.name)) {
      throw new VerificationError('VERIFY_UNKNOWN_SENDER', `Bundle signed by '${opened.signer.name}', which is not among the accepted senders`, {
        where: name,
        hint: 'Add the inner node to senders in the configuration if it should be accepted',
      });
    }
    ctx.state.record({ ...taskOf(name, header), state: 'verified', reason: null, rows: null });
    const plan = planFor(ctx, header);
    const payload = decodePayload(opened.body, name);
    const first = await payload.next();
    if (first.done || !('preamble' in first.value)) {
      throw new BundleError('BUNDLE_PAYLOAD_INVALID', 'Bundle payload has no preamble', { where: name });
    }
    const tablePlan = tablePlanFor(ctx, header, first.value.preamble, plan.table, plan.columns, name);
    const kind = first.value.preamble.kind;
    const rows = countedRows(payload, header.rowCount, name);
    const outcome = await ctx.target.apply(
      tablePlan,
      kind,
      rows,
      { bundleId: header.bundleId, stream: header.stream, sequence: header.sequence, dataset: header.dataset },
      () => opened.plaintextDigest(),
    );
    if (outcome.outcome === 'applied') {
      rmSync(path, { force: true });
      ctx.state.record({ ...taskOf(name, header), state: 'loaded', reason: null, rows: outcome.rows });
      ctx.logger.info({ bundleId: header.bundleId, stream: header.stream, sequence: header.sequence, rows: outcome.rows }, 'bundle applied');
      return { kind: 'applied', rows: outcome.rows };
    }
    if (outcome.outcome === 'duplicate') {
      rmSync(path, { force: true });
      ctx.state.record({ ...taskOf(name, header), state: 'duplicate', reason: 'already in the ledger', rows: null });
      return { kind: 'duplicate' };
    }
    ctx.state.record({ ...taskOf(name, header), state: 'waiting', reason: `waiting for sequence ${outcome.expected}`, rows: null });
    return { kind: 'retrying', reason: `out of order: expected ${outcome.expected}` };
  } catch (error) {
    const reason = describeError(error);
    if (error instanceof VerificationError || error instanceof BundleError || error instanceof MappingError) {
      quarantineFile(ctx, path, error.code, reason);
      return { kind: 'quarantined', reason };
    }
    ctx.state.record({ file: name, bundleId: null, stream: null, sequence: null, state: 'retrying', reason, rows: null, attempt: true });
    ctx.logger.error({ file: name, err: reason }, 'bundle import failed; will retry');
    return { kind: 'retrying', reason };
  }
}

function planFor(ctx: OuterContext, header: BundleHeader): { table: string; columns: Record<string, string> } {
  const spec = ctx.settings.config.datasets[header.dataset];
  if (!spec) {
    throw new MappingError('MAPPING_CONTRACT_MISMATCH', `Dataset '${header.dataset}' is not configured on this bank node`, {
      where: header.bundleId,
      hint: `Add datasets.${header.dataset} with its table and columns to ${ctx.settings.path}`,
    });
  }
  const contract = findContract(header.dataset);
  if (!contract || fingerprintContract(canonicalContract(contract)) !== header.contract) {
    throw new MappingError('MAPPING_CONTRACT_MISMATCH', `Contract fingerprint of dataset '${header.dataset}' differs from this node's contract`, {
      where: header.bundleId,
      hint: 'Both nodes must run the same contract version; upgrade the older node',
    });
  }
  return spec;
}

function tablePlanFor(
  ctx: OuterContext,
  header: BundleHeader,
  preamble: PayloadPreamble,
  table: string,
  mapping: Record<string, string>,
  where: string,
): TablePlan {
  const contract = findContract(header.dataset);
  if (!contract || preamble.dataset !== header.dataset || preamble.contract !== header.contract) {
    throw new BundleError('BUNDLE_PAYLOAD_INVALID', 'Payload preamble does not match the signed header', { where });
  }
  const columns = preamble.columns.map((name) => {
    const column = contract.columns.find((c) => c.name === name);
    if (!column) {
      throw new MappingError('MAPPING_CONTRACT_MISMATCH', `Payload column '${name}' is not in contract ${contract.name}`, { where });
    }
    return { contract: column, target: mapping[name] ?? null };
  });
  const keyPositions = contract.key.map((k) => preamble.columns.indexOf(k));
  if (keyPositions.some((p) => p < 0)) {
    throw new MappingError('MAPPING_CONTRACT_MISMATCH', 'Payload lacks a key column of the contract', { where });
  }
  void ctx;
  return { table, columns, key: contract.key.map((k) => mapping[k] ?? k), keyPositions };
}

/** Passes rows through and refuses a payload whose row count differs from the signed header. */
async function* countedRows(
  payload: AsyncGenerator<{ preamble: PayloadPreamble } | { row: ContractValue[] }>,
  expected: number,
  where: string,
): AsyncGenerator<ContractValue[]> {
  let count = 0;
  for await (const item of payload) {
    if (!('row' in item)) continue;
    count++;
    if (count > expected) break;
    yield item.row;
  }
  if (count !== expected) {
    throw new BundleError('BUNDLE_PAYLOAD_INVALID', `Payload holds ${count > expected ? 'more' : count} rows but the header says ${expected}`, {
      where,
    });
  }
}
