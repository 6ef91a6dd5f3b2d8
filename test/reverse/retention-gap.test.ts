// A bundle that left retention before it was asked for again (issue 6). The ferry loses residents #2,
// and the county's retention has already deleted its kept copy. The bank asks for it; both sides report
// the gap with its stream and sequence (status, JSON, logs). Then the county runs
// 'inner-node export --dataset residents --snapshot': every current row under new sequences, and an
// empty placeholder bundle in place of #2. With no action at the bank its stream moves on, the
// residents table equals the source, the ledger has no hole, and both statuses clear the gap.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openInnerContext } from '../../inner-node/context.js';
import { pruneSent } from '../../inner-node/export.js';
import { ferryOnce } from '../../shared/ferry/ferry.js';
import { createLogger } from '../../shared/logger.js';
import { BIN, querySqlite, runCli, temporaryBridge } from '../support/bridge.js';
import { exited, rewrite, startDaemon } from '../support/daemons.js';

const RESIDENTS = 100;
const STREAM = 'county.bank-a.residents';
const LOST = `${STREAM}.0000000002.gbb`;
const PHASE_DEADLINE_MS = 30_000;

/** querySqlite on a daemon's state database, or no rows while the daemon is still creating it. */
function stateRows<T>(db: string, table: string, sql: string): T[] {
  if (!existsSync(db)) return [];
  const [found] = querySqlite<{ n: number }>(
    db,
    `SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '${table}'`,
  );
  return (found?.n ?? 0) > 0 ? querySqlite<T>(db, sql) : [];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface InnerStatusJson {
  streams: {
    stream: string;
    nextSequence: number;
    acknowledged: number;
    resendRequests: number;
    resent: number;
    retentionGaps: [number, number][];
    retentionGapsRepaired: number;
  }[];
}

interface OuterStatusJson {
  streams: {
    stream: string;
    lastApplied: number;
    missing: number;
    missingRanges: string[];
    reRequested: number;
    leftRetention?: { from: number; to: number; ranges?: string };
  }[];
}

describe('a gap that left retention', () => {
  let bridge: Awaited<ReturnType<typeof temporaryBridge>>;

  beforeAll(async () => {
    bridge = await temporaryBridge(RESIDENTS, 7);
    // Four residents bundles of 25 rows; the other datasets come along in small bundles too.
    rewrite(bridge.innerConfig, /max_rows: \d+/, 'max_rows: 25');
    rewrite(bridge.innerConfig, /catalogue_interval: \S+/, 'catalogue_interval: 1s');
    rewrite(bridge.outerConfig, /resend_after: \S+/, 'resend_after: 1s');
    rewrite(bridge.outerConfig, /poll_interval: \S+/, 'poll_interval: 300ms');
  });
  afterAll(() => bridge.cleanup());

  it('is reported on both sides and repaired by a snapshot export', async () => {
    const innerDb = join(bridge.innerDir, 'state', 'inner-state.db');
    const outerDb = join(bridge.outerDir, 'state', 'outer-state.db');
    const outbox = join(bridge.innerDir, 'outbox');
    const exported = await runCli(BIN.inner, ['export', '--config', bridge.innerConfig]);
    expect(exported.stdout).toMatch(/county\.bank-a\.residents: 100 rows in 4 bundle\(s\)/);
    // Retention runs out before anyone asks: every kept copy is deleted (a clock past bundles.retention).
    const ctx = await openInnerContext(bridge.innerConfig, createLogger({ name: 'test', level: 'silent' }));
    try {
      expect(pruneSent(ctx, new Date(Date.now() + 30 * 86_400_000))).toBeGreaterThan(4);
    } finally {
      await ctx.dispose();
    }
    const [original] = querySqlite<{ bundleId: string }>(
      innerDb,
      `SELECT bundle_id AS bundleId FROM sent_bundles WHERE stream = '${STREAM}' AND sequence = 2`,
    );
    // The ferry loses residents #2.
    expect(existsSync(join(outbox, LOST))).toBe(true);
    rmSync(join(outbox, LOST));

    const inner = startDaemon(BIN.inner, bridge.innerConfig);
    const outer = startDaemon(BIN.outer, bridge.outerConfig);
    let innerErr = '';
    let outerErr = '';
    inner.stderr?.on('data', (d: Buffer) => (innerErr += d.toString()));
    outer.stderr?.on('data', (d: Buffer) => (outerErr += d.toString()));
    /** Ferries both lanes (no faults) until `done` holds; false when the deadline passed first. */
    const ferryUntil = async (done: () => boolean): Promise<boolean> => {
      const started = Date.now();
      while (Date.now() - started < PHASE_DEADLINE_MS) {
        await ferryOnce({ from: outbox, to: join(bridge.outerDir, 'inbox') });
        await ferryOnce({ from: join(bridge.outerDir, 'outbox'), to: join(bridge.innerDir, 'inbox') });
        for (const [name, child] of [
          ['inner', inner],
          ['outer', outer],
        ] as const) {
          expect(
            child.exitCode,
            `${name} exited early: ${name === 'inner' ? innerErr : outerErr}`,
          ).toBeNull();
        }
        if (done()) return true;
        await sleep(250);
      }
      return false;
    };
    const innerGaps = (): number[] =>
      stateRows<{ sequence: number }>(
        innerDb,
        'retention_gaps',
        `SELECT sequence FROM retention_gaps WHERE stream = '${STREAM}' AND repaired_at IS NULL`,
      ).map((g) => g.sequence);
    const outerGaps = (): { from: number; to: number }[] =>
      stateRows<{ from: number; to: number }>(
        outerDb,
        'retention_gaps',
        `SELECT from_sequence AS "from", to_sequence AS "to" FROM retention_gaps WHERE stream = '${STREAM}'`,
      );
    const residentsLedger = (): { n: number; hi: number | null } =>
      querySqlite<{ n: number; hi: number | null }>(
        bridge.bankDb,
        `SELECT COUNT(*) AS n, MAX(sequence) AS hi FROM bridge_ledger WHERE stream = '${STREAM}'`,
      )[0] ?? { n: 0, hi: null };
    const status = async (): Promise<{
      inner: InnerStatusJson['streams'][number] | undefined;
      outer: OuterStatusJson['streams'][number] | undefined;
      innerText: string;
      outerText: string;
    }> => {
      const i = JSON.parse(
        (await runCli(BIN.inner, ['status', '--json', '--config', bridge.innerConfig])).stdout,
      ) as InnerStatusJson;
      const o = JSON.parse(
        (await runCli(BIN.outer, ['status', '--json', '--config', bridge.outerConfig])).stdout,
      ) as OuterStatusJson;
      return {
        inner: i.streams.find((s) => s.stream === STREAM),
        outer: o.streams.find((s) => s.stream === STREAM),
        innerText: (await runCli(BIN.inner, ['status', '--config', bridge.innerConfig])).stdout,
        outerText: (await runCli(BIN.outer, ['status', '--config', bridge.outerConfig])).stdout,
      };
    };

    let snapshot = '';
    const exits: (number | null)[] = [];
    try {
      // 1. The bank notices #2 missing, asks for it; the county finds its copy gone. Both report it.
      const acknowledged = (): number =>
        stateRows<{ n: number }>(
          innerDb,
          'reverse_acks',
          `SELECT acknowledged AS n FROM reverse_acks WHERE stream = '${STREAM}'`,
        )[0]?.n ?? 0;
      const reported = await ferryUntil(
        () => innerGaps().includes(2) && outerGaps().length > 0 && acknowledged() === 1,
      );
      expect(reported, `gap not reported on both sides\n${outerErr.slice(-3000)}`).toBe(true);
      const before = await status();
      expect(before.inner).toMatchObject({ retentionGaps: [[2, 2]], resent: 0, acknowledged: 1 });
      expect(before.inner?.resendRequests).toBeGreaterThan(0);
      expect(before.innerText).toMatch(
        /county\.bank-a\.residents[^\n]*\n(?:.*\n)*?\s+LEFT RETENTION: sequence\(s\) 2 .*inner-node export --dataset residents --snapshot --bank bank-a/,
      );
      expect(before.innerText).toMatch(/county\.bank-a\.residents\s+4\s+1\s+3\s+\S+ s\s+\d+\s+0\s+2\s*\n/);
      expect(before.outer).toMatchObject({
        lastApplied: 1,
        missing: 1,
        missingRanges: ['2'],
        leftRetention: { from: 2, to: 2, ranges: '2' },
      });
      expect(before.outer?.reRequested).toBeGreaterThan(0);
      expect(before.outerText).toMatch(
        /county\.bank-a\.residents: .*\n(?:.*\n)*?\s+gap left retention: sequences 2 /,
      );
      expect(before.outerText).toMatch(
        /county\.bank-a\.residents\s+1\s+4\s+1 \(2\)\s+\d+ \(\d+ seq\)\s+1\s+0\s+2\s*(\n|$)/,
      );
      expect(outerErr).toMatch(/sequences 2 of county\.bank-a\.residents left the inner node's retention/);
      expect(innerErr).toMatch(
        /"sequences":\[\[2,2\]\].*bundles of county\.bank-a\.residents asked for again have left retention/,
      );
      expect(innerErr).toContain(
        'repair with: inner-node export --dataset residents --snapshot --bank bank-a',
      );

      // 2. The county repairs it beside the running daemon (which may hold the dataset for a moment).
      for (let attempt = 1; ; attempt++) {
        try {
          snapshot = (
            await runCli(BIN.inner, [
              'export',
              '--config',
              bridge.innerConfig,
              '--dataset',
              'residents',
              '--snapshot',
            ])
          ).stdout;
          break;
        } catch (error) {
          if (attempt >= 20 || !String(error).includes('SOURCE_BUSY')) throw error;
          await sleep(500);
        }
      }
      expect(snapshot).toMatch(
        /county\.bank-a\.residents: 100 rows in 4 bundle\(s\), 0 rejected, snapshot sequences 5-8/,
      );
      expect(snapshot).toContain(
        'county.bank-a.residents: lost sequence(s) 2 replaced by placeholder bundles',
      );

      // 3. The bank converges with no action on its side: placeholder #2, #3 and #4 as sent, the snapshot.
      const converged = await ferryUntil(
        () => residentsLedger().n === 8 && residentsLedger().hi === 8 && outerGaps().length === 0,
      );
      expect(converged, `not converged\n${outerErr.slice(-3000)}`).toBe(true);
    } finally {
      // Stopped and waited for even when an assertion failed, so the folders are not in use any more.
      inner.kill('SIGTERM');
      outer.kill('SIGTERM');
      exits.push(await exited(inner), await exited(outer));
    }
    expect(exits).toEqual([0, 0]);

    // The residents table equals the source, rows of the lost bundle included.
    const source = querySqlite<{ SFZH: string; XM: string; CSRQ: string }>(
      bridge.county.dbPath,
      'SELECT SFZH, XM, CSRQ FROM RK_JBXX ORDER BY SFZH',
    );
    const target = querySqlite<{ ZJHM: string; KHXM: string; CSRQ: string }>(
      bridge.bankDb,
      'SELECT ZJHM, KHXM, CSRQ FROM GOV_RESIDENT ORDER BY ZJHM',
    );
    expect(target).toEqual(
      source.map((r) => ({
        ZJHM: r.SFZH,
        KHXM: r.XM.normalize('NFC'),
        CSRQ: `${r.CSRQ.slice(0, 4)}-${r.CSRQ.slice(4, 6)}-${r.CSRQ.slice(6, 8)}`,
      })),
    );
    // The ledger has no hole: #2 is the placeholder (no rows), recorded as such by the county.
    const ledger = querySqlite<{ sequence: number; bundleId: string; rows: number }>(
      bridge.bankDb,
      `SELECT sequence, bundle_id AS bundleId, row_count AS rows FROM bridge_ledger WHERE stream = '${STREAM}' ORDER BY sequence`,
    );
    expect(ledger.map((l) => l.sequence)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const [placeholder] = querySqlite<{ bundleId: string; supersedes: string; rows: number }>(
      innerDb,
      `SELECT bundle_id AS bundleId, supersedes, row_count AS rows FROM sent_bundles WHERE stream = '${STREAM}' AND sequence = 2`,
    );
    expect(placeholder).toEqual({ bundleId: ledger[1]?.bundleId, supersedes: original?.bundleId, rows: 0 });
    expect(ledger[1]?.rows).toBe(0);
    expect(ledger.slice(4).reduce((n, l) => n + l.rows, 0)).toBe(RESIDENTS);
    expect(outerErr).toContain('placeholder applied');
    expect(outerErr).toContain('gap that left retention is closed');

    // Both statuses clear the gap.
    const after = await status();
    expect(after.inner).toMatchObject({ retentionGaps: [], retentionGapsRepaired: 1, nextSequence: 9 });
    expect(after.innerText).not.toContain('LEFT RETENTION');
    expect(after.innerText).toMatch(
      /county\.bank-a\.residents\s+8\s+\d+\s+\d+\s+\S+(?: \S+)?\s+\d+\s+\d+\s+none \(1 repaired\)/,
    );
    expect(after.outer).toMatchObject({ lastApplied: 8, missing: 0 });
    expect(after.outer?.leftRetention).toBeUndefined();
    expect(after.outerText).not.toContain('gap left retention');
    expect(after.outerText).toMatch(/county\.bank-a\.residents\s+8\s+\d+\s+0\s+.*none\s*(\n|$)/);
  }, 120_000);
});
