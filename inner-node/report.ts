// `inner-node report --html FILE` (issue 8): the manager's page, filled from the state database (rows
// sealed per hour and dataset from sent_bundles, bundles sealed but not yet in the outbox, paused
// datasets), the reject files and the certificates, rendered by shared/report-html.ts and written by
// write-and-rename.
import { writeFileAtomicSync } from '../shared/atomic-file.js';
import { renderReport, type ReportData } from '../shared/report-html.js';
import type { InnerContext } from './context.js';
import { nodeCertificates, rejectReasons } from './observe.js';

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

/** Rows sealed per hour and dataset, every hour of the period present (0 when quiet). */
function hourlySeries(
  records: readonly { dataset: string; rows: number; createdAt: string }[],
  from: number,
  to: number,
): ReportData['throughput']['series'] {
  const start = Math.floor(from / HOUR_MS) * HOUR_MS;
  const hours = Math.max(1, Math.ceil((to - start) / HOUR_MS));
  const perDataset = new Map<string, number[]>();
  for (const r of records) {
    const at = Date.parse(r.createdAt);
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

/** The offset the county works in: that of its first dataset's watermark (default +08:00). */
function reportOffset(ctx: InnerContext): string {
  return Object.values(ctx.settings.config.datasets)[0]?.watermark_timezone ?? '+08:00';
}

/** Builds the report's data from the node's state, reject files and trust folder. */
export function innerReportData(ctx: InnerContext, options: ReportOptions = {}): ReportData {
  const now = options.now ?? new Date();
  const to = options.to ?? now;
  const from = options.from ?? new Date(to.getTime() - 7 * 24 * HOUR_MS);
  const offset = reportOffset(ctx);
  const sent = ctx.state.sentSince(from.toISOString());
  // A bundle sealed but not yet copied into the outbox waits: its age per stream is the lag.
  const waiting = new Map<string, number>();
  for (const b of ctx.state.unpublished()) {
    const seconds = Math.max(0, Math.floor((now.getTime() - Date.parse(b.createdAt)) / 1000));
    waiting.set(b.stream, Math.max(waiting.get(b.stream) ?? 0, seconds));
  }
  const rejects = [...rejectReasons(ctx.settings.folders.rejects, from).entries()]
    .map(([reason, count]) => ({ reason, count }))
    .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason))
    .slice(0, 15);
  return {
    node: { name: ctx.settings.config.node.name, role: 'inner' },
    generatedAt: withOffset(now.getTime(), offset),
    period: { from: withOffset(from.getTime(), offset), to: withOffset(to.getTime(), offset) },
    utcOffset: offset,
    throughput: { series: hourlySeries(sent, from.getTime(), to.getTime()) },
    lag: [...waiting.entries()].map(([stream, seconds]) => ({ stream, seconds })),
    quarantine: [],
    rejects,
    gaps: [],
    keys: nodeCertificates(ctx.identity, ctx.trust, now).map((c) => ({
      name: c.name,
      usage: c.usage === 'sign' ? 'signing' : 'encryption',
      notAfter: c.notAfter.toISOString(),
    })),
    decisions: [],
    scores: { bins: [] },
    paused: ctx.state.pausedDatasets(),
  };
}

/** Renders the report and writes it by write-and-rename (mode 0640: it names streams and counts). */
export function writeInnerReport(ctx: InnerContext, file: string, options: ReportOptions = {}): ReportData {
  const data = innerReportData(ctx, options);
  writeFileAtomicSync(file, renderReport(data), 0o640);
  return data;
}
