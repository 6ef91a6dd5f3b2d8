// The snapshot re-send behind 'inner-node export --snapshot' (issue 6), at the library level with real
// keys: every current row again under new sequences, the incremental cursor never moved back, and each
// lost sequence the bank reported (and did not acknowledge since) replaced by a signed, empty
// placeholder under the same sequence, recorded in place of the lost bundle. The bundles are opened
// as the bank would open them.
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportDataset, pruneSent } from '../../inner-node/export.js';
import { ConfigError } from '../../shared/errors.js';
import { innerFixture, residentId, type InnerFixture } from '../inner/fixture.js';

const STREAM = 'county.bank-a.residents';
const ROWS = 250;

function createSource(path: string, rows: number): void {
  const db = new Database(path);
  db.exec(`CREATE TABLE RK (SFZH TEXT PRIMARY KEY, XM TEXT NOT NULL, XB TEXT NOT NULL, CSRQ TEXT NOT NULL, GXSJ TEXT NOT NULL);
           CREATE INDEX RK_GXSJ ON RK (GXSJ, SFZH);`);
  const insert = db.prepare('INSERT INTO RK VALUES (?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (let i = 0; i < rows; i++) {
      const birth = `19${String(50 + (i % 40))}0101`;
      insert.run(
        residentId(birth, i % 1000, String(110000 + Math.floor(i / 1000))),
        `人${i}`,
        '1',
        birth,
        `2026-01-01 00:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}`,
      );
    }
  })();
  db.close();
}

function config(sourcePath: string, mode: 'incremental' | 'snapshot'): Record<string, unknown> {
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
    bundles: { max_rows: 100 },
  };
}

describe('snapshot re-send (inner-node export --snapshot)', () => {
  let fx: InnerFixture;
  let source: string;

  beforeEach(async () => {
    fx = await innerFixture(['bank-a']);
    source = join(fx.root, 'source.db');
    createSource(source, ROWS);
  });
  afterEach(() => fx.cleanup());

  it('re-sends every row, keeps the cursor, and replaces the reported lost sequence by a placeholder', async () => {
    fx.writeConfig(config(source, 'incremental'));
    const ctx = await fx.open();
    try {
      const [first] = await exportDataset(ctx, 'residents');
      expect([first?.rows, first?.bundles.length]).toEqual([ROWS, 3]);
      const cursor = ctx.state.stream(STREAM, 'bank-a', 'residents');
      const sent = (sequence: number) =>
        ctx.state.db
          .prepare(
            'SELECT bundle_id AS bundleId, file, row_count AS rows, pruned, supersedes FROM sent_bundles WHERE stream = ? AND sequence = ?',
          )
          .get(STREAM, sequence) as {
          bundleId: string;
          file: string;
          rows: number;
          pruned: number;
          supersedes: string | null;
        };
      const lost = sent(2);
      // Retention runs out; the bank reports #1 and #2 missing, then acknowledges #1 (it found a copy).
      pruneSent(ctx, new Date(Date.now() + 30 * 86_400_000));
      const at = new Date().toISOString();
      ctx.state.noteRetentionGaps(STREAM, [[1, 2]], at);
      ctx.state.recordAck(STREAM, [[1, 1]], at);
      expect(ctx.state.reverseLaneStatus(STREAM, 3, new Date())).toMatchObject({
        retentionGaps: [[2, 2]],
        retentionGapsRepaired: 0,
      });

      const [repair] = await exportDataset(ctx, 'residents', { snapshot: true });
      expect(repair).toMatchObject({ rows: ROWS, snapshot: { from: 4, to: 6 }, placeholders: [2] });
      // The cursor ends where a complete read ends: where it was, since no row changed.
      const after = ctx.state.stream(STREAM, 'bank-a', 'residents');
      expect([after.cursorWatermark, after.cursorKey]).toEqual([cursor.cursorWatermark, cursor.cursorKey]);
      expect(after.nextSequence).toBe(7);

      // The placeholder: same sequence, a new signed bundle with no rows, in place of the lost one.
      const placeholder = sent(2);
      expect(placeholder).toMatchObject({ rows: 0, pruned: 0, supersedes: lost.bundleId });
      expect(placeholder.bundleId).not.toBe(lost.bundleId);
      expect(existsSync(placeholder.file)).toBe(true);
      const opened = await fx.openAs('bank-a', placeholder.file);
      expect(opened.header).toMatchObject({ stream: STREAM, sequence: 2, rowCount: 0, kind: 'rows' });
      expect(opened.preamble.columns).toEqual(['id_number', 'name', 'updated_at']);
      expect(opened.rows).toEqual([]);
      // #1 was acknowledged: the bank has it, so it is not superseded.
      expect(sent(1)).toMatchObject({ rows: 100, supersedes: null, pruned: 1 });
      expect(ctx.state.reverseLaneStatus(STREAM, 6, new Date())).toMatchObject({
        retentionGaps: [],
        retentionGapsRepaired: 1,
      });

      // The snapshot holds every row of the source, once.
      const ids = new Set<string>();
      for (const sequence of [4, 5, 6]) {
        for (const row of (await fx.openAs('bank-a', sent(sequence).file)).rows) ids.add(String(row[0]));
      }
      expect(ids.size).toBe(ROWS);

      // Nothing more to send afterwards, and nothing more to supersede.
      const [next] = await exportDataset(ctx, 'residents');
      expect(next?.rows).toBe(0);
      const [again] = await exportDataset(ctx, 'residents', { snapshot: true, bank: 'bank-a' });
      expect(again).toMatchObject({ rows: ROWS, snapshot: { from: 7, to: 9 }, placeholders: [] });
    } finally {
      await ctx.dispose();
    }
  });

  it('in a snapshot dataset sends every row again, changed or not, and no tombstone', async () => {
    fx.writeConfig(config(source, 'snapshot'));
    const ctx = await fx.open();
    try {
      const [first] = await exportDataset(ctx, 'residents');
      expect(first?.rows).toBe(ROWS);
      const [unchanged] = await exportDataset(ctx, 'residents');
      expect(unchanged?.rows).toBe(0);
      const [repair] = await exportDataset(ctx, 'residents', { snapshot: true });
      expect(repair).toMatchObject({ rows: ROWS, tombstones: 0, placeholders: [] });
      const [next] = await exportDataset(ctx, 'residents');
      expect([next?.rows, next?.tombstones]).toEqual([0, 0]);
    } finally {
      await ctx.dispose();
    }
  });

  it('refuses a bank that is not authorised for the dataset, naming the ones that are', async () => {
    fx.writeConfig(config(source, 'incremental'));
    const ctx = await fx.open();
    try {
      await expect(exportDataset(ctx, 'residents', { snapshot: true, bank: 'bank-z' })).rejects.toThrow(
        ConfigError,
      );
      await expect(exportDataset(ctx, 'residents', { snapshot: true, bank: 'bank-z' })).rejects.toThrow(
        /Bank 'bank-z' is not authorised to receive dataset residents.*Authorised: bank-a/,
      );
    } finally {
      await ctx.dispose();
    }
  });
});
