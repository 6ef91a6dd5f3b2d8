// A stop while the outer daemon works through a large backlog (design 6): SIGTERM ends the daemon after
// the bundle in hand, not after the whole queue, and nothing is lost: what was not applied stays for the
// next start, which applies every bundle exactly once, in order. Real daemon process, real SQLite bank
// database, real sealed bundles.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { BIN, querySqlite } from '../support/bridge.js';
import {
  RESIDENT_COLUMNS,
  makeSealer,
  residentRow,
  temporaryBridge,
  waitFor,
  type Bridge,
} from './support.js';

const BUNDLES = 1200;
const STREAM = 'county.bank-a.residents.backlog';

function ledgerCount(bankDb: string): number {
  return (
    querySqlite<{ n: number }>(
      bankDb,
      `SELECT COUNT(*) AS n FROM bridge_ledger WHERE stream = '${STREAM}'`,
    )[0]?.n ?? 0
  );
}

function startDaemon(config: string): { exit: Promise<number | null>; kill: () => void; log: () => string } {
  const child = spawn(process.execPath, [BIN.outer, 'run', '--config', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, BRIDGE_LOG_LEVEL: 'info' },
  });
  let log = '';
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  return {
    exit: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    kill: () => child.kill('SIGTERM'),
    log: () => log,
  };
}

describe('a stop during a large backlog', () => {
  let bridge: Bridge;

  beforeAll(async () => {
    bridge = await temporaryBridge(20, 9);
    const doc = parseDocument(readFileSync(bridge.outerConfig, 'utf8'));
    doc.setIn(['import', 'settle'], '0s');
    doc.setIn(['import', 'poll_interval'], '200ms');
    writeFileSync(bridge.outerConfig, doc.toString());
    const sealer = await makeSealer(bridge);
    const staging = join(bridge.dir, 'staging');
    mkdirSync(staging, { recursive: true });
    for (let n = 1; n <= BUNDLES; n++) {
      await sealer.seal({
        dir: staging,
        dataset: 'residents',
        stream: STREAM,
        sequence: n,
        columns: RESIDENT_COLUMNS,
        rows: [residentRow(n)],
      });
    }
    const inbox = join(bridge.outerDir, 'inbox');
    for (let n = 1; n <= BUNDLES; n++) {
      const name = `${STREAM}.${String(n).padStart(6, '0')}.gbb`;
      renameSync(join(staging, name), join(inbox, name));
    }
  }, 180_000);
  afterAll(() => bridge.cleanup());

  it('ends after the bundle in hand, and the next start applies the rest exactly once', async () => {
    const first = startDaemon(bridge.outerConfig);
    await waitFor('the first bundles applied', () => ledgerCount(bridge.bankDb) >= 30, 60_000, 20);
    const stopAt = Date.now();
    first.kill();
    const code = await first.exit;
    const stopMs = Date.now() - stopAt;
    const appliedAtStop = ledgerCount(bridge.bankDb);
    console.log(`stop with ${BUNDLES - appliedAtStop} of ${BUNDLES} bundles left: ${stopMs} ms`);
    expect(code, first.log().slice(-2000)).toBe(0);
    expect(appliedAtStop).toBeLessThan(BUNDLES);
    expect(stopMs).toBeLessThan(5000);

    const second = startDaemon(bridge.outerConfig);
    await waitFor('every bundle applied', () => ledgerCount(bridge.bankDb) >= BUNDLES, 120_000, 100);
    second.kill();
    expect(await second.exit).toBe(0);
    const sequences = querySqlite<{ sequence: number }>(
      bridge.bankDb,
      `SELECT sequence FROM bridge_ledger WHERE stream = '${STREAM}' ORDER BY sequence`,
    ).map((r) => r.sequence);
    expect(sequences).toEqual(Array.from({ length: BUNDLES }, (_, i) => i + 1));
  }, 240_000);
});
