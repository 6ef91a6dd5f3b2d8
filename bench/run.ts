// `npm run bench [-- NAME...]`: runs every benchmark, or the named ones, and writes bench/results.json.
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readResults, recordMetrics, RESULTS_FILE, type Benchmark, type MetricResult } from './harness.js';
import { updateReadme } from './results-table.js';

async function loadBenchmarks(): Promise<Benchmark[]> {
  const dir = import.meta.dirname;
  const files = readdirSync(dir).filter((f) => f.endsWith('.bench.js'));
  const benchmarks: Benchmark[] = [];
  for (const file of files.sort()) {
    const module = (await import(pathToFileURL(`${dir}/${file}`).href)) as { benchmark?: Benchmark };
    if (module.benchmark) benchmarks.push(module.benchmark);
    else process.stderr.write(`warning: ${basename(file)} exports no benchmark\n`);
  }
  return benchmarks;
}

function format(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return Math.abs(value) >= 100 ? Math.round(value).toLocaleString('en-US') : value.toPrecision(3);
}

const wanted = process.argv.slice(2);
const all = await loadBenchmarks();
const selected = wanted.length === 0 ? all : all.filter((b) => wanted.includes(b.name));
const unknown = wanted.filter((w) => !all.some((b) => b.name === w));
if (unknown.length > 0) {
  process.stderr.write(
    `unknown benchmark(s): ${unknown.join(', ')}; known: ${all.map((b) => b.name).join(', ')}\n`,
  );
  process.exit(2);
}
const collected: Record<string, MetricResult> = {};
for (const benchmark of selected) {
  process.stderr.write(`bench ${benchmark.name}: ${benchmark.description}\n`);
  const started = Date.now();
  const metrics = await benchmark.run();
  recordMetrics(metrics);
  Object.assign(collected, metrics);
  process.stderr.write(`  done in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
}
const rows = Object.entries(collected).map(([name, m]) => [
  name,
  `${format(m.median)} ${m.unit}`,
  m.baseline ? `${format(m.baseline.median)} (${m.baseline.what})` : '-',
  m.ratio === undefined ? '-' : m.ratio.toFixed(2),
]);
const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => (r[i] ?? '').length), 8));
for (const row of [['metric', 'median', 'baseline', 'ratio'], ...rows]) {
  process.stdout.write(`${row.map((cell, i) => cell.padEnd(widths[i] ?? 8)).join('  ')}\n`);
}
process.stdout.write(`written to ${RESULTS_FILE}\n`);
const readme = join(import.meta.dirname, '../../README.md');
if (updateReadme(readme, readResults())) process.stdout.write(`README.md results table updated\n`);
