// Several workers on one inbox (design 6): two `outer-node run --workers 2` processes, four workers in
// all, import 500 bundles of five streams into PostgreSQL: every bundle applied exactly once, each
// stream in sequence order, and the bank table equal to the source applied in order. The bundles are
// delivered once both processes are running, so both take part whatever their start-up times on a
// loaded machine, and both are stopped while running (a stop during start-up has its own test:
// test/ops/stop-during-startup.test.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, renameSync } from 'node:fs';
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
  residentRow,
  temporaryBridge,
  waitFor,
  writeOuterConfig,
  type Bridge,
} from './support.js';

const pgState = await serverAvailability('postgres');

const STREAMS = 5;
const PER_STREAM = 100;
const ROWS = 10;

/** Bundle n of stream s: ten new residents, plus an update of a resident of bundle n-1 (order matters). */
function bundleRows(s: number, n: number): ContractValue[][] {
  const rows = Array.from({ length: ROWS }, (_, i) => residentRow((s * PER_STREAM + n - 1) * ROWS + i));
  if (n > 1) rows.push(residentRow((s * PER_STREAM + n - 2) * ROWS, n));
  return rows;
}

/** The child's exit, or 'still running' after the timeout (an exit by a signal counts as an exit). */
function exited(
  child: ChildProcess,
  timeoutMs: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null } | 'still running'> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    const timer = setTimeout(() => resolve('still running'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

describe.skipIf(!pgState.available)(`four workers, one inbox ${pgState.reason}`, () => {
  let bridge: Bridge;
  let db: TestDatabase;
  let client: pg.Client;

  beforeAll(async () => {
    bridge = await temporaryBridge(20, 5);
    db = await createPostgresDatabase();
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(PG_RESIDENT_TABLE);
    writeOuterConfig(bridge, {
      target: `  kind: postgres\n  url: ${db.url}`,
      datasets: BANK_RESIDENT_MAPPING,
      importSettings: '  poll_interval: 200ms\n  settle: 0s\n  lease_timeout: 3s',
    });
  });
  afterAll(async () => {
    await client.end();
    await db.drop();
    bridge.cleanup();
  });

  it('applies 500 bundles exactly once, streams in order', async () => {
    const sealer = await makeSealer(bridge);
    const inbox = join(bridge.outerDir, 'inbox');
    // Sealed beside the inbox, moved in (rename: whole files, as a ferry delivers) once both run.
    const staging = join(bridge.dir, 'staging');
    mkdirSync(staging, { recursive: true });
    const order: { s: number; n: number }[] = [];
    for (let s = 0; s < STREAMS; s++) for (let n = 1; n <= PER_STREAM; n++) order.push({ s, n });
    // Delivered in a scrambled order, like a ferry that reorders.
    order.sort((a, b) => ((a.n * 7919 + a.s * 104729) % 1009) - ((b.n * 7919 + b.s * 104729) % 1009));
    const names: string[] = [];
    for (const { s, n } of order) {
      const name = `county.bank-a.residents.p${s}.${String(n).padStart(6, '0')}.gbb`;
      names.push(name);
      await sealer.seal({
        dir: staging,
        name,
        dataset: 'residents',
        stream: `county.bank-a.residents.p${s}`,
        sequence: n,
        columns: RESIDENT_COLUMNS,
        rows: bundleRows(s, n),
      });
    }
    const children: ChildProcess[] = [];
    const logs: string[] = [];
    try {
      // One after the other: the second starts once the first runs, so both are importing when the
      // bundles arrive. (Two processes opening one fresh state folder at the same instant is its own
      // test: test/ops/state-open-race.test.ts.)
      for (let i = 0; i < 2; i++) {
        const child = spawn(
          process.execPath,
          [BIN.outer, 'run', '--config', bridge.outerConfig, '--workers', '2'],
          { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, BRIDGE_LOG_LEVEL: 'info' } },
        );
        children.push(child);
        logs.push('');
        child.stderr?.on('data', (d: Buffer) => (logs[i] += d.toString()));
        const running = (): boolean => logs[i]?.includes('outer node running') ?? false;
        const gone = (): boolean => child.exitCode !== null || child.signalCode !== null;
        await waitFor(`outer daemon ${i + 1} running`, () => running() || gone(), 60_000, 50).catch(
          () => undefined,
        );
        if (!running()) {
          const exit = child.exitCode ?? child.signalCode ?? 'none yet';
          throw new Error(`outer daemon ${i + 1} not running (exit ${exit}):\n${logs[i] ?? ''}`);
        }
      }
      for (const name of names) renameSync(join(staging, name), join(inbox, name));
      await waitFor(
        'all 500 bundles in the ledger',
        async () =>
          Number((await client.query<{ n: string }>('SELECT COUNT(*) AS n FROM bridge_ledger')).rows[0]?.n) >=
          STREAMS * PER_STREAM,
        120_000,
        300,
      );
    } finally {
      for (const child of children) child.kill('SIGTERM');
    }
    const exits = await Promise.all(children.map((child) => exited(child, 30_000)));
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    expect(exits, logs.map((log) => log.slice(-2000)).join('\n---\n')).toEqual([
      { code: 0, signal: null },
      { code: 0, signal: null },
    ]);

    const { rows: ledger } = await client.query<{ stream: string; sequence: string; row_count: string }>(
      'SELECT stream, sequence, row_count FROM bridge_ledger ORDER BY stream, applied_at',
    );
    expect(ledger).toHaveLength(STREAMS * PER_STREAM);
    for (let s = 0; s < STREAMS; s++) {
      const applied = ledger
        .filter((l) => l.stream === `county.bank-a.residents.p${s}`)
        .map((l) => Number(l.sequence));
      // In application order (applied_at), the sequences are exactly 1..100.
      expect(applied).toEqual(Array.from({ length: PER_STREAM }, (_, i) => i + 1));
    }
    const expected = expectedResidents(
      Array.from({ length: STREAMS * PER_STREAM }, (_, k) => ({
        rows: bundleRows(Math.floor(k / PER_STREAM), (k % PER_STREAM) + 1),
      })),
    );
    const { rows: bank } = await client.query<{ sfzh: string; xm: string; DZ: string }>(
      'SELECT sfzh, xm, "DZ" FROM kh_gov_resident ORDER BY sfzh',
    );
    expect(bank.map((r) => [r.sfzh, r.xm, r.DZ])).toEqual(expected);
    // Work was shared: bundles were applied by workers of both processes.
    const workersSeen = new Set(
      [...logs.join('\n').matchAll(/"worker":"([^"]+)"[^\n]*"msg":"bundle applied"/g)].map((m) => m[1]),
    );
    const processesSeen = new Set([...workersSeen].map((w) => w?.split('-').slice(-3, -2)[0]));
    expect(workersSeen.size).toBeGreaterThanOrEqual(2);
    expect(processesSeen.size).toBe(2);
  }, 180_000);
});
