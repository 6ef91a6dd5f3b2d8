// A hostile ferry (design 2): it duplicates, reorders, truncates and delivers files while still
// writing them. Duplicates are ignored, order is restored, truncated files are quarantined with the
// right reason, and half-written files are imported once complete (never quarantined meanwhile).
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openOuterContext, type OuterContext } from '../../outer-node/context.js';
import { importOnce } from '../../outer-node/import.js';
import { createLogger } from '../../shared/logger.js';
import { querySqlite, tableDigest } from '../support/bridge.js';
import {
  RESIDENT_COLUMNS,
  makeSealer,
  residentRow,
  temporaryBridge,
  type Bridge,
  type Sealer,
} from './support.js';

const STREAM = 'county.bank-a.residents.faults';
const logger = createLogger({ name: 'test', level: 'silent' });

describe('ferry faults', () => {
  let bridge: Bridge;
  let sealer: Sealer;
  let ctx: OuterContext;
  let inbox: string;
  let staging: string;

  const seal = (sequence: number, dir = staging) =>
    sealer.seal({
      dir,
      dataset: 'residents',
      stream: STREAM,
      sequence,
      columns: RESIDENT_COLUMNS,
      rows: [residentRow(sequence * 10), residentRow(sequence * 10 + 1)],
    });
  const pass = () => importOnce(ctx, { settleMs: 0 });
  const ledger = () =>
    querySqlite<{ sequence: number }>(
      bridge.bankDb,
      `SELECT sequence FROM bridge_ledger WHERE stream = '${STREAM}' ORDER BY sequence`,
    ).map((r) => r.sequence);

  beforeAll(async () => {
    bridge = await temporaryBridge(20, 6);
    const config = readFileSync(bridge.outerConfig, 'utf8').replace(
      '  workers: 1',
      '  workers: 1\n  truncated_grace: 4s',
    );
    writeFileSync(bridge.outerConfig, config);
    sealer = await makeSealer(bridge);
    ctx = await openOuterContext(bridge.outerConfig, logger);
    inbox = join(bridge.outerDir, 'inbox');
    staging = mkdtempSync(join(bridge.dir, 'staging-'));
  });
  afterAll(async () => {
    await ctx.close();
    bridge.cleanup();
  });

  it('ignores duplicates', async () => {
    const first = await seal(1);
    copyFileSync(first.path, join(inbox, 'one.gbb'));
    copyFileSync(first.path, join(inbox, 'one-again.gbb'));
    const summary = await pass();
    expect(summary).toMatchObject({ applied: 1, duplicates: 1, quarantined: 0 });
    copyFileSync(first.path, join(inbox, 'one-later.gbb'));
    expect(await pass()).toMatchObject({ applied: 0, duplicates: 1 });
    expect(ledger()).toEqual([1]);
  });

  it('restores the order of reordered files, waiting for the gap', async () => {
    for (const n of [3, 4]) copyFileSync((await seal(n)).path, join(inbox, `b${n}.gbb`));
    expect(await pass()).toMatchObject({ applied: 0, waiting: 2 });
    copyFileSync((await seal(2)).path, join(inbox, 'b2.gbb'));
    expect(await pass()).toMatchObject({ applied: 3, waiting: 0 });
    expect(ledger()).toEqual([1, 2, 3, 4]);
  });

  it('quarantines a truncated file with the reason, and takes a good copy later', async () => {
    const sealed = await seal(5);
    const bytes = readFileSync(sealed.path);
    const cut = join(inbox, 'five.gbb');
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const old = new Date(Date.now() - 600_000);
    utimesSync(cut, old, old); // cut short long ago: not a file still being written
    expect(await pass()).toMatchObject({ applied: 0, quarantined: 1 });
    const reasons = readdirSync(join(bridge.outerDir, 'quarantine')).filter((f) =>
      f.endsWith('.reason.json'),
    );
    const reason = JSON.parse(
      readFileSync(join(bridge.outerDir, 'quarantine', reasons[0] ?? ''), 'utf8'),
    ) as { code: string; reason: string };
    expect(reason.code).toBe('VERIFY_TRUNCATED');
    copyFileSync(sealed.path, join(inbox, 'five-resent.gbb'));
    expect(await pass()).toMatchObject({ applied: 1, quarantined: 0 });
    expect(ledger()).toEqual([1, 2, 3, 4, 5]);
  });

  it('waits for a half-written file (written in place) and imports it once complete', async () => {
    for (const [sequence, share] of [
      [6, 0.5],
      [7, 0.001], // not even the header yet
    ] as const) {
      const bytes = readFileSync((await seal(sequence)).path);
      const fd = openSync(join(inbox, `half-${sequence}.gbb`), 'w');
      const split = Math.max(1, Math.floor(bytes.length * share));
      writeSync(fd, bytes.subarray(0, split));
      const during = await pass();
      expect(during).toMatchObject({ applied: 0, quarantined: 0 });
      expect(during.unsettled).toBeGreaterThan(0);
      // The ferry keeps writing through its open descriptor, although the file was claimed (renamed).
      writeSync(fd, bytes.subarray(split));
      closeSync(fd);
      expect(await pass()).toMatchObject({ applied: 1, quarantined: 0 });
    }
    expect(ledger()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const rows = tableDigest(bridge.bankDb, 'GOV_RESIDENT', 'ZJHM').rows;
    expect(rows).toBeGreaterThanOrEqual(14);
    expect(existsSync(join(inbox, 'half-6.gbb'))).toBe(false);
  });
});
