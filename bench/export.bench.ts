// Inner-node export benchmarks (issue 4):
// - export.sqlite: rows/s of a full inner export (read, map to the contract, cut to the bank's columns,
//   seal, record, publish) from a SQLite table, divided by rows/s of a plain better-sqlite3 read of
//   the same columns of the same table in the same run. Median of 3 runs after a warm-up. Goal >= 0.5.
// - memory.export_5m: peak RSS (VmHWM, via /usr/bin/time -v) of `inner-node export` in a child process
//   exporting 5 million rows. Goal: under 300 MB.
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { importCertificates, initCa, issueNodeKeys } from '../crypto/index.js';
import { openInnerContext } from '../inner-node/context.js';
import { exportDataset } from '../inner-node/export.js';
import { createLogger } from '../shared/logger.js';
import { residentIdCheckChar } from '../shared/resident-id.js';
import { benchDir, metric, repeat, step, type Benchmark } from './harness.js';

const PASS = 'bench passphrase, not a secret';
const COLUMNS = ['SFZH', 'XM', 'XB', 'MZ', 'CSRQ', 'HYZK', 'ZZ', 'HKXZ', 'GXSJ'];
const SURNAMES = ['王', '李', '张', '刘', '陈', '杨', '黄', '赵', '吴', '周', '欧阳', '堃'];
const GIVEN = ['伟', '芳', '娜', '秀英', '敏', '静', '丽', '强', '磊', '军', '洋', '勇', '燊', '𠮷'];

/** A household-registration table like the county's RK_JBXX, with its (GXSJ, SFZH) index. */
function createSource(path: string, rows: number): void {
  rmSync(path, { force: true });
  const db = new Database(path);
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.exec(`CREATE TABLE RK_JBXX (SFZH TEXT NOT NULL PRIMARY KEY, XM TEXT NOT NULL, XB TEXT NOT NULL, MZ TEXT NOT NULL,
    CSRQ TEXT NOT NULL, HYZK TEXT, ZZ TEXT NOT NULL, LXDH TEXT, HKXZ TEXT NOT NULL, GXSJ TEXT NOT NULL)`);
  const insert = db.prepare('INSERT INTO RK_JBXX VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const base = Date.UTC(2020, 0, 1);
  db.transaction(() => {
    for (let i = 0; i < rows; i++) {
      const birth = `19${String(40 + (i % 60)).padStart(2, '0')}${String(1 + (i % 12)).padStart(2, '0')}${String(1 + (i % 28)).padStart(2, '0')}`;
      const first17 = `${String(110101 + (Math.floor(i / 1000) % 800000))}${birth}${String(i % 1000).padStart(3, '0')}`;
      const id = `${first17}${residentIdCheckChar(first17)}`;
      const name = `${SURNAMES[i % SURNAMES.length] ?? ''}${GIVEN[(i * 7) % GIVEN.length] ?? ''}`;
      const ts = new Date(base + Math.floor(i / 3) * 1000).toISOString().slice(0, 19).replace('T', ' ');
      insert.run(
        id,
        name,
        i % 2 ? '1' : '2',
        '01',
        birth,
        '20',
        `安徽省阜阳市阜南县某某镇某某村${i % 500}号`,
        null,
        i % 3 ? '2' : '1',
        ts,
      );
    }
  })();
  db.exec('CREATE INDEX IX_RK_JBXX_GXSJ ON RK_JBXX (GXSJ, SFZH)');
  db.close();
}

interface Node {
  dir: string;
  config: string;
}

/** A county inner node and one bank's certificates, real keys throughout. */
async function createNode(dir: string, sourcePath: string, threads = 1): Promise<Node> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'ca'), { recursive: true, mode: 0o700 });
  await initCa({ dir: join(dir, 'ca'), passphrase: PASS, name: 'bench CA' });
  const inner = join(dir, 'inner');
  mkdirSync(join(inner, 'trust'), { recursive: true });
  await issueNodeKeys({
    caDir: join(dir, 'ca'),
    caPassphrase: PASS,
    role: 'inner',
    name: 'county',
    outDir: join(inner, 'keys'),
    passphrase: PASS,
  });
  writeFileSync(join(inner, 'keys', 'passphrase'), PASS, { mode: 0o600 });
  const bank = await issueNodeKeys({
    caDir: join(dir, 'ca'),
    caPassphrase: PASS,
    role: 'outer',
    name: 'bank-a',
    outDir: join(dir, 'bank-keys'),
    passphrase: PASS,
  });
  await importCertificates({
    trustDir: join(inner, 'trust'),
    caCertFile: join(dir, 'ca', 'ca.cert.pem'),
    files: [bank.signCertificate, bank.encCertificate].map((c) =>
      join(bank.exportDir, `${c.name}-${c.usage === 'sign' ? 'sign' : 'enc'}.cert.pem`),
    ),
  });
  const config = join(inner, 'inner-node.yaml');
  writeFileSync(
    config,
    stringify({
      node: { name: 'county' },
      keys: { passphrase_file: 'keys/passphrase' },
      sources: { county: { kind: 'sqlite', path: sourcePath } },
      datasets: {
        residents: {
          contract: 'residents',
          source: 'county',
          table: 'RK_JBXX',
          watermark: 'GXSJ',
          columns: {
            id_number: { from: 'SFZH' },
            name: { from: 'XM' },
            gender: { from: 'XB', codes: { '1': 'male', '2': 'female' } },
            birth_date: { from: 'CSRQ', format: 'yyyyMMdd' },
            ethnicity: { from: 'MZ' },
            marital_status: { from: 'HYZK' },
            address: { from: 'ZZ' },
            household_type: { from: 'HKXZ', codes: { '1': 'urban', '2': 'rural' } },
            updated_at: { from: 'GXSJ', format: 'yyyy-MM-dd HH:mm:ss', timezone: '+08:00' },
          },
        },
      },
      banks: { 'bank-a': { datasets: { residents: '*' } } },
      bundles: { max_rows: 50_000 },
      export: { workers: threads },
    }),
  );
  return { dir: inner, config };
}

function resetState(node: Node): void {
  for (const folder of ['state', 'outbox', 'rejects'])
    rmSync(join(node.dir, folder), { recursive: true, force: true });
}

function plainRead(sourcePath: string): number {
  const db = new Database(sourcePath, { readonly: true });
  try {
    const started = performance.now();
    let rows = 0;
    for (const row of db.prepare(`SELECT ${COLUMNS.join(', ')} FROM RK_JBXX ORDER BY GXSJ, SFZH`).iterate()) {
      if (row) rows++;
    }
    return rows / ((performance.now() - started) / 1000);
  } finally {
    db.close();
  }
}

async function innerExport(node: Node, expected: number): Promise<number> {
  resetState(node);
  const logger = createLogger({ name: 'bench', level: 'silent' });
  const ctx = await openInnerContext(node.config, logger);
  try {
    const started = performance.now();
    const [result] = await exportDataset(ctx, 'residents');
    const seconds = (performance.now() - started) / 1000;
    if (result?.rows !== expected) throw new Error(`exported ${result?.rows} rows, expected ${expected}`);
    return expected / seconds;
  } finally {
    await ctx.dispose();
  }
}

function peakRssMb(node: Node): number {
  resetState(node);
  const cli = resolve(import.meta.dirname, '../inner-node/cli.js');
  const child = spawnSync('/usr/bin/time', ['-v', process.execPath, cli, 'export', '--config', node.config], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BRIDGE_LOG_LEVEL: 'warn' },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (child.status !== 0) throw new Error(`inner-node export failed: ${child.stderr}`);
  const match = /Maximum resident set size \(kbytes\): (\d+)/.exec(child.stderr);
  if (!match) throw new Error(`no peak RSS in /usr/bin/time output: ${child.stderr}`);
  step(child.stdout.trim());
  return Number(match[1]) / 1024;
}

export const benchmark: Benchmark = {
  name: 'export',
  description: 'inner export from SQLite into sealed bundles vs a plain SQLite read; peak memory for 5M rows',
  async run() {
    const dir = benchDir('export');
    mkdirSync(dir, { recursive: true });
    const rows = Number(process.env['BENCH_EXPORT_ROWS'] ?? 500_000);
    const source = join(dir, 'source.db');
    step(`source: ${rows.toLocaleString('en-US')} rows`);
    createSource(source, rows);
    const node = await createNode(join(dir, 'node'), source);
    const node2 = await createNode(join(dir, 'node-2threads'), source, 2);
    const ours: number[] = [];
    const ours2: number[] = [];
    const base: number[] = [];
    const f = (n: number): string => Math.round(n).toLocaleString('en-US');
    await repeat(3, async (run) => {
      const read = plainRead(source);
      const exported = await innerExport(node, rows);
      const exported2 = await innerExport(node2, rows);
      if (run >= 0) {
        base.push(read);
        ours.push(exported);
        ours2.push(exported2);
        step(
          `run ${run + 1}: export ${f(exported)} rows/s (2 threads: ${f(exported2)}), plain read ${f(read)} rows/s`,
        );
      }
    });
    const metrics = {
      'export.sqlite': metric(
        'rows/s',
        ours,
        {
          what: 'plain better-sqlite3 read of the same columns, same table, same run',
          runs: base,
          unit: 'rows/s',
        },
        `${rows} rows of a residents table, 9 columns mapped (ID check, dates, code tables, timestamps), sealed for one bank; default configuration (one thread)`,
      ),
      'export.sqlite_2threads': metric(
        'rows/s',
        ours2,
        {
          what: 'plain better-sqlite3 read of the same columns, same table, same run',
          runs: base,
          unit: 'rows/s',
        },
        'as export.sqlite with export.workers: 2 (main thread and one worker thread)',
      ),
    };
    const big = Number(process.env['BENCH_EXPORT_BIG_ROWS'] ?? 5_000_000);
    if (big > 0 && existsSync('/usr/bin/time')) {
      const bigSource = join(dir, 'source-5m.db');
      step(`source: ${big.toLocaleString('en-US')} rows (memory)`);
      if (!existsSync(bigSource)) createSource(bigSource, big);
      const bigNode = await createNode(join(dir, 'node-5m'), bigSource);
      const peak = peakRssMb(bigNode);
      step(`peak RSS exporting ${big.toLocaleString('en-US')} rows: ${peak.toFixed(0)} MB`);
      Object.assign(metrics, {
        'memory.export_5m': metric(
          'MB',
          [peak],
          undefined,
          `peak RSS (VmHWM) of inner-node export, ${big} rows, child process`,
        ),
      });
    }
    return metrics;
  },
};
