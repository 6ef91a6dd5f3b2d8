// The benchmark harness: each benchmark measures our figure and the raw baseline of the same
// operation in the same run, several times after a warm-up, and records medians and their ratio in
// bench/results.json (shape fixed by the proof issue, so scripts can read it):
// {"machine": {...}, "metrics": {"NAME": {"unit", "median", "min", "max", "baseline": {"what", "median"}, "ratio"}}}
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { writeFileAtomicSync } from '../shared/atomic-file.js';

export const RESULTS_FILE = resolve(import.meta.dirname, '../../bench/results.json');

export interface MetricResult {
  unit: string;
  median: number;
  min: number;
  max: number;
  runs: number[];
  baseline?: { what: string; median: number; unit?: string };
  ratio?: number;
  /** Per-run ratios, when each run was measured beside its own baseline run (`paired`). */
  ratios?: number[];
  note?: string;
}

export interface ResultsFile {
  machine: Record<string, unknown>;
  updated: string;
  metrics: Record<string, MetricResult>;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? Number.NaN)
    : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/**
 * A metric from several runs. With a baseline, ratio = our median / baseline median, both as
 * throughput (higher is better); pass throughput figures, not times.
 */
export function metric(
  unit: string,
  runs: number[],
  baseline?: { what: string; runs: number[]; unit?: string; paired?: boolean },
  note?: string,
): MetricResult {
  const result: MetricResult = {
    unit,
    median: median(runs),
    min: Math.min(...runs),
    max: Math.max(...runs),
    runs,
  };
  if (baseline) {
    const base = median(baseline.runs);
    result.baseline = {
      what: baseline.what,
      median: base,
      ...(baseline.unit ? { unit: baseline.unit } : {}),
    };
    result.ratio = base > 0 ? result.median / base : Number.NaN;
    if (baseline.paired) {
      // Run i was measured beside baseline run i: on a noisy machine the median of the per-run ratios
      // cancels most of the drift between runs that a ratio of two medians keeps.
      if (baseline.runs.length !== runs.length) throw new Error('paired baseline needs one run per run');
      result.ratios = runs.map((value, i) => value / (baseline.runs[i] ?? Number.NaN));
      result.ratio = median(result.ratios);
    }
  }
  if (note) result.note = note;
  return result;
}

function version(command: string, args: string[]): string {
  try {
    return (
      execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
        .trim()
        .split('\n')[0] ?? ''
    );
  } catch {
    return 'not found';
  }
}

export function machineInfo(): Record<string, unknown> {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    openssl: process.versions.openssl,
    sqlite: version('sqlite3', ['--version']).split(' ')[0],
    postgresql: version('psql', ['--version']),
    mariadb: version('mariadb', ['--version']),
  };
}

export function readResults(): ResultsFile {
  if (existsSync(RESULTS_FILE)) {
    try {
      return JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as ResultsFile;
    } catch {
      // a broken file is replaced
    }
  }
  return { machine: {}, updated: '', metrics: {} };
}

/** Merges metrics into bench/results.json (other metrics are kept), stamping the machine. */
export function recordMetrics(metrics: Record<string, MetricResult>): void {
  const results = readResults();
  results.machine = machineInfo();
  results.updated = new Date().toISOString();
  results.metrics = { ...results.metrics, ...metrics };
  results.metrics = Object.fromEntries(
    Object.entries(results.metrics).sort(([a], [b]) => a.localeCompare(b)),
  );
  writeFileAtomicSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
}

/** Runs fn once as a warm-up, then `runs` times, returning each run's result. */
export async function repeat<T>(runs: number, fn: (run: number) => Promise<T> | T, warmup = 1): Promise<T[]> {
  for (let i = 0; i < warmup; i++) await fn(-1 - i);
  const results: T[] = [];
  for (let i = 0; i < runs; i++) results.push(await fn(i));
  return results;
}

/** Progress on a terminal: one line per step; quiet when not a TTY except for the step names. */
export function step(text: string): void {
  process.stderr.write(`  ${text}\n`);
}

export function benchDir(name: string): string {
  return join(resolve(import.meta.dirname, '../../bench/.work'), name);
}

export interface Benchmark {
  name: string;
  description: string;
  run(): Promise<Record<string, MetricResult>>;
}
