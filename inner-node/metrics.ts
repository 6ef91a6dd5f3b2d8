// The inner node's metrics file (design 2: no metrics port): a snapshot built from the same state as
// `inner-node status` (bundles and rows sent per stream, rows rejected, last export), plus paused
// datasets, the sent bundles kept for resends and the certificates, rendered by shared/metrics-file.ts
// for node_exporter's textfile collector. `inner-node run` rewrites it every metrics.interval;
// `inner-node metrics --write FILE` once.
import { parseDuration } from '../shared/config-loader.js';
import { describeError } from '../shared/errors.js';
import {
  nodeMetricFamilies,
  startMetricsWriter,
  writeMetricsFile,
  type MetricFamily,
  type MetricsWriter,
} from '../shared/metrics-file.js';
import type { InnerContext } from './context.js';
import { nodeCertificates } from './observe.js';

/** Seconds since an ISO instant (0 when there is none). */
function ageSeconds(at: string | null | undefined, now: Date): number {
  if (!at) return 0;
  return Math.max(0, Math.floor((now.getTime() - Date.parse(at)) / 1000));
}

/** The node's families: the shared set (role inner) plus the inner node's own. */
export function innerMetricFamilies(ctx: InnerContext, now: Date = new Date()): MetricFamily[] {
  const streams = ctx.state.streams();
  const shared = nodeMetricFamilies({
    role: 'inner',
    streams: streams.map((s) => ({
      stream: s.stream,
      bundles: s.bundles,
      rows: s.rows,
      rejects: s.rejects,
      gapSequences: 0,
      // Since the last successful export of the stream: a stuck source or a paused dataset shows here.
      lagSeconds: ageSeconds(s.lastOkAt, now),
    })),
    quarantine: {},
    retrying: 0,
    retryAttempts: 0,
    certificates: nodeCertificates(ctx.identity, ctx.trust, now).map((c) => ({
      name: c.name,
      usage: c.usage,
      notAfter: c.notAfter,
    })),
    decisions: {},
    now,
  });
  const paused = new Set(ctx.state.pausedDatasets().map((p) => p.dataset));
  return [
    ...shared,
    {
      name: 'govbank_dataset_paused',
      help: "1 when a dataset is paused (schema drift, a restore) until 'inner-node resume'.",
      type: 'gauge',
      samples: Object.keys(ctx.settings.config.datasets)
        .sort()
        .map((dataset) => ({ labels: { dataset }, value: paused.has(dataset) ? 1 : 0 })),
    },
    {
      name: 'govbank_sent_bundles_kept',
      help: 'Sent bundles kept in state/sent/ for resends (pruned after bundles.retention).',
      type: 'gauge',
      samples: [{ value: ctx.state.keptCount() }],
    },
    {
      name: 'govbank_last_export_age_seconds',
      help: 'Seconds since the last successful export of a stream.',
      type: 'gauge',
      samples: streams.map((s) => ({ labels: { stream: s.stream }, value: ageSeconds(s.lastOkAt, now) })),
    },
  ];
}

/** The labels every sample carries, so two nodes can share the collector's folder. */
function constLabels(ctx: InnerContext): Record<string, string> {
  return { node: ctx.settings.config.node.name };
}

/** Writes the metrics file once (`inner-node metrics --write FILE`, cron, tests). */
export async function writeInnerMetrics(ctx: InnerContext, file: string, now = new Date()): Promise<void> {
  await writeMetricsFile(file, innerMetricFamilies(ctx, now), constLabels(ctx));
}

/** Starts the periodic writer when metrics.file is configured (undefined otherwise). */
export function startInnerMetrics(ctx: InnerContext): MetricsWriter | undefined {
  const file = ctx.settings.config.metrics.file;
  if (file === undefined) return undefined;
  const path = ctx.settings.resolve(file);
  const writer = startMetricsWriter({
    path,
    intervalMs: parseDuration(ctx.settings.config.metrics.interval) ?? 15_000,
    collect: () => innerMetricFamilies(ctx),
    constLabels: constLabels(ctx),
    onError: (error) =>
      ctx.logger.warn({ err: describeError(error), file: path }, 'metrics file not written; trying again'),
  });
  ctx.logger.info({ file: path }, 'writing metrics');
  return writer;
}
