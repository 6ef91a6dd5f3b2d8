// The bank's PostgreSQL goes away for more than ten seconds in the middle of an import (design 6:
// transient failure, retry with backoff): the running `outer-node run` keeps going by itself and
// completes with nothing lost. The server is a private cluster created by this test (initdb in a
// temporary folder, its own loopback port), so the shared server the other tests use is untouched.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContractValue } from '../../shared/mapping.js';
import { BIN } from '../support/bridge.js';
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

const PG_BIN = '/usr/lib/postgresql/15/bin';
const canRun = existsSync(join(PG_BIN, 'initdb')) && process.getuid?.() === 0;

const BUNDLES = 60;
const ROWS = 2000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Runs a PostgreSQL program as the postgres user (the server refuses to run as root). */
function asPostgres(program: string, args: string[]): void {
  execFileSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, program), ...args], { stdio: 'pipe' });
}

function bundleRows(n: number): ContractValue[][] {
  return Array.from({ length: ROWS }, (_, i) => residentRow((n - 1) * ROWS + i));
}

describe.skipIf(!canRun)('PostgreSQL outage in the middle of an import (private cluster)', () => {
  let root: string;
  let data: string;
  let port: number;
  let url: string;
  let bridge: Bridge;
  let running = false;

  const pgCtl = (action: 'start' | 'stop'): void => {
    if (action === 'start') {
      asPostgres('pg_ctl', [
        '-D',
        data,
        '-l',
        join(root, 'server.log'),
        '-w',
        '-o',
        `-c listen_addresses=127.0.0.1 -p ${port} -c unix_socket_directories=${root} -c fsync=off`,
        'start',
      ]);
      running = true;
    } else {
      asPostgres('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
      running = false;
    }
  };

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'gbb-pg-'));
    execFileSync('chown', ['postgres:postgres', root]);
    data = join(root, 'data');
    asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
    port = await freePort();
    pgCtl('start');
    const admin = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    await admin.connect();
    await admin.query('CREATE DATABASE bank');
    await admin.end();
    url = `postgresql://postgres@127.0.0.1:${port}/bank`;
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(PG_RESIDENT_TABLE);
    await client.end();
    bridge = await temporaryBridge(20, 9);
    writeOuterConfig(bridge, {
      target: `  kind: postgres\n  url: ${url}`,
      datasets: BANK_RESIDENT_MAPPING,
      importSettings:
        '  poll_interval: 200ms\n  settle: 0s\n  retry_base_delay: 250ms\n  retry_max_delay: 2s',
    });
  }, 120_000);
  afterAll(() => {
    try {
      if (running) pgCtl('stop');
    } finally {
      rmSync(root, { recursive: true, force: true });
      bridge?.cleanup();
    }
  });

  it('resumes by itself after the server was stopped for 10 s, and completes with nothing lost', async () => {
    const sealer = await makeSealer(bridge);
    const inbox = join(bridge.outerDir, 'inbox');
    for (let n = 1; n <= BUNDLES; n++) {
      await sealer.seal({
        dir: inbox,
        dataset: 'residents',
        stream: 'county.bank-a.residents',
        sequence: n,
        columns: RESIDENT_COLUMNS,
        rows: bundleRows(n),
      });
    }
    const applied = () => pgValue(url, 'SELECT COUNT(*) AS n FROM bridge_ledger').catch(() => -1);
    const daemon: ChildProcess = spawn(process.execPath, [BIN.outer, 'run', '--config', bridge.outerConfig], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, BRIDGE_LOG_LEVEL: 'info' },
    });
    let log = '';
    daemon.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    try {
      await waitFor('a few bundles applied', async () => (await applied()) >= 3, 60_000, 50);
      const beforeStop = await applied();
      pgCtl('stop');
      expect(beforeStop, 'the outage must come in the middle of the import').toBeLessThan(BUNDLES);
      const stoppedAt = Date.now();
      const atStop = log.length;
      await sleep(10_500);
      expect(daemon.exitCode, 'the daemon must survive the outage').toBeNull();
      // It noticed, and is retrying rather than quarantining.
      expect(log.slice(atStop)).toMatch(/will retry/);
      pgCtl('start');
      expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(10_000);
      await waitFor(
        'every bundle applied after the restart',
        async () => (await applied()) >= BUNDLES,
        60_000,
        300,
      );
    } finally {
      daemon.kill('SIGTERM');
    }
    expect(await pgValue(url, 'SELECT COUNT(*) AS n FROM bridge_ledger')).toBe(BUNDLES);
    const source = expectedResidents(
      Array.from({ length: BUNDLES }, (_, k) => ({ rows: bundleRows(k + 1) })),
    );
    expect(residentsDigest(await pgResidents(url))).toEqual(residentsDigest(source));
    expect(log).not.toMatch(/bundle quarantined/);
  }, 150_000);
});
