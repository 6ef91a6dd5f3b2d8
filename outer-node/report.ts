// `outer-node report --html FILE` (issue 8): the manager's page, filled from the ledger (rows applied
// per hour and dataset), the queue folders and state database (lag, gaps), the quarantine, the
// reject files, the certificates and the lending tables, rendered by shared/report-html.ts and
// written by write-and-rename.
import { writeFileAtomicSync } from '../shared/atomic-file.js';
import { renderReport, scoreHistogram, type ReportData } from '../shared/report-html.js';
import { lendingDatabase } from './config.js';
import type { OuterContext } from './context.js';
import { loadPolicy } from './lending/policy.js';
import { nodeCertificates, tallyDecisions, tallyRejects } from './observe.js';
import { listQuarantine } from './quarantine.js';
import { nodeStatus } from './status.js';

const HOUR_MS = 3_600_000;

export interface ReportOptions {
  /** Start of the period (default: 7 days before `to`). */
  from?: Date;
  /** End of the period (default: now). */
  to?: Date;
  now?: Date;
}

/** An instant as ISO 8601 with the report's offset ('+08:00'), never a naive string. */
function withOffset(ms: number, offset: string): string {
  if (offset === 'Z') return new Date(ms).toISOString();
  const sign = offset.startsWith('-') ? -1 : 1;
  const minutes = sign * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6)));
  return `${new Date(ms + minutes * 60_000).toISOString().slice(0, 19)}${offset}`;
}

/** Rows applied per hour and dataset, every hour of the period present (0 when quiet). */
function hourlySeries(
  records: readonly { dataset: string; rows: number; appliedAt: string }[],
  from: number,
  to: number,
): ReportData['throughput']['series'] {
  const start = Math.floor(from / HOUR_MS) * HOUR_MS;
  const hours = Math.max(1, Math.ceil((to - start) / HOUR_MS));
  const perDataset = new Map<string, number[]>();
  for (const r of records) {
    const at = Date.parse(r.appliedAt);
    if (!(at >= from && at <= to)) continue;
    let buckets = perDataset.get(r.dataset);
    if (!buckets) {
      buckets = new Array<number>(hours).fill(0);
      perDataset.set(r.dataset, buckets);
    }
    const index = Math.min(hours - 1, Math.floor((at - start) / HOUR_MS));
    buckets[index] = (buckets[index] ?? 0) + r.rows;
  }
  return [...perDataset.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, buckets]) => ({
      name,
      points: buckets.map((rows, i) => ({ at: new Date(start + i * HOUR_MS).toISOString(), rows })),
    }));
}

/** Counts as bars, largest first. */
function ranked(counts: ReadonlyMap<string, number>): { key: string; count: number }[] {
  return [...counts.entries()]
    .map(([key, count]) => ({ key, count }))
    .sort((a, b) => b.count - a.count || a.key.localeCompare(b.key));
}

/** Builds the report's data from the node's state, ledger, folders, trust and lending tables. */
export async function outerReportData(ctx: OuterContext, options: ReportOptions = {}): Promise<ReportData> {
  const now = options.now ?? new Date();
  const to = options.to ?? now;
  const from = options.from ?? new Date(to.getTime() - 7 * 24 * HOUR_MS);
  const offset = ctx.settings.config.target.naive_time_offset;
  const status = await nodeStatus(ctx, now);
  const ledger = await ctx.target.ledgerSince(from);

  const quarantine = new Map<string, number>();
  for (const entry of listQuarantine(ctx.settings.folders.quarantine)) {
    quarantine.set(entry.code, (quarantine.get(entry.code) ?? 0) + 1);
  }
  const rejects = tallyRejects(ctx.settings.folders.rejects, from).perReason;
  const decisions = tallyDecisions(lendingDatabase(ctx.settings), from, true);
  const gaps: ReportData['gaps'] = [];
  for (const s of status.streams) {
    for (const gap of s.gaps) {
      const [first, last] = gap.split('-').map(Number);
      if (first === undefined) continue;
      gaps.push({
        stream: s.stream,
        from: first,
        to: last ?? first,
        // The oldest bundle waiting behind the gap was created this long ago.
        since: withOffset(now.getTime() - s.lagSeconds * 1000, offset),
        state: 'waiting',
      });
    }
  }
  let bands: ReportData['scores']['bands'];
  const policyFile = ctx.settings.config.lending.policy;
  if (policyFile !== undefined) {
    try {
      const policy = loadPolicy(ctx.settings.resolve(policyFile));
      bands = { reviewFrom: policy.cutoffs.refer_at, approveFrom: policy.cutoffs.approve_at };
    } catch {
      bands = undefined; // the report shows the scores without the bands
    }
  }
  const scores = decisions.scores;
  const low = scores.length > 0 ? Math.floor(Math.min(...scores) / 20) * 20 : 0;
  const high = scores.length > 0 ? Math.ceil((Math.max(...scores) + 1) / 20) * 20 : 0;
  return {
    node: { name: ctx.settings.config.node.name, role: 'outer' },
    generatedAt: withOffset(now.getTime(), offset),
    period: { from: withOffset(from.getTime(), offset), to: withOffset(to.getTime(), offset) },
    utcOffset: offset,
    throughput: { series: hourlySeries(ledger, from.getTime(), to.getTime()) },
    lag: status.streams.map((s) => ({ stream: s.stream, seconds: s.lagSeconds })),
    quarantine: ranked(quarantine).map((q) => ({ reason: q.key, count: q.count })),
    rejects: ranked(rejects)
      .slice(0, 15)
      .map((r) => ({ reason: r.key, count: r.count })),
    gaps,
    keys: nodeCertificates(ctx.identity, ctx.trust, now).map((c) => ({
      name: c.name,
      usage: c.usage === 'sign' ? 'signing' : 'encryption',
      notAfter: c.notAfter.toISOString(),
    })),
    decisions: Object.entries(decisions.byOutcome)
      .map(([outcome, count]) => ({ outcome, count }))
      .sort((a, b) => a.outcome.localeCompare(b.outcome)),
    scores: {
      bins: scores.length > 0 ? scoreHistogram(scores, { min: low, max: high, width: 20 }) : [],
      ...(bands ? { bands } : {}),
    },
  };
}

/** Renders the report and writes it by write-and-rename (mode 0640: it names streams and counts). */
export async function writeOuterReport(
  ctx: OuterContext,
  file: string,
  options: ReportOptions = {},
): Promise<ReportData> {
  const data = await outerReportData(ctx, options);
  writeFileAtomicSync(file, renderReport(data), 0o640);
  return data;
}
