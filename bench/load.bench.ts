// Outer-node load benchmarks (issue 5), each against the raw speed of the same server in the same run:
// - load.postgres: rows/s through our PostgreSQL target (COPY into staging, INSERT ... ON CONFLICT,
//   ledger row, one transaction) divided by rows/s of a raw COPY of the same rows into a same-shaped
//   table. Goal >= 0.6.
// - load.mariadb: rows/s through our MariaDB target (batched INSERT ... ON DUPLICATE KEY UPDATE, ledger
//   row, one transaction) divided by rows/s of raw batched multi-row INSERTs of the same rows in one
//   transaction. Goal >= 0.6.
// Rows are residents, already converted for the bank columns (the conversion is part of import, not of
// the load); each run loads into a freshly created table. Median of 3 runs after a warm-up.
import mysql from 'mysql2/promise';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { CONTRACTS } from '../shared/contracts.js';
import { residentIdCheckChar } from '../shared/resident-id.js';
import { createTableSql } from '../outer-node/targets/ddl.js';
import { MariadbTarget } from '../outer-node/targets/mariadb-target.js';
import { PostgresTarget } from '../outer-node/targets/postgres-target.js';
import type { LoadPlan, TablePlan, TargetValue, TargetWriter } from '../outer-node/targets/target-writer.js';
import { metric, repeat, step, type Benchmark, type MetricResult } from './harness.js';

const ROWS = Number(process.env['BENCH_LOAD_ROWS'] ?? 200_000);
const PG_URL = process.env['BRIDGE_TEST_PG'] ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const MARIADB = {
  host: process.env['BRIDGE_TEST_MARIADB_HOST'] ?? '127.0.0.1',
  port: Number(process.env['BRIDGE_TEST_MARIADB_PORT'] ?? 3306),
  user: process.env['BRIDGE_TEST_MARIADB_USER'] ?? 'root',
  password: process.env['BRIDGE_TEST_MARIADB_PASSWORD'] ?? '',
};
const DB_NAME = 'gbb_bench_load';

const contract = CONTRACTS['residents'];
if (!contract) throw new Error('no residents contract');
const TABLE_PLAN = (table: string): TablePlan => ({
  table,
  columns: contract.columns.map((c) => ({ contract: c, target: c.name })),
  key: ['id_number'],
  keyPositions: [0],
});
const LOAD_PLAN = (table: string): LoadPlan => ({
  table,
  columns: contract.columns.map((c) => c.name),
  key: ['id_number'],
  keyPositions: [0],
});

/** Resident rows as the bank columns take them (dates, codes, timestamps with offsets). */
function makeRows(count: number, naiveTimes: boolean): TargetValue[][] {
  const rows: TargetValue[][] = [];
  for (let i = 0; i < count; i++) {
    const birth = `19${String(40 + (i % 60)).padStart(2, '0')}-${String(1 + (i % 12)).padStart(2, '0')}-${String(1 + (i % 28)).padStart(2, '0')}`;
    const first17 = `${110101 + (Math.floor(i / 1000) % 800000)}${birth.replaceAll('-', '')}${String(i % 1000).padStart(3, '0')}`;
    const ts = new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString().slice(0, 19);
    rows.push([
      `${first17}${residentIdCheckChar(first17)}`,
      ['王伟', '李芳', '张娜', '刘秀英', '陈敏'][i % 5] ?? '王伟',
      i % 2 ? 'male' : 'female',
      birth,
      '01',
      i % 3 ? '20' : null,
      `安徽省阜阳市阜南县某某镇某某村${i % 500}号`,
      i % 3 ? 'rural' : 'urban',
      naiveTimes ? ts.replace('T', ' ') : `${ts}+08:00`,
    ]);
  }
  return rows;
}

// eslint-disable-next-line @typescript-eslint/require-await -- an async source, as the import gives one
async function* asAsync(rows: TargetValue[][]): AsyncGenerator<TargetValue[]> {
  yield* rows;
}

async function ours(
  target: TargetWriter,
  table: string,
  rows: TargetValue[][],
  run: number,
): Promise<number> {
  const started = performance.now();
  const outcome = await target.apply(
    LOAD_PLAN(table),
    'rows',
    asAsync(rows),
    {
      bundleId: `bench-${table}-${run}-${Date.now()}`,
      stream: `bench.${table}.${run}.${Date.now()}`,
      sequence: 1,
      dataset: 'residents',
    },
    () => 'sha256:bench',
  );
  const seconds = (performance.now() - started) / 1000;
  if (outcome.outcome !== 'applied' || outcome.rows !== rows.length)
    throw new Error(`load failed: ${JSON.stringify(outcome)}`);
  return rows.length / seconds;
}

async function postgres(rows: TargetValue[][]): Promise<Record<string, MetricResult>> {
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DB_NAME} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${DB_NAME}`);
  await admin.end();
  const url = new URL(PG_URL);
  url.pathname = `/${DB_NAME}`;
  const target = new PostgresTarget({ url: url.toString(), host: '', port: 5432 });
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await target.prepare();
    const fresh = async (table: string): Promise<void> => {
      await client.query(`DROP TABLE IF EXISTS "${table}"`);
      await client.query(createTableSql('postgres', TABLE_PLAN(table)));
    };
    const lines = (): Generator<string> =>
      (function* () {
        let chunk = '';
        for (const row of rows) {
          chunk += `${row.map((v) => (v === null ? '\\N' : String(v))).join('\t')}\n`;
          if (chunk.length >= 65_536) {
            yield chunk;
            chunk = '';
          }
        }
        if (chunk) yield chunk;
      })();
    const ourRuns: number[] = [];
    const rawRuns: number[] = [];
    await repeat(3, async (run) => {
      await fresh('bench_ours');
      const mine = await ours(target, 'bench_ours', rows, run);
      await fresh('bench_raw');
      const started = performance.now();
      await client.query('BEGIN');
      await pipeline(Readable.from(lines()), client.query(copyFrom('COPY bench_raw FROM STDIN')));
      await client.query('COMMIT');
      const raw = rows.length / ((performance.now() - started) / 1000);
      step(`postgres run ${run}: ours ${Math.round(mine)} rows/s, raw COPY ${Math.round(raw)} rows/s`);
      if (run >= 0) {
        ourRuns.push(mine);
        rawRuns.push(raw);
      }
    });
    return {
      'load.postgres': metric(
        'rows/s',
        ourRuns,
        {
          what: 'raw COPY of the same rows into a same-shaped table (with its primary key), one transaction',
          runs: rawRuns,
          unit: 'rows/s',
        },
        `${rows.length} residents rows; ours = COPY into a temporary staging table, INSERT ... ON CONFLICT DO UPDATE, ledger row, one transaction`,
      ),
    };
  } finally {
    await client.end();
    await target.close();
    const cleanup = new pg.Client({ connectionString: PG_URL });
    await cleanup.connect();
    await cleanup.query(`DROP DATABASE IF EXISTS ${DB_NAME} WITH (FORCE)`);
    await cleanup.end();
  }
}

async function mariadb(rows: TargetValue[][]): Promise<Record<string, MetricResult>> {
  const admin = await mysql.createConnection(MARIADB);
  await admin.query(`DROP DATABASE IF EXISTS ${DB_NAME}`);
  await admin.query(`CREATE DATABASE ${DB_NAME} CHARACTER SET utf8mb4`);
  await admin.end();
  const target = new MariadbTarget({
    ...MARIADB,
    database: DB_NAME,
    naive_time_offset: '+08:00',
    password_env: undefined,
  });
  const connection = await mysql.createConnection({ ...MARIADB, database: DB_NAME, charset: 'utf8mb4' });
  try {
    await target.prepare();
    const fresh = async (table: string): Promise<void> => {
      await connection.query(`DROP TABLE IF EXISTS \`${table}\``);
      await connection.query(createTableSql('mariadb', TABLE_PLAN(table)));
    };
    const ourRuns: number[] = [];
    const rawRuns: number[] = [];
    await repeat(3, async (run) => {
      await fresh('bench_ours');
      const mine = await ours(target, 'bench_ours', rows, run);
      await fresh('bench_raw');
      const started = performance.now();
      await connection.query('START TRANSACTION');
      for (let i = 0; i < rows.length; i += 1000) {
        await connection.query('INSERT INTO bench_raw VALUES ?', [rows.slice(i, i + 1000)]);
      }
      await connection.query('COMMIT');
      const raw = rows.length / ((performance.now() - started) / 1000);
      step(
        `mariadb run ${run}: ours ${Math.round(mine)} rows/s, raw batched INSERT ${Math.round(raw)} rows/s`,
      );
      if (run >= 0) {
        ourRuns.push(mine);
        rawRuns.push(raw);
      }
    });
    return {
      'load.mariadb': metric(
        'rows/s',
        ourRuns,
        {
          what: 'raw multi-row INSERT of the same rows in batches of 1000, one transaction',
          runs: rawRuns,
          unit: 'rows/s',
        },
        `${rows.length} residents rows; ours = INSERT ... ON DUPLICATE KEY UPDATE in batches of 1000 under a stream row lock, ledger row, one transaction`,
      ),
    };
  } finally {
    await connection.end();
    await target.close();
    const cleanup = await mysql.createConnection(MARIADB);
    await cleanup.query(`DROP DATABASE IF EXISTS ${DB_NAME}`);
    await cleanup.end();
  }
}

export const benchmark: Benchmark = {
  name: 'load',
  description: `outer-node load into PostgreSQL and MariaDB vs raw COPY / batched INSERT (${ROWS} rows)`,
  async run() {
    return {
      ...(await postgres(makeRows(ROWS, false))),
      ...(await mariadb(makeRows(ROWS, true))),
    };
  },
};
