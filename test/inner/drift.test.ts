// Schema drift (issue 4): a source column added, removed or retyped is detected before export and
// handled by the dataset's policy; a paused dataset says why in status, is skipped by the daemon,
// and exports again after `inner-node resume`.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportDataset, resumeDataset } from '../../inner-node/export.js';
import { SourceError, MappingError } from '../../shared/errors.js';
import { BIN, runCli } from '../support/bridge.js';
import { innerFixture, residentId, type InnerFixture } from './fixture.js';

function source(path: string): Database.Database {
  const db = new Database(path);
  db.exec(
    'CREATE TABLE RK (SFZH TEXT PRIMARY KEY, XM TEXT NOT NULL, XB TEXT NOT NULL, CSRQ TEXT NOT NULL, BZ TEXT, GXSJ TEXT NOT NULL)',
  );
  db.prepare("INSERT INTO RK VALUES (?, '甲', '1', '19800101', NULL, '2026-01-01 00:00:00')").run(
    residentId('19800101', 1),
  );
  return db;
}

function config(path: string, drift: string): Record<string, unknown> {
  return {
    sources: { county: { kind: 'sqlite', path } },
    datasets: {
      residents: {
        contract: 'residents',
        source: 'county',
        table: 'RK',
        watermark: 'GXSJ',
        drift,
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
  };
}

describe('schema drift', () => {
  let fx: InnerFixture;
  let db: Database.Database;

  beforeEach(async () => {
    fx = await innerFixture(['bank-a']);
    db = source(join(fx.root, 'source.db'));
  });
  afterEach(() => {
    db.close();
    fx.cleanup();
  });

  it('pause (default): an added column pauses the dataset with the reason in status until resume', async () => {
    fx.writeConfig(config(join(fx.root, 'source.db'), 'pause'));
    const ctx = await fx.open();
    try {
      await exportDataset(ctx, 'residents');
      db.exec('ALTER TABLE RK ADD COLUMN LXDH TEXT');
      db.prepare(
        "INSERT INTO RK (SFZH, XM, XB, CSRQ, GXSJ) VALUES (?, '乙', '2', '19800101', '2026-01-02 00:00:00')",
      ).run(residentId('19800101', 2));
      await expect(exportDataset(ctx, 'residents')).rejects.toSatisfy(
        (e: unknown) =>
          e instanceof SourceError &&
          e.code === 'SOURCE_DRIFT' &&
          /column LXDH added \(text\)/.test(e.message),
      );
      await expect(exportDataset(ctx, 'residents')).rejects.toSatisfy(
        (e: unknown) => e instanceof SourceError && e.code === 'SOURCE_PAUSED',
      );
    } finally {
      await ctx.dispose();
    }
    const status = await runCli(BIN.inner, ['status', '--config', fx.configPath]);
    expect(status.stdout).toMatch(
      /dataset residents \(incremental, every 1m\): PAUSED since .*: source schema changed: column LXDH added/,
    );
    const skipped = await runCli(BIN.inner, ['export', '--config', fx.configPath]);
    expect(skipped.stdout).toMatch(/residents: paused .*; skipped/);
    const resumed = await runCli(BIN.inner, ['resume', '--config', fx.configPath, '--dataset', 'residents']);
    expect(resumed.stdout).toMatch(/residents: resumed/);
    const exported = await runCli(BIN.inner, ['export', '--config', fx.configPath, '--dataset', 'residents']);
    expect(exported.stdout).toMatch(/county\.bank-a\.residents: 1 rows in 1 bundle/);
  });

  it('add_nullable accepts an added column but pauses on a removed or retyped one', async () => {
    fx.writeConfig(config(join(fx.root, 'source.db'), 'add_nullable'));
    const ctx = await fx.open();
    try {
      await exportDataset(ctx, 'residents');
      db.exec('ALTER TABLE RK ADD COLUMN LXDH TEXT');
      await exportDataset(ctx, 'residents');
      db.exec('ALTER TABLE RK DROP COLUMN BZ');
      await expect(exportDataset(ctx, 'residents')).rejects.toThrow(
        /column BZ removed \(policy add_nullable\)/,
      );
      expect(ctx.state.paused('residents')?.reason).toMatch(/column BZ removed/);
      await resumeDataset(ctx, 'residents');
      await exportDataset(ctx, 'residents');
    } finally {
      await ctx.dispose();
    }
  });

  it('ignore accepts changes, but a mapped column that disappears still stops the export', async () => {
    fx.writeConfig(config(join(fx.root, 'source.db'), 'ignore'));
    const ctx = await fx.open();
    try {
      await exportDataset(ctx, 'residents');
      db.exec('ALTER TABLE RK ADD COLUMN LXDH TEXT');
      await exportDataset(ctx, 'residents');
      db.exec('ALTER TABLE RK RENAME COLUMN XM TO XINGMING');
      await expect(exportDataset(ctx, 'residents')).rejects.toSatisfy(
        (e: unknown) =>
          e instanceof MappingError && e.code === 'MAPPING_UNKNOWN_COLUMN' && /XM/.test(e.message),
      );
      expect(ctx.state.paused('residents')).toBeUndefined();
    } finally {
      await ctx.dispose();
    }
  });
});
