// End-to-end and import-memory benchmarks (issue 5):
// - e2e.sqlite: rows/s from a SQLite county database to a SQLite bank database through the whole
//   bridge (inner export: read, map, seal; ferry; outer import: claim, verify, open, map, upsert with
//   the ledger), with the outer daemon running in its own process and the three stages overlapping
//   as they do in production (bundles of 10,000 rows), divided by rows/s of plain prepared inserts of the same rows into a SQLite file in one
//   transaction, in the same run. Median of 3 runs after a warm-up. Goal >= 0.35.
// - memory.import_5m: peak RSS (VmHWM, via /usr/bin/time -v) of `outer-node import` in a child
//   process importing 5 million rows (100 bundles of 50,000) into SQLite. No baseline.
import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import {
  fingerprintContract,
  loadIdentity,
  loadTrustStore,
  recipientCertificates,
  sealBundle,
} from '../crypto/index.js';
import { buildDemoEnvironment, type DemoEnvironment } from '../deploy/demo-environment.js';
import { openInnerContext } from '../inner-node/context.js';
import { exportDataset } from '../inner-node/export.js';
import { canonicalContract, CONTRACTS } from '../shared/contracts.js';
import { ferryOnce } from '../shared/ferry/ferry.js';
import { createLogger } from '../shared/logger.js';
import type { ContractValue } from '../shared/mapping.js';
import { encodePayload } from '../shared/payload.js';
import { residentIdCheckChar } from '../shared/resident-id.js';
import { benchDir, metric, repeat, step, type Benchmark, type MetricResult } from './harness.js';

const logger = createLogger({ name: 'bench', level: 'silent' });

/** Fresh state on both sides: the next export starts from the beginning, the bank table is empty. */
export function reset(env: DemoEnvironment): void {
  for (const folder of ['state', 'outbox', 'rejects'])
    rmSync(join(env.innerDir, folder), { recursive: true, force: true });
  for (const folder of ['state', 'inbox', 'rejects', 'quarantine']) {
    rmSync(join(env.outerDir, folder), { recursive: true, force: true });
    mkdirSync(join(env.outerDir, folder), { recursive: true });
  }
  const bank = new Database(env.bankDb);
  bank.exec('DELETE FROM GOV_RESIDENT; DELETE FROM bridge_ledger;');
  bank.close();
}

function bankRows(env: DemoEnvironment): number {
  const bank = new Database(env.bankDb, { readonly: true });
  try {
    return (bank.prepare('SELECT COALESCE(SUM(row_count), 0) AS n FROM bridge_ledger').get() as { n: number })
      .n;
  } finally {
    bank.close();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * One end-to-end run as the bridge runs in production: the outer daemon is already running (in its
 * own process, as on its own machine), the inner node exports in bundles of 10,000 rows, the ferry
 * carries each bundle as it appears, and the clock stops when the last row is in the bank's ledger.
 */
export async function pipelineRun(env: DemoEnvironment, expected: number): Promise<number> {
  reset(env);
  const cli = resolve(import.meta.dirname, '../outer-node/cli.js');
  const daemon = spawn(process.execPath, [cli, 'run', '--config', env.outerConfig], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, BRIDGE_LOG_LEVEL: 'info' },
  });
  let log = '';
  daemon.stderr.on('data', (d: Buffer) => (log += d.toString()));
  try {
    while (!log.includes('outer node running')) {
      if (daemon.exitCode !== null) throw new Error(`outer daemon exited: ${log}`);
      await sleep(20);
    }
    // Both nodes are running daemons: opening the inner context (keys, trust) is not part of the rate.
    const inner = await openInnerContext(env.innerConfig, logger);
    const started = performance.now();
    let exporting = true;
    const ferry = (async () => {
      while (exporting) {
        await ferryOnce({ from: join(env.innerDir, 'outbox'), to: join(env.outerDir, 'inbox') });
        await sleep(20);
      }
      await ferryOnce({ from: join(env.innerDir, 'outbox'), to: join(env.outerDir, 'inbox') });
    })();
    try {
      await exportDataset(inner, 'residents');
    } finally {
      inner.close();
      exporting = false;
    }
    await ferry;
    while (bankRows(env) < expected) {
      if (daemon.exitCode !== null) throw new Error(`outer daemon exited: ${log}`);
      await sleep(10);
    }
    const seconds = (performance.now() - started) / 1000;
    return expected / seconds;
  } finally {
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon.once('exit', r));
  }
}

/** Bundles of 10,000 rows (so export, ferry and import overlap) and no settle wait (the ferry renames). */
export function tune(env: DemoEnvironment): void {
  const inner = readFileSync(env.innerConfig, 'utf8').replace('max_rows: 50000', 'max_rows: 10000');
  writeFileSync(env.innerConfig, inner);
  const outer = readFileSync(env.outerConfig, 'utf8')
    .replace('poll_interval: 2s', 'poll_interval: 50ms')
    .replace('  workers: 1', '  workers: 1\n  settle: 0s');
  writeFileSync(env.outerConfig, outer);
}

/** Plain prepared inserts of the bank table's rows into a new SQLite file, one transaction. */
function plainInserts(env: DemoEnvironment, dir: string): number {
  const bank = new Database(env.bankDb, { readonly: true });
  const ddl = (
    bank.prepare("SELECT sql FROM sqlite_master WHERE name = 'GOV_RESIDENT'").get() as { sql: string }
  ).sql;
  const rows = bank.prepare('SELECT * FROM GOV_RESIDENT').raw().all() as unknown[][];
  bank.close();
  const path = join(dir, 'plain.db');
  rmSync(path, { force: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(ddl);
  const insert = db.prepare(`INSERT INTO GOV_RESIDENT VALUES (${(rows[0] ?? []).map(() => '?').join(', ')})`);
  const started = performance.now();
  db.transaction(() => {
    for (const row of rows) insert.run(row);
  })();
  const seconds = (performance.now() - started) / 1000;
  db.close();
  return rows.length / seconds;
}

/** Seals `total` residents rows in bundles of `perBundle` straight into the bank's inbox. */
async function sealMany(env: DemoEnvironment, total: number, perBundle: number): Promise<void> {
  const passphrase = readFileSync(join(env.innerDir, 'keys', 'passphrase'), 'utf8').trim();
  const identity = await loadIdentity({ keysDir: join(env.innerDir, 'keys'), passphrase });
  const trust = await loadTrustStore(join(env.innerDir, 'trust'));
  const recipients = recipientCertificates(trust, 'bank-a', new Date());
  const contract = CONTRACTS['residents'];
  if (!contract) throw new Error('no residents contract');
  const fingerprint = fingerprintContract(canonicalContract(contract));
  const columns = contract.columns.map((c) => c.name);
  for (let sequence = 1, first = 0; first < total; sequence++, first += perBundle) {
    const count = Math.min(perBundle, total - first);
    function* rows(): Generator<ContractValue[]> {
      for (let i = first; i < first + count; i++) {
        const birth = `19${String(40 + (i % 60)).padStart(2, '0')}${String(1 + (i % 12)).padStart(2, '0')}${String(1 + (i % 28)).padStart(2, '0')}`;
        const first17 = `${110101 + (Math.floor(i / 1000) % 800000)}${birth}${String(i % 1000).padStart(3, '0')}`;
        yield [
          `${first17}${residentIdCheckChar(first17)}`,
          ['王伟', '李芳', '张娜', '刘秀英', '陈敏'][i % 5] ?? '王伟',
          i % 2 ? 'male' : 'female',
          `${birth.slice(0, 4)}-${birth.slice(4, 6)}-${birth.slice(6, 8)}`,
          '01',
          null,
          `安徽省阜阳市阜南县某某镇某某村${i % 500}号`,
          i % 3 ? 'rural' : 'urban',
          '2024-01-15T08:00:00+08:00',
        ];
      }
    }
    const now = new Date();
    await sealBundle({
      identity,
      recipients,
      description: {
        dataset: 'residents',
        contract: fingerprint,
        stream: 'county.bank-a.residents',
        sequence,
        rowCount: count,
        kind: 'rows',
        createdAt: now,
        expiresAt: new Date(now.getTime() + 7 * 86_400_000),
      },
      body: encodePayload({ dataset: 'residents', contract: fingerprint, kind: 'rows', columns }, rows()),
      outputPath: join(
        env.outerDir,
        'inbox',
        `county.bank-a.residents.${String(sequence).padStart(6, '0')}.gbb`,
      ),
    });
  }
}

function peakImportRssMb(env: DemoEnvironment): { mb: number; output: string } {
  const cli = resolve(import.meta.dirname, '../outer-node/cli.js');
  const child = spawnSync(
    '/usr/bin/time',
    ['-v', process.execPath, cli, 'import', '--config', env.outerConfig, '--settle', '0'],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, BRIDGE_LOG_LEVEL: 'warn' },
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  if (child.status !== 0) throw new Error(`outer-node import failed: ${child.stderr}`);
  const match = /Maximum resident set size \(kbytes\): (\d+)/.exec(child.stderr);
  if (!match) throw new Error(`no peak RSS in /usr/bin/time output: ${child.stderr}`);
  return { mb: Number(match[1]) / 1024, output: child.stdout.trim() };
}

export const benchmark: Benchmark = {
  name: 'e2e',
  description:
    'SQLite county to SQLite bank through export, ferry and import vs plain prepared inserts; import memory for 5M rows',
  async run() {
    const dir = benchDir('e2e');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const residents = Number(process.env['BENCH_E2E_ROWS'] ?? 150_000);
    step(`county: ${residents.toLocaleString('en-US')} residents`);
    const env = await buildDemoEnvironment({ dir: join(dir, 'bridge'), residents, seed: 42 });
    tune(env);
    // The machine is shared: the load average before the runs goes into the note beside the figures.
    const load = loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
    const ours: number[] = [];
    const base: number[] = [];
    await repeat(3, async (run) => {
      const piped = await pipelineRun(env, residents);
      const plain = plainInserts(env, dir);
      step(
        `run ${run}: end to end ${Math.round(piped).toLocaleString('en-US')} rows/s, plain inserts ${Math.round(plain).toLocaleString('en-US')} rows/s`,
      );
      if (run >= 0) {
        ours.push(piped);
        base.push(plain);
      }
    });
    const metrics: Record<string, MetricResult> = {
      'e2e.sqlite': metric(
        'rows/s',
        ours,
        {
          what: 'plain prepared inserts of the same rows into a SQLite file, one transaction, same run',
          runs: base,
          unit: 'rows/s',
        },
        `${residents} residents: inner export (read, map, seal) + ferry + outer import (verify, open, map, upsert with ledger), SQLite to SQLite; load average before the runs ${load}`,
      ),
    };
    const big = Number(process.env['BENCH_IMPORT_BIG_ROWS'] ?? 5_000_000);
    if (big > 0 && existsSync('/usr/bin/time')) {
      reset(env);
      step(`sealing ${big.toLocaleString('en-US')} rows in bundles of 50,000 (memory)`);
      await sealMany(env, big, 50_000);
      const peak = peakImportRssMb(env);
      step(`${peak.output}; peak RSS ${peak.mb.toFixed(0)} MB`);
      metrics['memory.import_5m'] = metric(
        'MB',
        [peak.mb],
        undefined,
        `peak RSS (VmHWM) of outer-node import, ${big} rows in bundles of 50,000 into SQLite, child process`,
      );
    }
    rmSync(join(dir, 'bridge'), { recursive: true, force: true });
    return metrics;
  },
};
