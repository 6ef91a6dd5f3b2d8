// Housekeeping of the inner node (issue 4): sent bundles are kept for the retention period to serve
// resends and then deleted; one export of a dataset at a time (a lock that a killed process leaves
// behind is taken over).
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportDataset, pruneSent } from '../../inner-node/export.js';
import { MappingError, SourceError } from '../../shared/errors.js';
import { innerFixture, readStream, residentId, type InnerFixture } from './fixture.js';

describe('housekeeping', () => {
  let fx: InnerFixture;

  beforeAll(async () => {
    fx = await innerFixture(['bank-a']);
    const path = join(fx.root, 'source.db');
    const db = new Database(path);
    db.exec('CREATE TABLE RK (SFZH TEXT PRIMARY KEY, XM TEXT, XB TEXT, CSRQ TEXT, GXSJ TEXT)');
    for (let i = 0; i < 30; i++) {
      db.prepare("INSERT INTO RK VALUES (?, '甲', '1', '19800101', '2026-01-01 00:00:00')").run(
        residentId('19800101', i),
      );
    }
    db.close();
    fx.writeConfig({
      sources: { county: { kind: 'sqlite', path } },
      datasets: {
        residents: {
          contract: 'residents',
          source: 'county',
          table: 'RK',
          watermark: 'GXSJ',
          columns: {
            id_number: { from: 'SFZH' },
            name: { from: 'XM' },
            gender: { from: 'XB', codes: { '1': 'male', '2': 'female' } },
            birth_date: { from: 'CSRQ' },
            updated_at: { from: 'GXSJ', timezone: '+08:00' },
          },
        },
      },
      banks: { 'bank-a': { datasets: { residents: '*' } } },
      bundles: { max_rows: 10, retention: '7d' },
    });
  });
  afterAll(() => fx.cleanup());

  it('keeps sent bundles for the retention period, then deletes them', async () => {
    const ctx = await fx.open();
    try {
      await exportDataset(ctx, 'residents');
      const sent = fx.bundles('county.bank-a.residents');
      expect(sent).toHaveLength(3);
      expect(pruneSent(ctx, new Date(Date.now() + 6 * 86_400_000))).toBe(0);
      expect(sent.every((f) => existsSync(f))).toBe(true);
      expect(pruneSent(ctx, new Date(Date.now() + 8 * 86_400_000))).toBe(3);
      expect(sent.some((f) => existsSync(f))).toBe(false);
      // The outbox copies are the ferry's business, not the retention's.
      expect(existsSync(join(fx.innerDir, 'outbox', sent[0]?.split('/').pop() ?? ''))).toBe(true);
    } finally {
      await ctx.dispose();
    }
  });

  it('caps bundles by plaintext bytes (UTF-8), not only by rows', async () => {
    const config = (await import('yaml')).parse(
      (await import('node:fs')).readFileSync(fx.configPath, 'utf8'),
    ) as {
      bundles: Record<string, unknown>;
      datasets: Record<string, Record<string, unknown>>;
    };
    config.bundles = { max_rows: 1000, max_bytes: '1KiB' };
    config.datasets['small'] = { ...config.datasets['residents'], contract: 'residents' };
    (config as Record<string, unknown>)['banks'] = { 'bank-a': { datasets: { residents: '*', small: '*' } } };
    fx.writeConfig(config);
    const ctx = await fx.open();
    try {
      const [r] = await exportDataset(ctx, 'small');
      expect(r?.rows).toBe(30);
      const bundles = await readStream(fx, 'bank-a', 'county.bank-a.small');
      expect(bundles.length).toBeGreaterThan(3);
      for (const b of bundles) {
        const bytes = b.rows.reduce((n, row) => n + Buffer.byteLength(`${JSON.stringify(row)}\n`), 0);
        expect(bytes).toBeLessThanOrEqual(1024);
      }
    } finally {
      await ctx.dispose();
    }
  });

  it('stops a run whose rejects exceed max_reject_ratio, before sending anything', async () => {
    const db = new Database(join(fx.root, 'bad.db'));
    db.exec('CREATE TABLE RK (SFZH TEXT PRIMARY KEY, XM TEXT, XB TEXT, CSRQ TEXT, GXSJ TEXT)');
    for (let i = 0; i < 40; i++) {
      // Three rows in four carry a wrong check digit.
      const id = residentId('19800101', i);
      const bad = i % 4 !== 0 ? `${id.slice(0, 17)}${id.endsWith('0') ? '1' : '0'}` : id;
      db.prepare("INSERT INTO RK VALUES (?, '乙', '1', '19800101', '2026-01-01 00:00:00')").run(bad);
    }
    db.close();
    const config = (await import('yaml')).parse(
      (await import('node:fs')).readFileSync(fx.configPath, 'utf8'),
    ) as {
      sources: Record<string, unknown>;
      datasets: Record<string, Record<string, unknown>>;
      banks: Record<string, { datasets: Record<string, unknown> }>;
    };
    config.sources['bad'] = { kind: 'sqlite', path: join(fx.root, 'bad.db') };
    (config as Record<string, unknown>)['bundles'] = { max_rows: 1000 };
    config.datasets['broken'] = { ...config.datasets['residents'], source: 'bad', max_reject_ratio: 0.1 };
    config.banks['bank-a'] = { datasets: { ...config.banks['bank-a']?.datasets, broken: '*' } };
    fx.writeConfig(config);
    const ctx = await fx.open();
    try {
      await expect(exportDataset(ctx, 'broken')).rejects.toSatisfy(
        (e: unknown) =>
          e instanceof MappingError &&
          e.code === 'MAPPING_TOO_MANY_REJECTS' &&
          /30 of 40 rows rejected, above max_reject_ratio 0.1/.test(e.message),
      );
      expect(fx.bundles('county.bank-a.broken')).toEqual([]);
      expect(ctx.state.lastRun('broken', 'bank-a')?.status).toBe('failed');
    } finally {
      await ctx.dispose();
    }
  });

  it('refuses a second concurrent export of a dataset, and takes over a dead holder', async () => {
    const ctx = await fx.open();
    try {
      const insert = ctx.state.db.prepare(
        'INSERT OR REPLACE INTO export_locks (dataset, pid, since) VALUES (?, ?, ?)',
      );
      insert.run('residents', process.ppid, new Date().toISOString());
      await expect(exportDataset(ctx, 'residents')).rejects.toSatisfy(
        (e: unknown) => e instanceof SourceError && e.code === 'SOURCE_BUSY',
      );
      insert.run('residents', 2 ** 22 + 12345, new Date().toISOString()); // beyond pid_max: no such process
      await exportDataset(ctx, 'residents');
      expect(ctx.state.db.prepare('SELECT COUNT(*) AS n FROM export_locks').get()).toEqual({ n: 0 });
    } finally {
      await ctx.dispose();
    }
  });
});
