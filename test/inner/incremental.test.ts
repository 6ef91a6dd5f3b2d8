// Incremental export by (watermark, key) cursor (issue 4): ties on the watermark, rows updated during
// an export, snapshots with tombstones, and kill -9 at random moments followed by a resume. Every
// check opens the bank's bundles with the bank's keys.
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportDataset } from '../../inner-node/export.js';
import { BIN, REPO } from '../support/bridge.js';
import { innerFixture, readStream, residentId, type InnerFixture } from './fixture.js';

const STREAM = 'county.bank-a.residents';

function createSource(path: string, rows: number, watermark: (i: number) => string): void {
  const db = new Database(path);
  db.exec(`CREATE TABLE RK (SFZH TEXT PRIMARY KEY, XM TEXT NOT NULL, XB TEXT NOT NULL, CSRQ TEXT NOT NULL, GXSJ TEXT NOT NULL);
           CREATE INDEX RK_GXSJ ON RK (GXSJ, SFZH);`);
  const insert = db.prepare('INSERT INTO RK VALUES (?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (let i = 0; i < rows; i++) {
      insert.run(
        residentId(`19${String(50 + (i % 40))}0101`, i % 1000, String(110000 + Math.floor(i / 1000))),
        `人${i}`,
        '1',
        `19${String(50 + (i % 40))}0101`,
        watermark(i),
      );
    }
  })();
  db.close();
}

function config(
  sourcePath: string,
  maxRows: number,
  mode: 'incremental' | 'snapshot' = 'incremental',
): Record<string, unknown> {
  return {
    sources: { county: { kind: 'sqlite', path: sourcePath } },
    datasets: {
      residents: {
        contract: 'residents',
        source: 'county',
        table: 'RK',
        mode,
        ...(mode === 'incremental' ? { watermark: 'GXSJ' } : {}),
        safety_lag: '5s',
        columns: {
          id_number: { from: 'SFZH' },
          name: { from: 'XM' },
          gender: { from: 'XB', codes: { '1': 'male', '2': 'female' } },
          birth_date: { from: 'CSRQ', format: 'yyyyMMdd' },
          updated_at: { from: 'GXSJ', format: 'yyyy-MM-dd HH:mm:ss', timezone: '+08:00' },
        },
      },
    },
    banks: { 'bank-a': { datasets: { residents: ['id_number', 'name', 'updated_at'] } } },
    bundles: { max_rows: maxRows },
  };
}

describe('incremental export', () => {
  let fx: InnerFixture;
  let source: string;

  beforeEach(async () => {
    fx = await innerFixture(['bank-a']);
    source = join(fx.root, 'source.db');
  });
  afterEach(() => fx.cleanup());

  it('pages through 1,000 rows sharing one watermark value, each exactly once, in key order', async () => {
    createSource(source, 1000, () => '2026-01-01 00:00:00');
    fx.writeConfig(config(source, 64));
    const ctx = await fx.open();
    try {
      const [r] = await exportDataset(ctx, 'residents');
      expect(r?.rows).toBe(1000);
      const [again] = await exportDataset(ctx, 'residents');
      expect(again?.rows).toBe(0);
    } finally {
      await ctx.dispose();
    }
    const bundles = await readStream(fx, 'bank-a', STREAM);
    expect(bundles).toHaveLength(16);
    const ids = bundles.flatMap((b) => b.rows.map((r) => String(r[0])));
    expect(ids).toEqual([...ids].sort());
    expect(new Set(ids).size).toBe(1000);
  });

  it('exports rows updated during an export exactly once per change, in order; later rows wait', async () => {
    createSource(
      source,
      500,
      (i) =>
        `2026-01-01 00:${String(Math.floor(i / 60)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}`,
    );
    fx.writeConfig(config(source, 50));
    const writer = new Database(source);
    // In the first page, so already sent when it changes.
    const early = (
      writer.prepare("SELECT SFZH FROM RK WHERE GXSJ = '2026-01-01 00:00:10'").get() as { SFZH: string }
    ).SFZH;
    const late = writer.prepare('SELECT SFZH FROM RK ORDER BY GXSJ DESC, SFZH DESC LIMIT 1').get() as {
      SFZH: string;
    };
    let touched = false;
    const ctx = await fx.open();
    try {
      await exportDataset(ctx, 'residents', {
        onProgress: () => {
          if (touched) return;
          touched = true;
          const update = writer.prepare('UPDATE RK SET XM = ?, GXSJ = ? WHERE SFZH = ?');
          update.run('改名早', '2026-06-01 00:00:00', early);
          update.run('改名晚', '2026-06-01 00:00:01', late.SFZH);
          // Written "now": newer than the run's upper bound (now minus the safety lag), so it waits.
          const now = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
          writer
            .prepare('INSERT INTO RK VALUES (?, ?, ?, ?, ?)')
            .run(residentId('20010101', 1), '新来', '2', '20010101', now);
        },
      });
      const streamRows = (await readStream(fx, 'bank-a', STREAM)).flatMap((b) => b.rows);
      expect(streamRows).toHaveLength(501); // 500 rows + the second version of the early one
      const versions = (id: string) => streamRows.filter((r) => r[0] === id).map((r) => [r[1], r[2]]);
      expect(versions(early)).toEqual([
        ['人10', '2026-01-01T00:00:10+08:00'],
        ['改名早', '2026-06-01T00:00:00+08:00'],
      ]);
      expect(versions(late.SFZH)).toEqual([['改名晚', '2026-06-01T00:00:01+08:00']]);
      expect(streamRows.some((r) => r[1] === '新来')).toBe(false);
      // After the safety lag, the next run picks up the new row, and only it.
      const [next] = await exportDataset(ctx, 'residents', { now: () => new Date(Date.now() + 10_000) });
      expect(next?.rows).toBe(1);
    } finally {
      await ctx.dispose();
      writer.close();
    }
  });

  it('snapshot mode sends new and changed rows only, and deletes as tombstones of the key', async () => {
    createSource(source, 300, () => '2026-01-01 00:00:00');
    fx.writeConfig(config(source, 100, 'snapshot'));
    const ctx = await fx.open();
    const writer = new Database(source);
    try {
      const [first] = await exportDataset(ctx, 'residents');
      expect([first?.rows, first?.tombstones]).toEqual([300, 0]);
      const gone = (
        writer.prepare('SELECT SFZH FROM RK ORDER BY SFZH LIMIT 3').all() as { SFZH: string }[]
      ).map((r) => r.SFZH);
      writer.prepare('DELETE FROM RK WHERE SFZH IN (?, ?, ?)').run(...gone);
      writer.prepare("UPDATE RK SET XM = '新名' WHERE SFZH = (SELECT MAX(SFZH) FROM RK)").run();
      const [second] = await exportDataset(ctx, 'residents');
      expect([second?.rows, second?.tombstones]).toEqual([1, 3]);
      const bundles = await readStream(fx, 'bank-a', STREAM);
      const last = bundles[bundles.length - 1];
      expect(last?.kind).toBe('tombstones');
      expect(last?.columns).toEqual(['id_number']);
      expect(last?.rows.map((r) => r[0])).toEqual(gone);
      const [third] = await exportDataset(ctx, 'residents');
      expect([third?.rows, third?.tombstones]).toEqual([0, 0]);
    } finally {
      await ctx.dispose();
      writer.close();
    }
  });

  it('survives kill -9 at random moments: after a resume every row is exported exactly once, gap-free', async () => {
    expect(existsSync(BIN.inner), 'run npm run build first').toBe(true);
    const total = 60_000;
    createSource(
      source,
      total,
      (i) =>
        `2026-01-01 ${String(Math.floor(i / 3600) % 24).padStart(2, '0')}:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:00`,
    );
    // Two threads: the parallel path (after the first 20,000 rows) is killed too.
    fx.writeConfig({ ...config(source, 400), export: { workers: 2 } });
    // A run is killed once it has sent a random number of bundles more: always mid-export, at a
    // random point of a bundle's life (reading, sealing, recording, publishing).
    const run = (killAfterBundles?: number): Promise<{ code: number | null; signal: string | null }> =>
      new Promise((resolve) => {
        const before = fx.bundles(STREAM).length;
        const child = spawn(
          process.execPath,
          [BIN.inner, 'export', '--config', fx.configPath, '--dataset', 'residents'],
          {
            cwd: REPO,
            stdio: 'ignore',
            env: { ...process.env, BRIDGE_LOG_LEVEL: 'warn' },
          },
        );
        const poll =
          killAfterBundles === undefined
            ? undefined
            : setInterval(() => {
                if (fx.bundles(STREAM).length >= before + killAfterBundles) {
                  setTimeout(() => child.kill('SIGKILL'), Math.floor(Math.random() * 15));
                  clearInterval(poll);
                }
              }, 5);
        child.on('exit', (code, signal) => {
          clearInterval(poll);
          resolve({ code, signal });
        });
      });
    let kills = 0;
    const sentAfterKill: number[] = [];
    // The second kill lands after the first 20,000 rows of its run: in the two-thread phase.
    for (const [low, high] of [
      [1, 20],
      [55, 70],
      [1, 20],
    ] as const) {
      const outcome = await run(low + Math.floor(Math.random() * (high - low + 1)));
      if (outcome.signal === 'SIGKILL') kills++;
      sentAfterKill.push(fx.bundles(STREAM).length);
    }
    expect(kills).toBe(3);
    // At least one kill landed in the middle of the export (some bundles sent, not all).
    expect(sentAfterKill.some((n) => n > 0 && n < total / 400)).toBe(true);
    const last = await run();
    expect(last.code).toBe(0);
    const bundles = await readStream(fx, 'bank-a', STREAM);
    const ids = bundles.flatMap((b) => b.rows.map((r) => String(r[0])));
    expect(ids.length).toBe(total);
    expect(new Set(ids).size).toBe(total);
    // In (watermark, key) order from the first bundle to the last.
    const order = bundles.flatMap((b) => b.rows.map((r) => `${String(r[2])} ${String(r[0])}`));
    expect(order).toEqual([...order].sort());
    // Everything recorded was published, under the same names, and nothing else.
    const outbox = readdirSync(join(fx.innerDir, 'outbox'))
      .filter((n) => n.endsWith('.gbb'))
      .sort();
    expect(outbox).toEqual(fx.bundles(STREAM).map((f) => f.split('/').pop()));
  });
});
