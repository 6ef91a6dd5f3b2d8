// `outer-node status`: per stream, what the ledger says was applied and what is waiting, retrying or
// quarantined, read from the bank database (ledger), the queue folders and the state database.
import { readBundleHeader } from '../crypto/index.js';
import type { OuterContext } from './context.js';
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
}

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
  const names = new Set<string>([
    ...ledger.map((l) => l.stream),
    ...queues.keys(),
    ...retries.map((r) => r.stream).filter(Boolean),
    ...leftRetention.keys(),
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
        `  gap left retention: sequences ${s.leftRetention.from}-${s.leftRetention.to} (inner keeps from ${s.leftRetention.oldestRetained}); needs a snapshot export`,
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
  return lines.join('\n');
}
