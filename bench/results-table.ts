// Renders bench/results.json as the README's results table, between the markers
// <!-- results:start --> and <!-- results:end -->, so the README always matches the file.
// Run by `npm run bench` after each run; `node dist/bench/results-table.js` refreshes it by hand.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ResultsFile } from './harness.js';

export const START = '<!-- results:start -->';
export const END = '<!-- results:end -->';

function figure(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return value.toPrecision(3);
}

/** The ratio; for runs measured each beside its own baseline run, the median of those per-run ratios. */
function ratioCell(m: ResultsFile['metrics'][string]): string {
  if (m.ratio === undefined) return '—';
  return m.ratios ? `${m.ratio.toFixed(2)} (median of ${m.ratios.length} paired runs)` : m.ratio.toFixed(2);
}

export function renderResultsTable(results: ResultsFile): string {
  const machine = results.machine as Record<string, string | number | undefined>;
  const lines = [
    `Measured ${results.updated.slice(0, 10)} on ${String(machine['cpu'] ?? '?')}, ${String(machine['cores'] ?? '?')} cores, ${String(machine['memoryGiB'] ?? '?')} GiB, Node ${String(machine['node'] ?? '?')} (a shared machine: ratios against the same run's raw baseline are what carries over).`,
    '',
    '| metric | median | min – max | raw baseline (same run) | ratio |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const [name, m] of Object.entries(results.metrics)) {
    const baseline = m.baseline ? `${figure(m.baseline.median)} ${m.unit}: ${m.baseline.what}` : '—';
    lines.push(
      `| ${name} | ${figure(m.median)} ${m.unit} | ${figure(m.min)} – ${figure(m.max)} | ${baseline} | ${ratioCell(m)} |`,
    );
  }
  return lines.join('\n');
}

/** Replaces the README's results section; returns false when the markers are missing. */
export function updateReadme(readmePath: string, results: ResultsFile): boolean {
  const text = readFileSync(readmePath, 'utf8');
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  if (start < 0 || end < start) return false;
  const next = `${text.slice(0, start + START.length)}\n${renderResultsTable(results)}\n${text.slice(end)}`;
  if (next !== text) writeFileSync(readmePath, next);
  return true;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const repo = resolve(import.meta.dirname, '../..');
  const results = JSON.parse(readFileSync(resolve(repo, 'bench/results.json'), 'utf8')) as ResultsFile;
  if (!updateReadme(resolve(repo, 'README.md'), results)) {
    process.stderr.write(`README.md has no ${START} ... ${END} section\n`);
    process.exitCode = 1;
  }
}
