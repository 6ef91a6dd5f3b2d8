// Metrics without a port (design 2, issue 8): each node writes a Prometheus text-format file that
// node_exporter's textfile collector picks up. The renderer is pure; the file appears whole by write
// and rename (style.md rule 6), so the collector never reads half a file.
import { closeSync, fchmodSync, openSync, rmSync, writeSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { publishFile, temporaryNameFor } from './atomic-file.js';

export type MetricType = 'counter' | 'gauge';

export interface MetricSample {
  labels?: Readonly<Record<string, string>>;
  value: number;
}

/** One metric family: a name, its help text, its type and one sample per label set. */
export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: readonly MetricSample[];
}

/** Thrown for a metric the exposition format cannot carry; a programming error, not an operator's. */
export class MetricsFormatError extends Error {
  override readonly name = 'MetricsFormatError';
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Label values escape backslash, double quote and line feed (exposition format 0.0.4). */
export function escapeLabelValue(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}

/** HELP text escapes backslash and line feed only. */
export function escapeHelp(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');
}

/** A sample value: integers as they are, NaN and infinities by their exposition names. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

function renderLabels(labels: Readonly<Record<string, string>>, where: string): string {
  const names = Object.keys(labels).sort();
  if (names.length === 0) return '';
  const parts = names.map((name) => {
    if (!LABEL_NAME.test(name) || name.startsWith('__')) {
      throw new MetricsFormatError(`${where}: label name '${name}' is not allowed`);
    }
    return `${name}="${escapeLabelValue(labels[name] ?? '')}"`;
  });
  return `{${parts.join(',')}}`;
}

/**
 * Renders families in the Prometheus text exposition format: one HELP and one TYPE line per family,
 * then its samples. `constLabels` (such as the node's name) are added to every sample, so two nodes
 * on one machine can share the collector's folder. Refuses invalid names, a counter without the
 * `_total` suffix or with a negative value, a family given twice and a label set given twice.
 */
export function renderMetrics(
  families: readonly MetricFamily[],
  constLabels: Readonly<Record<string, string>> = {},
): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const family of families) {
    const { name } = family;
    if (!METRIC_NAME.test(name)) throw new MetricsFormatError(`metric name '${name}' is not allowed`);
    if (seen.has(name)) throw new MetricsFormatError(`metric '${name}' is given twice`);
    seen.add(name);
    if (family.type === 'counter' && !name.endsWith('_total')) {
      throw new MetricsFormatError(`counter '${name}' must end in _total (Prometheus naming)`);
    }
    out.push(`# HELP ${name} ${escapeHelp(family.help)}`);
    out.push(`# TYPE ${name} ${family.type}`);
    const labelSets = new Set<string>();
    for (const sample of family.samples) {
      const labels = renderLabels({ ...constLabels, ...sample.labels }, name);
      if (labelSets.has(labels))
        throw new MetricsFormatError(`metric '${name}' has the labels ${labels} twice`);
      labelSets.add(labels);
      if (family.type === 'counter' && !(sample.value >= 0)) {
        throw new MetricsFormatError(`counter '${name}${labels}' must not be negative or NaN`);
      }
      out.push(`${name}${labels} ${formatValue(sample.value)}`);
    }
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

/**
 * Writes the metrics file by write-and-rename. The file is made world-readable explicitly (0644,
 * whatever the umask) because node_exporter runs as another user; the temporary name starts with a
 * dot and ends in .part, so the collector (which reads only *.prom) never sees it.
 */
export async function writeMetricsFile(
  path: string,
  families: readonly MetricFamily[],
  constLabels: Readonly<Record<string, string>> = {},
): Promise<void> {
  const text = renderMetrics(families, constLabels);
  await mkdir(dirname(path), { recursive: true });
  const temp = temporaryNameFor(path);
  const fd = openSync(temp, 'w', 0o644);
  try {
    fchmodSync(fd, 0o644);
    writeSync(fd, Buffer.from(text, 'utf8'));
  } catch (error) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw error;
  }
  closeSync(fd);
  await publishFile(temp, path);
}

export interface MetricsWriterOptions {
  /** The .prom file, e.g. /var/lib/prometheus/node-exporter/govbank-inner.prom. */
  path: string;
  /** How often to write; a few seconds (node_exporter is scraped every 15 s or so). */
  intervalMs: number;
  /** Gathers the current metrics; called once per interval, never twice at the same time. */
  collect: () => MetricFamily[] | Promise<MetricFamily[]>;
  constLabels?: Readonly<Record<string, string>>;
  /** Told about a failed collection or write; the writer carries on at the next interval. */
  onError?: (error: unknown) => void;
}

export interface MetricsWriter {
  /** Writes once now (after any write in progress). */
  flush(): Promise<void>;
  /** Stops the timer, waits for a write in progress, then writes a last time. */
  stop(): Promise<void>;
}

/**
 * Writes the metrics file at once and then every `intervalMs`, until stop(). A failure (disk full,
 * folder gone) is reported to onError and retried at the next tick: metrics never stop a node.
 */
export function startMetricsWriter(options: MetricsWriterOptions): MetricsWriter {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const writeOnce = async (): Promise<void> => {
    try {
      await writeMetricsFile(options.path, await options.collect(), options.constLabels);
    } catch (error) {
      options.onError?.(error);
    }
  };
  // Writes are chained, so two never overlap on the same temporary and final names.
  const enqueue = (): Promise<void> => (running = running.then(writeOnce));
  const tick = (): void => {
    void enqueue().then(() => {
      if (!stopped) timer = setTimeout(tick, options.intervalMs);
    });
  };
  tick();

  return {
    flush: enqueue,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await enqueue();
    },
  };
}

/** What a node knows about itself at one instant; `nodeMetricFamilies` turns it into the file's metrics. */
export interface NodeMetricsSnapshot {
  /** 'inner' or 'outer'. */
  role: 'inner' | 'outer';
  /** Per stream: bundles and rows sent (inner) or applied (outer) since the node's state began. */
  streams: readonly {
    stream: string;
    bundles: number;
    rows: number;
    /** Rows refused by a mapping, per stream. */
    rejects: number;
    /** Missing sequences currently waited for (outer), or 0. */
    gapSequences: number;
    /** Seconds the oldest waiting bundle has waited (outer), or since the last export (inner). */
    lagSeconds: number;
  }[];
  /** Files in quarantine now, by refusal code. */
  quarantine: Readonly<Record<string, number>>;
  /** Tasks waiting for a retry now, and retry attempts made since the state began. */
  retrying: number;
  retryAttempts: number;
  /** Certificates this node holds or trusts, with the end of their validity. */
  certificates: readonly { name: string; usage: string; notAfter: Date }[];
  /** Credit decisions by outcome since the state began (outer; empty on the inner node). */
  decisions: Readonly<Record<string, number>>;
  /** When the snapshot was taken. */
  now: Date;
}

/**
 * The node's metric families, named once here so both nodes and the tests agree on them. Counters
 * come from the state database (they survive restarts, as Prometheus counters should); gauges are
 * the current picture. Every family is present even when empty, so an alert rule never sees a
 * metric vanish.
 */
export function nodeMetricFamilies(s: NodeMetricsSnapshot): MetricFamily[] {
  const direction = s.role === 'inner' ? 'sent' : 'applied';
  const perStream = (pick: (x: NodeMetricsSnapshot['streams'][number]) => number): MetricSample[] =>
    s.streams.map((x) => ({ labels: { stream: x.stream }, value: pick(x) }));
  const byKey = (record: Readonly<Record<string, number>>, label: string): MetricSample[] =>
    Object.entries(record)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, value]) => ({ labels: { [label]: key }, value }));
  return [
    {
      name: 'govbank_bundles_total',
      help: `Bundles ${direction}, per stream.`,
      type: 'counter',
      samples: s.streams.map((x) => ({ labels: { stream: x.stream, direction }, value: x.bundles })),
    },
    {
      name: 'govbank_rows_total',
      help: `Rows ${direction}, per stream.`,
      type: 'counter',
      samples: s.streams.map((x) => ({ labels: { stream: x.stream, direction }, value: x.rows })),
    },
    {
      name: 'govbank_rejected_rows_total',
      help: 'Rows refused by a mapping rule, per stream (see the reject files).',
      type: 'counter',
      samples: perStream((x) => x.rejects),
    },
    {
      name: 'govbank_quarantine_files',
      help: 'Files in quarantine now, by refusal code.',
      type: 'gauge',
      samples: byKey(s.quarantine, 'code'),
    },
    {
      name: 'govbank_retrying_tasks',
      help: 'Bundles waiting for a retry after a transient failure.',
      type: 'gauge',
      samples: [{ value: s.retrying }],
    },
    {
      name: 'govbank_retry_attempts_total',
      help: 'Retry attempts after transient failures.',
      type: 'counter',
      samples: [{ value: s.retryAttempts }],
    },
    {
      name: 'govbank_stream_gap_sequences',
      help: 'Missing sequence numbers a stream is waiting for.',
      type: 'gauge',
      samples: perStream((x) => x.gapSequences),
    },
    {
      name: 'govbank_lag_seconds',
      help: 'Seconds the oldest waiting bundle of a stream has waited.',
      type: 'gauge',
      samples: perStream((x) => x.lagSeconds),
    },
    {
      // Seconds, not days: Prometheus wants base units (promtool refuses a _days metric). A
      // dashboard shows days as value / 86400; the HTML report shows days directly.
      name: 'govbank_certificate_expiry_seconds',
      help: 'Seconds until a certificate expires (negative: expired); divide by 86400 for days.',
      type: 'gauge',
      samples: s.certificates.map((c) => ({
        labels: { name: c.name, usage: c.usage },
        value: Math.floor((c.notAfter.getTime() - s.now.getTime()) / 1000),
      })),
    },
    {
      name: 'govbank_decisions_total',
      help: 'Credit decisions, by outcome.',
      type: 'counter',
      samples: byKey(s.decisions, 'outcome'),
    },
    {
      name: 'govbank_metrics_written_timestamp_seconds',
      help: 'When this file was written (Unix time); alert when it stops moving.',
      type: 'gauge',
      samples: [{ value: Math.floor(s.now.getTime() / 1000) }],
    },
  ];
}
