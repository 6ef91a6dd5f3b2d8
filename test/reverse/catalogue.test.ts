// The catalogue (issue 6): the main-lane ferry drops the LAST bundle of every stream on its first
// delivery. No later bundle waits behind it, so only the inner node's periodic catalogue tells the
// outer node that something is missing; it asks again over the reverse lane and every bundle is
// applied exactly once. Catalogues never reach the ledger.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTemporaryName } from '../../shared/atomic-file.js';
import { ferryOnce } from '../../shared/ferry/ferry.js';
import { BIN, querySqlite, temporaryBridge } from '../support/bridge.js';
import { exited, rewrite, startDaemon } from '../support/daemons.js';

const RESIDENTS = 600;
const DEADLINE_MS = 30_000;

describe('catalogue heartbeat', () => {
  let bridge: Awaited<ReturnType<typeof temporaryBridge>>;

  beforeAll(async () => {
    bridge = await temporaryBridge(RESIDENTS, 7);
    rewrite(bridge.innerConfig, /max_rows: \d+/, 'max_rows: 100');
    rewrite(bridge.innerConfig, /catalogue_interval: \S+/, 'catalogue_interval: 1s');
    rewrite(bridge.outerConfig, /resend_after: \S+/, 'resend_after: 1s');
    rewrite(bridge.outerConfig, /poll_interval: \S+/, 'poll_interval: 300ms');
  });
  afterAll(() => bridge.cleanup());

  it('delivers a stream whose last bundle the ferry dropped, exactly once', async () => {
    const inner = startDaemon(BIN.inner, bridge.innerConfig);
    const outer = startDaemon(BIN.outer, bridge.outerConfig);
    let innerErr = '';
    let outerErr = '';
    inner.stderr?.on('data', (d: Buffer) => (innerErr += d.toString()));
    outer.stderr?.on('data', (d: Buffer) => (outerErr += d.toString()));
    const staging = join(bridge.dir, 'ferry-staging');
    mkdirSync(staging, { recursive: true });
    const innerOutbox = join(bridge.innerDir, 'outbox');
    const outerInbox = join(bridge.outerDir, 'inbox');
    const innerDb = join(bridge.innerDir, 'state', 'inner-state.db');
    const seen = new Set<string>();
    const dropped: string[] = [];
    let catalogues = 0;
    const started = Date.now();
    let delivered = -1;
    try {
      while (Date.now() - started < DEADLINE_MS) {
        // The last sequence of each stream once the first export run has finished.
        const last = new Map<string, number>();
        if (existsSync(innerDb)) {
          const runs = querySqlite<{ n: number }>(innerDb, 'SELECT COUNT(*) AS n FROM runs');
          if ((runs[0]?.n ?? 0) > 0) {
            for (const s of querySqlite<{ stream: string; latest: number }>(
              innerDb,
              'SELECT stream, next_sequence - 1 AS latest FROM streams',
            ))
              last.set(s.stream, s.latest);
          }
        }
        if (last.size > 0) {
          for (const name of readdirSync(innerOutbox)) {
            if (isTemporaryName(name) || name.startsWith('.')) continue;
            const match = /^(.+)\.(\d{10})\.gbb$/.exec(name);
            const path = join(innerOutbox, name);
            if (match?.[1]?.endsWith('.catalogue')) catalogues++;
            else if (!seen.has(name) && match && last.get(match[1] ?? '') === Number(match[2])) {
              seen.add(name);
              dropped.push(name);
              rmSync(path);
              continue;
            }
            seen.add(name);
            renameSync(path, join(staging, name));
          }
        }
        await ferryOnce({ from: staging, to: outerInbox });
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
        const applied = new Map(
          querySqlite<{ stream: string; hi: number }>(
            bridge.bankDb,
            'SELECT stream, MAX(sequence) AS hi FROM bridge_ledger GROUP BY stream',
          ).map((s) => [s.stream, s.hi]),
        );
        if (dropped.length > 0 && [...last].every(([stream, latest]) => applied.get(stream) === latest)) {
          delivered = Date.now() - started;
          break;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      inner.kill('SIGTERM');
      outer.kill('SIGTERM');
    }
    expect(await exited(inner)).toBe(0);
    expect(await exited(outer)).toBe(0);
    console.log(
      `catalogue: dropped ${dropped.join(', ')}; ${catalogues} catalogue(s) ferried; delivered in ${delivered} ms`,
    );
    expect(dropped.length, 'the ferry must have dropped a last bundle').toBeGreaterThan(0);
    expect(
      delivered,
      `not delivered within ${DEADLINE_MS} ms\n${outerErr.slice(-3000)}`,
    ).toBeGreaterThanOrEqual(0);
    expect(catalogues).toBeGreaterThan(0);
    expect(dropped.some((name) => name.includes('.residents.'))).toBe(true);
    const ledger = querySqlite<{ stream: string; n: number; lo: number; hi: number }>(
      bridge.bankDb,
      'SELECT stream, COUNT(*) AS n, MIN(sequence) AS lo, MAX(sequence) AS hi FROM bridge_ledger GROUP BY stream',
    );
    expect(ledger.length).toBeGreaterThan(0);
    for (const s of ledger) {
      expect(s.stream.endsWith('.catalogue'), `${s.stream} is not a catalogue`).toBe(false);
      expect(s, `sequences of ${s.stream} applied exactly once`).toEqual({ ...s, n: s.hi, lo: 1 });
    }
    const residents = querySqlite<{ n: number }>(bridge.bankDb, 'SELECT COUNT(*) AS n FROM GOV_RESIDENT');
    expect(residents[0]).toEqual({ n: RESIDENTS });
    expect(outerErr).toContain('reverse-lane resend-request sent');
    expect(outerErr).toContain('"catalogue":true');
  }, 40_000);
});
