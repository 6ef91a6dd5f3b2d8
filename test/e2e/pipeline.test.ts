// The thin end-to-end path through the compiled commands, as an operator runs it: export, ferry,
// import; then a re-delivered bundle and a second run change nothing (exactly once).
import { copyFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, querySqlite, runCli, tableDigest, temporaryBridge } from '../support/bridge.js';

describe('end-to-end: SQLite county to SQLite bank', () => {
  let bridge: Awaited<ReturnType<typeof temporaryBridge>>;

  beforeAll(async () => {
    bridge = await temporaryBridge(3000, 11);
  });
  afterAll(() => bridge.cleanup());

  it('exports, ferries and imports every resident, with one ledger row per bundle', async () => {
    const exported = await runCli(BIN.inner, ['export', '--config', bridge.innerConfig]);
    expect(exported.stdout).toMatch(/county\.bank-a\.residents: 3000 rows in 1 bundle\(s\), 0 rejected/);
    const bundles = [...exported.stdout.matchAll(/in (\d+) bundle\(s\)/g)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );
    expect(bundles).toBeGreaterThan(1); // seven datasets, one stream each
    const ferried = await runCli(BIN.ferry, [
      '--from',
      join(bridge.innerDir, 'outbox'),
      '--to',
      join(bridge.outerDir, 'inbox'),
    ]);
    expect(ferried.stdout).toContain(`carried ${bundles} file(s)`);
    const imported = await runCli(BIN.outer, ['import', '--config', bridge.outerConfig, '--settle', '0']);
    expect(imported.stdout).toMatch(
      new RegExp(`applied ${bundles} bundle\\(s\\).* 0 quarantined, 0 waiting, 0 retrying`),
    );

    const source = querySqlite<{ SFZH: string; XM: string; CSRQ: string }>(
      bridge.county.dbPath,
      'SELECT SFZH, XM, CSRQ FROM RK_JBXX ORDER BY SFZH',
    );
    const target = querySqlite<{ ZJHM: string; KHXM: string; CSRQ: string }>(
      bridge.bankDb,
      'SELECT ZJHM, KHXM, CSRQ FROM GOV_RESIDENT ORDER BY ZJHM',
    );
    expect(target.length).toBe(source.length);
    // Names arrive unchanged (NFC), dates converted from yyyyMMdd to ISO dates, by name not position.
    for (let i = 0; i < source.length; i += 97) {
      expect(target[i]?.ZJHM).toBe(source[i]?.SFZH);
      expect(target[i]?.KHXM).toBe(source[i]?.XM.normalize('NFC'));
      expect(target[i]?.CSRQ.replaceAll('-', '')).toBe(source[i]?.CSRQ);
    }
    const ledger = querySqlite<{ sequence: number; row_count: number }>(
      bridge.bankDb,
      "SELECT * FROM bridge_ledger WHERE stream = 'county.bank-a.residents'",
    );
    expect(ledger).toEqual([expect.objectContaining({ sequence: 1, row_count: 3000 })]);
  });

  it('a re-delivered bundle and a second run change nothing', async () => {
    const before = tableDigest(bridge.bankDb, 'GOV_RESIDENT', 'ZJHM');
    const ledgerBefore = tableDigest(bridge.bankDb, 'bridge_ledger', 'bundle_id');
    // The ferry delivers the same bundle again (the inner node keeps a copy in state/sent).
    const sentDir = join(bridge.innerDir, 'state', 'sent');
    const sent = readdirSync(sentDir);
    for (const name of sent) copyFileSync(join(sentDir, name), join(bridge.outerDir, 'inbox', name));
    const again = await runCli(BIN.outer, ['import', '--config', bridge.outerConfig, '--settle', '0']);
    expect(again.stdout).toMatch(new RegExp(`applied 0 bundle\\(s\\), 0 rows.* ${sent.length} duplicate`));
    // A second export finds nothing new: the cursor is current.
    const exported = await runCli(BIN.inner, ['export', '--config', bridge.innerConfig]);
    expect(exported.stdout).not.toMatch(/[1-9]\d* rows in/);
    expect(tableDigest(bridge.bankDb, 'GOV_RESIDENT', 'ZJHM')).toEqual(before);
    expect(tableDigest(bridge.bankDb, 'bridge_ledger', 'bundle_id')).toEqual(ledgerBefore);
  });

  it('status commands report the stream on both sides', async () => {
    const inner = await runCli(BIN.inner, ['status', '--config', bridge.innerConfig]);
    expect(inner.stdout).toMatch(/county\.bank-a\.residents\n\s+next sequence 2/);
    const outer = await runCli(BIN.outer, ['status', '--config', bridge.outerConfig]);
    expect(outer.stdout).toMatch(/county\.bank-a\.residents: last sequence applied 1/);
  });
});
