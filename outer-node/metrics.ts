// The outer node's metrics file (design 2: no metrics port): a snapshot built from the same sources as
// `outer-node status` (ledger, queue folders, state database, quarantine), plus rejected rows,
// certificates and credit decisions, rendered by shared/metrics-file.ts for node_exporter's textfile
// collector. `outer-node run` rewrites it every metrics.interval; `outer-node metrics --write` once.
import {
  nodeMetricFamilies,
  startMetricsWriter,
  writeMetricsFile,
  type MetricsWriter,
  type NodeMetricsSnapshot,
} from '../shared/metrics-file.js';
import { parseDuration } from '../shared/config-loader.js';
import { describeError } from '../shared/errors.js';
import { lendingDatabase } from './config.js';
import { openTarget, type OuterContext } from './context.js';
import { gapSequenceCount, nodeCertificates, tallyDecisions, tallyRejects } from './observe.js';
import { listQuarantine } from './quarantine.js';
import { nodeStatus } from './status.js';
import type { TargetWriter } from './targets/target-writer.js';

/** Retry attempts recorded in the task table since the state began (a counter: it never falls). */
function retryAttempts(ctx: Pick<OuterContext, 'state'>): number {
  const row = ctx.state.db.prepare('SELECT COALESCE(SUM(attempts), 0) AS n FROM tasks').get() as {
    n: number;
  };
  return row.n;
}

/** What the node knows about itself now, read through `target` (default: the context's connection). */
export async function outerMetricsSnapshot(
  ctx: OuterContext,
  now: Date = new Date(),
  target: TargetWriter = ctx.target,
): Promise<NodeMetricsSnapshot> {
  const status = await nodeStatus(ctx, now, target);
  const rejects = tallyRejects(ctx.settings.folders.rejects).perStream;
  const quarantine: Record<string, number> = {};
  for (const entry of listQuarantine(ctx.settings.folders.quarantine)) {
    quarantine[entry.code] = (quarantine[entry.code] ?? 0) + 1;
  }
  const streams = status.streams.map((s) => ({
    stream: s.stream,
    bundles: s.bundlesApplied,
    rows: s.rowsApplied,
    rejects: rejects.get(s.stream) ?? 0,
    gapSequences: gapSequenceCount(s.gaps),
    lagSeconds: s.lagSeconds,
  }));
  // Streams known only from reject files (every bundle so far refused) still get their counter.
  for (const [stream, count] of rejects) {
    if (!streams.some((s) => s.stream === stream)) {
      streams.push({ stream, bundles: 0, rows: 0, rejects: count, gapSequences: 0, lagSeconds: 0 });
    }
  }
  return {
    role: 'outer',
    streams,
    quarantine,
    retrying: status.streams.reduce((n, s) => n + s.retrying.length, 0),
    retryAttempts: retryAttempts(ctx),
    certificates: nodeCertificates(ctx.identity, ctx.trust, now).map((c) => ({
      name: c.name,
      usage: c.usage,
      notAfter: c.notAfter,
    })),
    decisions: tallyDecisions(lendingDatabase(ctx.settings)).byOutcome,
    now,
  };
}

/** The labels every sample carries, so two nodes can share the collector's folder. */
function constLabels(ctx: OuterContext): Record<string, string> {
  return { node: ctx.settings.config.node.name };
}

/** Writes the metrics file once (`outer-node metrics --write FILE`, cron, tests). */
export async function writeOuterMetrics(ctx: OuterContext, file: string, now = new Date()): Promise<void> {
  await writeMetricsFile(file, nodeMetricFamilies(await outerMetricsSnapshot(ctx, now)), constLabels(ctx));
}

/**
 * Starts the periodic writer when metrics.file is configured (undefined otherwise). It reads the
 * ledger through a connection of its own, so a snapshot never runs inside an import's transaction.
 */
export function startOuterMetrics(ctx: OuterContext): MetricsWriter | undefined {
  const file = ctx.settings.config.metrics.file;
  if (file === undefined) return undefined;
  const path = ctx.settings.resolve(file);
  let target: TargetWriter | undefined;
  const writer = startMetricsWriter({
    path,
    intervalMs: parseDuration(ctx.settings.config.metrics.interval) ?? 5000,
    collect: async () => {
      target ??= openTarget(ctx.settings);
      return nodeMetricFamilies(await outerMetricsSnapshot(ctx, new Date(), target));
    },
    constLabels: constLabels(ctx),
    onError: (error) =>
      ctx.logger.warn({ err: describeError(error), file: path }, 'metrics file not written; trying again'),
  });
  ctx.logger.info({ file: path }, 'writing metrics');
  return {
    flush: () => writer.flush(),
    async stop() {
      await writer.stop();
      await target?.close();
    },
  };
}
