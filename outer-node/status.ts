// `outer-node status`: per stream, what the ledger says was applied and what is waiting, retrying or
// quarantined, read from the bank database (ledger), the queue folders and the state database.
import { readBundleHeader } from '../crypto/index.js';
import { alignedTable } from '../shared/cli-support.js';
import type { OuterContext } from './context.js';
import { datasetOf, missingRanges } from './reverse-driver.js';
import type { RetentionGap } from './state.js';
import { listQuarantine } from './quarantine.js';
import type { TargetWriter } from './targets/target-writer.js';
import { listQueue, listStreams, workFolders } from './work-folders.js';

export interface StreamStatus {
  stream: string;
  lastApplied: number;
  bundlesApplied: number;
  rowsApplied: number;
  lastAppliedAt: string | null;
  /** Bundles queued beyond the last applied sequence. */
  queued: number[];
  /** Missing sequences (ranges) between the last applied one and the highest queued one. */
  gaps: string[];
  retrying: { sequence: number; attempts: number; nextAttemptAt: string; reason: string }[];
  quarantined: number;
  /** Seconds since the oldest queued bundle of the stream was created (0 when nothing waits). */
  lagSeconds: number;
  /** Sequences missing from the ledger that the inner node no longer keeps (issue 6). */
  leftRetention?: RetentionGap;
  /** The latest sequence the inner node's last catalogue says it sent (null: no catalogue yet). */
  catalogueLatest: number | null;
  /** Sequences after the last applied one, up to the catalogue's latest or the highest queued, not queued. */
  missing: number;
  /** The first of those as ranges (text: '5' or '7-9'), at most MAX_MISSING_RANGES of them. */
  missingRanges: string[];
  /** Resend requests sent for the stream over the reverse lane, and the sequences they asked for. */
  reRequested: number;
  reRequestedSequences: number;
  lastReRequest: { from: number; to: number; at: string } | null;
  /** Highest sequence acknowledged to the inner node (every sequence up to it is applied). */
  acksSentUpTo: number;
  acksSentAt: string | null;
  /** Applied sequences not acknowledged yet (acks are coalesced, at most one per stream in 5 s). */
  unacknowledged: number;
}

/** Missing ranges listed per stream in status (the count covers all). */
const MAX_MISSING_RANGES = 20;

export interface NodeStatus {
  tasks: Record<string, number>;
  streams: StreamStatus[];
  quarantined: number;
}

function gapsOf(last: number, queued: number[]): string[] {
  const gaps: string[] = [];
  let expected = last + 1;
  for (const sequence of [...new Set(queued)].sort((a, b) => a - b)) {
    if (sequence > expected)
      gaps.push(sequence - 1 === expected ? `${expected}` : `${expected}-${sequence - 1}`);
    expected = Math.max(expected, sequence + 1);
  }
  return gaps;
}

/** The node's status; `target` is the connection to read the ledger through (default: the context's). */
export async function nodeStatus(
  ctx: Pick<OuterContext, 'settings' | 'state' | 'target'>,
  now = new Date(),
  target: TargetWriter = ctx.target,
): Promise<NodeStatus> {
  const ledger = await target.ledgerSummary();
  const folders = workFolders(ctx.settings.folders.state, ctx.settings.folders.inbox);
  const queues = new Map(listStreams(folders).map((s) => [s.stream, s.dir]));
  const quarantine = listQuarantine(ctx.settings.folders.quarantine);
  const retries = ctx.state.retries();
  const leftRetention = new Map(ctx.state.retentionGaps().map((g) => [g.stream, g]));
  const catalogue = new Map(ctx.state.catalogues().map((c) => [c.stream, c]));
  const reverse = new Map(ctx.state.reverseSent().map((r) => [r.stream, r]));
  const names = new Set<string>([
    ...ledger.map((l) => l.stream),
    ...queues.keys(),
    ...retries.map((r) => r.stream).filter(Boolean),
    ...leftRetention.keys(),
    ...catalogue.keys(),
    ...reverse.keys(),
  ]);
  const streams: StreamStatus[] = [];
  for (const stream of [...names].sort()) {
    const applied = ledger.find((l) => l.stream === stream);
    const last = applied?.lastSequence ?? 0;
    const dir = queues.get(stream);
    const pending = dir ? listQueue(dir).filter((f) => f.sequence > last) : [];
    let oldest: number | undefined;
    for (const file of pending.slice(0, 50)) {
      try {
        const created = Date.parse((await readBundleHeader(file.path)).createdAt);
        oldest = oldest === undefined ? created : Math.min(oldest, created);
      } catch {
        // applied or moved meanwhile
      }
    }
    const sequences = pending.map((p) => p.sequence);
    const known = catalogue.get(stream);
    const horizon = sequences.reduce((hi, s) => Math.max(hi, s), known?.latest ?? 0);
    const held = new Set(sequences.filter((q) => q <= horizon)).size;
    const sent = reverse.get(stream);
    streams.push({
      stream,
      lastApplied: last,
      bundlesApplied: applied?.bundles ?? 0,
      rowsApplied: applied?.rows ?? 0,
      lastAppliedAt: applied?.lastAppliedAt ?? null,
      queued: pending.map((p) => p.sequence),
      gaps: gapsOf(
        last,
        pending.map((p) => p.sequence),
      ),
      retrying: retries
        .filter((r) => r.stream === stream && r.sequence > last)
        .map((r) => ({
          sequence: r.sequence,
          attempts: r.attempts,
          nextAttemptAt: new Date(r.nextAttemptAt).toISOString(),
          reason: r.reason,
        })),
      quarantined: quarantine.filter((q) => q.stream === stream).length,
      lagSeconds: oldest === undefined ? 0 : Math.max(0, Math.round((now.getTime() - oldest) / 1000)),
      ...(leftRetention.has(stream) ? { leftRetention: leftRetention.get(stream) } : {}),
      catalogueLatest: known?.latest ?? null,
      missing: Math.max(0, horizon - last - held),
      missingRanges: missingRanges(last, sequences, horizon, MAX_MISSING_RANGES).map(([from, to]) =>
        from === to ? `${from}` : `${from}-${to}`,
      ),
      reRequested: sent?.requests ?? 0,
      reRequestedSequences: sent?.requestedSequences ?? 0,
      lastReRequest: sent?.lastRequest ?? null,
      acksSentUpTo: sent?.ackedUpTo ?? 0,
      acksSentAt: sent?.ackedAt ?? null,
      unacknowledged: Math.max(0, last - (sent?.ackedUpTo ?? 0)),
    });
  }
  return { tasks: ctx.state.counts(), streams, quarantined: quarantine.length };
}

export function formatStatus(status: NodeStatus): string {
  const lines = [
    `tasks: ${
      Object.entries(status.tasks)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none yet'
    }`,
  ];
  for (const s of status.streams) {
    lines.push(
      `${s.stream}: last sequence applied ${s.lastApplied} (${s.bundlesApplied} bundle(s), ${s.rowsApplied} rows${s.lastAppliedAt ? `, at ${s.lastAppliedAt}` : ''})`,
    );
    lines.push(
      `  queued ${s.queued.length}, gaps ${s.gaps.length > 0 ? s.gaps.join(', ') : 'none'}, retrying ${s.retrying.length}, quarantined ${s.quarantined}, lag ${s.lagSeconds} s`,
    );
    if (s.leftRetention) {
      lines.push(
        `  gap left retention: sequences ${s.leftRetention.ranges ?? `${s.leftRetention.from}-${s.leftRetention.to}`} (inner keeps from ${s.leftRetention.oldestRetained}, noted ${s.leftRetention.notedAt}); the county must run 'inner-node export --dataset ${datasetOf(s.stream)} --snapshot'`,
      );
    }
    for (const r of s.retrying) {
      lines.push(
        `  retrying sequence ${r.sequence}: attempt ${r.attempts}, next at ${r.nextAttemptAt}: ${r.reason}`,
      );
    }
  }
  lines.push(
    `quarantine: ${status.quarantined} file(s)${status.quarantined > 0 ? " (see 'outer-node quarantine list')" : ''}`,
  );
  if (status.streams.length > 0) {
    lines.push('', 'reverse lane, per stream:');
    lines.push(
      alignedTable(
        [
          'stream',
          'applied',
          'sent',
          'missing',
          're-requested',
          'acks sent up to',
          'unacked',
          'left retention',
        ],
        status.streams.map((s) => [
          s.stream,
          String(s.lastApplied),
          s.catalogueLatest === null ? '-' : String(s.catalogueLatest),
          s.missing > 0
            ? `${s.missing} (${s.missingRanges.slice(0, 3).join(', ')}${s.missingRanges.length > 3 ? ', ...' : ''})`
            : '0',
          s.reRequested > 0 ? `${s.reRequested} (${s.reRequestedSequences} seq)` : '0',
          String(s.acksSentUpTo),
          String(s.unacknowledged),
          s.leftRetention
            ? (s.leftRetention.ranges ?? `${s.leftRetention.from}-${s.leftRetention.to}`)
            : 'none',
        ]),
      ),
    );
  }
  return lines.join('\n');
}
