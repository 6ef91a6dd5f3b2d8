// A crash at any instant loses nothing and duplicates nothing (design 6): `outer-node run --workers 2`
// is killed with SIGKILL at random moments, at least 20 times, while it imports 300 bundles into
// PostgreSQL; restarted each time, it finishes, and the bank table equals the source applied in order
// (row count and content digest), with exactly one ledger row per bundle.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContractValue } from '../../shared/mapping.js';
import { BIN } from '../support/bridge.js';
import { createPostgresDatabase, serverAvailability, type TestDatabase } from '../support/databases.js';
import {
  BANK_RESIDENT_MAPPING,
  PG_RESIDENT_TABLE,
  RESIDENT_COLUMNS,
  expectedResidents,
  makeSealer,
  pgResidents,
  pgValue,
  residentRow,
  residentsDigest,
  sleep,
  temporaryBridge,
  waitFor,
  writeOuterConfig,
  type Bridge,
} from './support.js';

const pgState = await serverAvailability('postgres');

const STREAMS = 4;
const PER_STREAM = 75;
const ROWS = 1500;
const KILLS = 22;

/** Bundle n of stream s: new residents, and updates of half of bundle n-1's (order matters). */
function bundleRows(s: number, n: number): ContractValue[][] {
  const base = (s * PER_STREAM + n - 1) * ROWS;
  const rows = Array.from({ length: ROWS }, (_, i) => residentRow(base + i));
  if (n > 1) for (let i = 0; i < ROWS / 2; i++) rows.push(residentRow(base - ROWS + i, n));
  return rows;
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

describe.skipIf(!pgState.available)(`kill -9 while importing ${pgState.reason}`, () => {
  let bridge: Bridge;
  let db: TestDatabase;

  beforeAll(async () => {
    bridge = await temporaryBridge(20, 8);
    db = await createPostgresDatabase();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(PG_RESIDENT_TABLE);
    await client.end();
    writeOuterConfig(bridge, {
      target: `  kind: postgres\n  url: ${db.url}`,
      datasets: BANK_RESIDENT_MAPPING,
      importSettings:
        '  poll_interval: 200ms\n  settle: 0s\n  lease_timeout: 3s\n  retry_base_delay: 200ms\n  retry_max_delay: 1s',
    });
  });
  afterAll(async () => {
    await db.drop();
    bridge.cleanup();
  });

  it(`loses and duplicates nothing across ${KILLS} kills`, async () => {
    const sealer = await makeSealer(bridge);
    const inbox = join(bridge.outerDir, 'inbox');
    const total = STREAMS * PER_STREAM;
    for (let n = 1; n <= PER_STREAM; n++) {
      for (let s = 0; s < STREAMS; s++) {
        await sealer.seal({
          dir: inbox,
          dataset: 'residents',
          stream: `county.bank-a.residents.c${s}`,
          sequence: n,
          columns: RESIDENT_COLUMNS,
          rows: bundleRows(s, n),
        });
      }
    }
    const applied = () => pgValue(db.url, 'SELECT COUNT(*) AS n FROM bridge_ledger').catch(() => 0);
    let kills = 0;
    let seed = 12345;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const progress: number[] = [];
    while (kills < KILLS) {
      const before = await applied();
      expect(before, `everything was applied after only ${kills} kills; make the run longer`).toBeLessThan(
        total,
      );
      const child = spawn(
        process.execPath,
        [BIN.outer, 'run', '--config', bridge.outerConfig, '--workers', '2'],
        {
          stdio: 'ignore',
          env: { ...process.env, BRIDGE_LOG_LEVEL: 'warn' },
        },
      );
      // Once it is importing (the ledger grows), at a random moment: usually mid-transaction.
      await waitFor('the restarted node to import', async () => (await applied()) > before, 30_000, 20);
      await sleep(Math.floor(random() * 200));
      child.kill('SIGKILL');
      await exited(child);
      kills++;
      progress.push(await applied());
    }
    // The last life runs to the end.
    const child = spawn(
      process.execPath,
      [BIN.outer, 'run', '--config', bridge.outerConfig, '--workers', '2'],
      {
        stdio: 'ignore',
        env: { ...process.env, BRIDGE_LOG_LEVEL: 'warn' },
      },
    );
    try {
      await waitFor('every bundle applied', async () => (await applied()) >= total, 90_000, 300);
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }
    process.stderr.write(`bundles applied after each kill: ${progress.join(' ')}\n`);
    expect(kills).toBeGreaterThanOrEqual(20);
    expect(progress.some((p) => p > 0 && p < total)).toBe(true);

    expect(await pgValue(db.url, 'SELECT COUNT(*) AS n FROM bridge_ledger')).toBe(total);
    expect(await pgValue(db.url, 'SELECT COUNT(DISTINCT (stream, sequence)) AS n FROM bridge_ledger')).toBe(
      total,
    );
    const source = expectedResidents(
      Array.from({ length: total }, (_, k) => ({
        rows: bundleRows(k % STREAMS, Math.floor(k / STREAMS) + 1),
      })).sort(() => 0),
    );
    const target = await pgResidents(db.url);
    expect(residentsDigest(target)).toEqual(residentsDigest(source));
    // Nothing left behind: no quarantined file, no queued bundle.
    expect(readdirSync(join(bridge.outerDir, 'quarantine'))).toEqual([]);
  }, 200_000);
});
