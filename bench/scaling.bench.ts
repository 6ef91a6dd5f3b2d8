// Scaling benchmark (issue 9): how the end-to-end time grows with the size of the export.
// - scaling.e2e_1m, scaling.e2e_2m, scaling.e2e_4m: seconds for 1, 2 and 4 million residents rows to go
//   from a SQLite county database to a SQLite bank database through the whole bridge, exactly as
//   e2e.sqlite measures it (bench/e2e.bench.ts pipelineRun: the outer daemon already running in its
//   own process, inner export in bundles of 10,000 rows, ferry, import; the clock stops when the last
//   row is in the bank's ledger). Unit: seconds, so the table shows how time grows; rows/s is in the
//   `rowsPerSecond` field and in the baseline text.
// - Baseline, same run, same size: plain prepared inserts of the same rows (read back from the bank
//   table) into a new SQLite file, WAL, synchronous=FULL, one transaction, as e2e.sqlite's baseline.
//   The rows are read in pages of 50,000 outside the clock, so 4 million rows never sit in memory at
//   once; only the inserts and the commit are timed. The baseline is cheap beside the pipeline, so it
//   is run BASELINE_RUNS (3) times per size and its median taken: one noisy baseline on a shared
//   machine would otherwise swing the ratio. ratio = our throughput / baseline throughput
//   (= baseline seconds / our seconds, the same rows both ways), as for every other metric.
// Lean on purpose (the whole `npm run bench` must finish within 20 minutes on a 2-core machine): one
// warm-up run at 1 million rows (discarded), then ONE pipeline run per size, so min = max = median.
// The county table grows in place (1m, then +1m, then +2m), so only 4 million source rows are written
// in all; the county's other tables stay tiny (the synthetic county generator is far too slow at this
// size, and only residents are exported). About 4 minutes in all on the 2-core reference machine.
// BENCH_SCALING_SIZES=250000,500000 (comma-separated row counts) runs other sizes, for a quick look.
import Database from 'better-sqlite3';
import { mkdirSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { buildDemoEnvironment, type DemoEnvironment } from '../deploy/demo-environment.js';
import { residentIdCheckChar } from '../shared/resident-id.js';
import { pipelineRun, tune } from './e2e.bench.js';
import { benchDir, median, step, type Benchmark, type MetricResult } from './harness.js';

const DEFAULT_SIZES = [1_000_000, 2_000_000, 4_000_000];
const PAGE = 50_000;
const BASELINE_RUNS = 3;
const SURNAMES = ['王', '李', '张', '刘', '陈', '杨', '黄', '赵', '吴', '周', '欧阳', '堃'];
const GIVEN = ['伟', '芳', '娜', '秀英', '敏', '静', '丽', '强', '磊', '军', '洋', '勇', '燊', '𠮷'];

/** The metric name for a size: scaling.e2e_1m for 1,000,000 rows, scaling.e2e_250k for 250,000. */
function metricName(rows: number): string {
  return rows % 1_000_000 === 0 ? `scaling.e2e_${rows / 1_000_000}m` : `scaling.e2e_${rows / 1000}k`;
}

function sizes(): number[] {
  const text = process.env['BENCH_SCALING_SIZES'];
  if (!text) return DEFAULT_SIZES;
  const parsed = text.split(',').map((s) => Number(s.trim()));
  if (parsed.some((n) => !Number.isSafeInteger(n) || n < 1000 || n % 1000 !== 0)) {
    throw new Error(`BENCH_SCALING_SIZES: row counts in thousands expected, got '${text}'`);
  }
  return parsed.sort((a, b) => a - b);
}

/**
 * Grows the county's household-registration table to `to` rows (rows `from`..`to`-1 appended): valid
 * ID numbers (unique, with their check digit), code-table values the residents mapping accepts, and
 * update times three rows to a second, in the past, so the (GXSJ, SFZH) cursor reads them all.
 */
function growResidents(countyDb: string, from: number, to: number): void {
  const db = new Database(countyDb);
  try {
    db.pragma('journal_mode = DELETE');
    db.pragma('synchronous = OFF');
    db.pragma('cache_size = -65536');
    if (from === 0) db.exec('DELETE FROM RK_JBXX');
    const insert = db.prepare('INSERT INTO RK_JBXX VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    const base = Date.UTC(2020, 0, 1);
    db.transaction(() => {
      for (let i = from; i < to; i++) {
        const birth = `19${String(40 + (i % 60)).padStart(2, '0')}${String(1 + (i % 12)).padStart(2, '0')}${String(1 + (i % 28)).padStart(2, '0')}`;
        const first17 = `${String(110101 + Math.floor(i / 1000))}${birth}${String(i % 1000).padStart(3, '0')}`;
        insert.run(
          `${first17}${residentIdCheckChar(first17)}`,
          `${SURNAMES[i % SURNAMES.length] ?? '王'}${GIVEN[(i * 7) % GIVEN.length] ?? '伟'}`,
          i % 2 ? '1' : '2',
          '01',
          birth,
          '20',
          `安徽省阜阳市阜南县某某镇某某村${i % 500}号`,
          null,
          i % 3 ? '2' : '1',
          new Date(base + Math.floor(i / 3) * 1000).toISOString().slice(0, 19).replace('T', ' '),
        );
      }
    })();
  } finally {
    db.close();
  }
}

/**
 * Seconds for plain prepared inserts of the bank table's rows into a new SQLite file in one
 * transaction (WAL, synchronous=FULL, as e2e.sqlite's baseline). Rows are read in pages outside the
 * clock; the inserts and the commit are timed.
 */
function plainInsertSeconds(env: DemoEnvironment, dir: string): { rows: number; seconds: number } {
  const bank = new Database(env.bankDb, { readonly: true });
  const path = join(dir, 'plain.db');
  rmSync(path, { force: true });
  rmSync(`${path}-wal`, { force: true });
  rmSync(`${path}-shm`, { force: true });
  const db = new Database(path);
  try {
    const ddl = (
      bank.prepare("SELECT sql FROM sqlite_master WHERE name = 'GOV_RESIDENT'").get() as { sql: string }
    ).sql;
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(ddl);
    const page = bank
      .prepare('SELECT rowid, * FROM GOV_RESIDENT WHERE rowid > ? ORDER BY rowid LIMIT ?')
      .raw();
    let insert: Database.Statement | undefined;
    let rows = 0;
    let elapsed = 0;
    let after = 0;
    db.exec('BEGIN');
    for (;;) {
      const chunk = page.all(after, PAGE) as unknown[][];
      const last = chunk.at(-1);
      if (!last) break;
      after = Number(last[0]);
      const values = chunk.map((row) => row.slice(1));
      insert ??= db.prepare(
        `INSERT INTO GOV_RESIDENT VALUES (${(values[0] ?? []).map(() => '?').join(', ')})`,
      );
      const started = performance.now();
      for (const row of values) insert.run(row);
      elapsed += performance.now() - started;
      rows += values.length;
    }
    const started = performance.now();
    db.exec('COMMIT');
    elapsed += performance.now() - started;
    return { rows, seconds: elapsed / 1000 };
  } finally {
    db.close();
    bank.close();
    rmSync(path, { force: true });
  }
}

const rate = (rows: number, seconds: number): string =>
  `${Math.round(rows / seconds).toLocaleString('en-US')} rows/s`;

export const benchmark: Benchmark = {
  name: 'scaling',
  description:
    'end to end (SQLite county to SQLite bank) at 1, 2 and 4 million rows: how time grows, vs plain prepared inserts of the same rows',
  async run() {
    const dir = benchDir('scaling');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const wanted = sizes();
    // A small synthetic county for the keys, configurations and bank tables; residents are replaced.
    const env = await buildDemoEnvironment({ dir: join(dir, 'bridge'), residents: 1000, seed: 42 });
    tune(env);
    const load = loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
    const metrics: Record<string, MetricResult> = {};
    let present = 0;
    for (const [index, rows] of wanted.entries()) {
      const grown = performance.now();
      growResidents(env.county.dbPath, present, rows);
      present = rows;
      step(
        `county: ${rows.toLocaleString('en-US')} residents (${((performance.now() - grown) / 1000).toFixed(1)} s to write)`,
      );
      if (index === 0) {
        const warm = rows / (await pipelineRun(env, rows));
        step(`warm-up: end to end ${warm.toFixed(1)} s (${rate(rows, warm)}), discarded`);
      }
      const seconds = rows / (await pipelineRun(env, rows));
      const baselineRuns: number[] = [];
      for (let run = 0; run < BASELINE_RUNS; run++) {
        const once = plainInsertSeconds(env, dir);
        if (once.rows !== rows) throw new Error(`bank table holds ${once.rows} rows, expected ${rows}`);
        baselineRuns.push(once.seconds);
      }
      const plain = { rows, seconds: median(baselineRuns) };
      step(
        `${rows.toLocaleString('en-US')} rows: end to end ${seconds.toFixed(1)} s (${rate(rows, seconds)}), plain inserts ${plain.seconds.toFixed(1)} s (${rate(rows, plain.seconds)}, median of ${BASELINE_RUNS})`,
      );
      const result: MetricResult & {
        rows: number;
        rowsPerSecond: { median: number; baseline: number };
      } = {
        unit: 's',
        median: seconds,
        min: seconds,
        max: seconds,
        runs: [seconds],
        baseline: {
          what: `plain prepared inserts of the same ${rows.toLocaleString('en-US')} rows into a SQLite file, one transaction, same run, median of ${BASELINE_RUNS} (${rate(rows, plain.seconds)})`,
          median: plain.seconds,
          unit: 's',
        },
        // Our throughput over the baseline's, the same rows both ways.
        ratio: plain.seconds / seconds,
        note: `${rows} residents end to end (inner export: read, map, seal; ferry; outer import: verify, open, map, upsert with ledger), SQLite to SQLite, ${rate(rows, seconds)}; one run after a warm-up at ${wanted[0] ?? rows} rows; baseline runs ${baselineRuns.map((s) => s.toFixed(2)).join(', ')} s; load average before the runs ${load}`,
        rows,
        rowsPerSecond: { median: rows / seconds, baseline: rows / plain.seconds },
      };
      metrics[metricName(rows)] = result;
    }
    rmSync(join(dir, 'bridge'), { recursive: true, force: true });
    return metrics;
  },
};
