// Real government sources (issue 4): PostgreSQL, MariaDB with a GBK table and a legacy latin1 table
// holding GBK bytes, and a GB18030 CSV with rare-character names; each mapped into a contract,
// exported, and read back by opening the bank's bundles.
import mysql from 'mysql2/promise';
import pg from 'pg';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkMappingFile } from '../../inner-node/mapping-check.js';
import { loadInnerConfig } from '../../inner-node/config.js';
import { exportDataset } from '../../inner-node/export.js';
import { generateCounty } from '../../inner-node/synthetic/county.js';
import { encodeGb18030 } from '../../inner-node/synthetic/gb18030.js';
import {
  createMariadbDatabase,
  createPostgresDatabase,
  serverAvailability,
  type TestDatabase,
} from '../support/databases.js';
import { innerFixture, readStream, residentId, type InnerFixture } from './fixture.js';

const pgState = await serverAvailability('postgres');
const mariaState = await serverAvailability('mariadb');

const residentColumns = {
  id_number: { from: 'SFZH' },
  name: { from: 'XM' },
  gender: { from: 'XB', codes: { '1': 'male', '2': 'female' } },
  birth_date: { from: 'CSRQ', format: 'yyyyMMdd' },
  updated_at: { from: 'GXSJ', format: 'yyyy-MM-dd HH:mm:ss', timezone: '+08:00' },
};

function readRejects(file: string | undefined): Record<string, unknown>[] {
  if (!file) return [];
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe.skipIf(!pgState.available)(`PostgreSQL source ${pgState.reason}`, () => {
  let fx: InnerFixture;
  let db: TestDatabase;

  beforeAll(async () => {
    fx = await innerFixture(['bank-a']);
    db = await createPostgresDatabase('gbb_inner');
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(`CREATE TABLE "RK_JBXX" (
      "SFZH" varchar(18) PRIMARY KEY, "XM" text NOT NULL, "XB" char(1) NOT NULL, "CSRQ" char(8) NOT NULL,
      "LXDH" text, "GXSJ" timestamp(0) NOT NULL)`);
    await client.query(`CREATE INDEX ON "RK_JBXX" ("GXSJ", "SFZH")`);
    await client.query(`CREATE TABLE "SB_JFJL" ("SFZH" varchar(18) NOT NULL, "JFNY" char(6) NOT NULL,
      "JFJS" bigint NOT NULL, "GRJF" bigint NOT NULL, "DWJF" bigint NOT NULL, "DWMC" text,
      "GXSJ" timestamp(0) NOT NULL, PRIMARY KEY ("SFZH", "JFNY"))`);
    const values: string[] = [];
    const params: unknown[] = [];
    for (let i = 0; i < 250; i++) {
      // 100 rows share one timestamp: the cursor must page through the tie by key.
      const ts = i < 100 ? '2026-03-01 08:00:00' : `2026-03-0${2 + (i % 5)} 09:00:00`;
      params.push(residentId('19850612', i), i === 7 ? '王𠮷' : `张${i}`, i % 2 ? '1' : '2', '19850612', ts);
      const n = params.length;
      values.push(`($${n - 4}, $${n - 3}, $${n - 2}, $${n - 1}, $${n})`);
    }
    // One bad check digit (rejected), one full-width ID (normalised to ASCII).
    params.push('341225198506129990', '坏号', '1', '19850612', '2026-03-01 08:00:00');
    values.push(
      `($${params.length - 4}, $${params.length - 3}, $${params.length - 2}, $${params.length - 1}, $${params.length})`,
    );
    await client.query(
      `INSERT INTO "RK_JBXX" ("SFZH", "XM", "XB", "CSRQ", "GXSJ") VALUES ${values.join(', ')}`,
      params,
    );
    await client.query(
      `INSERT INTO "SB_JFJL" VALUES ($1, '202601', 512345, 40988, 102469, '某某公司', '2026-02-01 10:00:00'),
                                    ($1, '202602', 9007199254740993, 1, 0, NULL, '2026-02-01 10:00:00')`,
      [residentId('19850612', 1)],
    );
    await client.end();
    fx.writeConfig({
      sources: { hukou: { kind: 'postgres', url: db.url } },
      datasets: {
        residents: {
          contract: 'residents',
          source: 'hukou',
          table: 'RK_JBXX',
          watermark: 'GXSJ',
          columns: residentColumns,
        },
        social_security: {
          contract: 'social_security',
          source: 'hukou',
          table: 'SB_JFJL',
          watermark: 'GXSJ',
          mapping: 'mappings/social_security.yaml',
        },
      },
      banks: { 'bank-a': { datasets: { residents: '*', social_security: '*' } } },
      bundles: { max_rows: 40 },
    });
    const mappings = join(fx.innerDir, 'mappings');
    (await import('node:fs')).mkdirSync(mappings, { recursive: true });
    writeFileSync(
      join(mappings, 'social_security.yaml'),
      `contract: social_security
columns:
  id_number: { from: SFZH }
  month: { from: JFNY, format: yyyyMM }
  contribution_base: { from: JFJS, unit: fen }
  personal_amount: { from: GRJF, unit: fen }
  employer_amount: { from: DWJF, unit: fen }
  employer_name: { from: DWMC }
  updated_at: { from: GXSJ, format: 'yyyy-MM-dd HH:mm:ss', timezone: '+08:00' }
`,
    );
  });
  afterAll(async () => {
    fx.cleanup();
    await db.drop();
  });

  it('exports every valid row exactly once across a 100-row timestamp tie, rejecting the bad ID', async () => {
    const ctx = await fx.open();
    let result;
    try {
      [result] = await exportDataset(ctx, 'residents');
    } finally {
      await ctx.dispose();
    }
    expect(result?.rows).toBe(250);
    expect(result?.rejects).toBe(1);
    const rejects = readRejects(result?.rejectFile);
    expect(rejects).toEqual([
      expect.objectContaining({
        column: 'id_number',
        sourceColumn: 'SFZH',
        rule: 'resident-id',
        raw: '341225198506129990',
      }),
    ]);
    const bundles = await readStream(fx, 'bank-a', 'county.bank-a.residents');
    expect(bundles.length).toBe(7); // 251 rows read in pages of 40
    const ids = bundles.flatMap((b) => b.rows.map((r) => r[0]));
    expect(new Set(ids).size).toBe(250);
    const rare = bundles.flatMap((b) => b.rows).find((r) => r[0] === residentId('19850612', 7));
    expect(rare?.[1]).toBe('王𠮷');
    expect(rare?.[8]).toBe('2026-03-01T08:00:00+08:00');
  });

  it('maps through a mapping file: money in fen to exact yuan, even beyond 2^53', async () => {
    const ctx = await fx.open();
    try {
      await exportDataset(ctx, 'social_security');
    } finally {
      await ctx.dispose();
    }
    const [bundle] = await readStream(fx, 'bank-a', 'county.bank-a.social_security');
    expect(bundle?.rows.map((r) => [r[1], r[2], r[3], r[4], r[5]])).toEqual([
      ['2026-01', '5123.45', '409.88', '1024.69', '某某公司'],
      ['2026-02', '90071992547409.93', '0.01', '0.00', null],
    ]);
  });

  it('mapping check validates against the live source and dry-runs the first rows', async () => {
    const settings = loadInnerConfig(fx.configPath);
    const report = await checkMappingFile(settings, join(fx.innerDir, 'mappings/social_security.yaml'), {
      rows: 5,
    });
    expect(report.dataset).toBe('social_security');
    expect(report.problems).toEqual([]);
    expect(report.rows).toHaveLength(2);
    const broken = join(fx.innerDir, 'mappings/broken.yaml');
    writeFileSync(
      broken,
      readFileSync(join(fx.innerDir, 'mappings/social_security.yaml'), 'utf8').replace('JFJS', 'JFJS_X'),
    );
    const bad = await checkMappingFile(settings, broken, { dataset: 'social_security' });
    expect(bad.problems).toEqual([
      expect.stringMatching(/JFJS_X \(mapped to contribution_base\) does not exist/),
    ]);
  });
});

describe.skipIf(!mariaState.available)(`MariaDB source ${mariaState.reason}`, () => {
  let fx: InnerFixture;
  let db: TestDatabase;

  beforeAll(async () => {
    fx = await innerFixture(['bank-a']);
    db = await createMariadbDatabase('gbb_inner', 'gbk');
    const c = await mysql.createConnection(db.url);
    await c.query(`CREATE TABLE RK_JBXX (SFZH VARCHAR(18) NOT NULL PRIMARY KEY, XM VARCHAR(32) NOT NULL,
      XB CHAR(1) NOT NULL, CSRQ CHAR(8) NOT NULL, GXSJ DATETIME NOT NULL, KEY ix (GXSJ, SFZH)) CHARACTER SET gbk`);
    // A legacy table: GBK bytes stored in latin1 columns, one of them not valid GBK.
    await c.query(`CREATE TABLE LEGACY_RK (SFZH VARCHAR(18) NOT NULL PRIMARY KEY, XM VARCHAR(32) NOT NULL,
      XB CHAR(1) NOT NULL, CSRQ CHAR(8) NOT NULL, GXSJ DATETIME NOT NULL) CHARACTER SET latin1`);
    const names = ['张三', '欧阳喆', '李堃', '赵燊', '钱淼'];
    for (let i = 0; i < 60; i++) {
      await c.query('INSERT INTO RK_JBXX VALUES (?, ?, ?, ?, ?)', [
        residentId('19900101', i),
        `${names[i % names.length] ?? ''}${i}`,
        '1',
        '19900101',
        i < 30 ? '2026-05-01 12:00:00' : '2026-05-02 12:00:00',
      ]);
    }
    const gbk = (text: string): Buffer => Buffer.from(new Uint8Array(encodeGb18030(text)));
    await c.query('INSERT INTO LEGACY_RK VALUES (?, ?, ?, ?, ?), (?, ?, ?, ?, ?)', [
      residentId('19900101', 900),
      gbk('孙悟空'),
      '1',
      '19900101',
      '2026-05-01 12:00:00',
      residentId('19900101', 901),
      Buffer.from([0xd5, 0xc5, 0x81, 0x20]),
      '2',
      '19900101',
      '2026-05-01 12:00:00',
    ]);
    await c.end();
    const url = db.url;
    fx.writeConfig({
      sources: { gbk: { kind: 'mariadb', url }, legacy: { kind: 'mariadb', url, encoding: 'gbk' } },
      datasets: {
        residents: {
          contract: 'residents',
          source: 'gbk',
          table: 'RK_JBXX',
          watermark: 'GXSJ',
          columns: residentColumns,
        },
        legacy: {
          contract: 'residents',
          source: 'legacy',
          table: 'LEGACY_RK',
          watermark: 'GXSJ',
          max_reject_ratio: 0.9,
          columns: residentColumns,
        },
      },
      banks: { 'bank-a': { datasets: { residents: '*', legacy: '*' } } },
      bundles: { max_rows: 25 },
    });
  });
  afterAll(async () => {
    fx.cleanup();
    await db.drop();
  });

  it('decodes a GBK table strictly, in UTF-8 NFC in the bundle', async () => {
    const ctx = await fx.open();
    try {
      const [r] = await exportDataset(ctx, 'residents');
      expect(r?.rows).toBe(60);
      expect(r?.rejects).toBe(0);
    } finally {
      await ctx.dispose();
    }
    const bundles = await readStream(fx, 'bank-a', 'county.bank-a.residents');
    expect(bundles.map((b) => b.rows.length)).toEqual([25, 25, 10]);
    const names = bundles.flatMap((b) => b.rows.map((r) => r[1]));
    expect(names).toContain('欧阳喆1');
    expect(names).toContain('李堃2');
    expect(names.every((n) => typeof n === 'string' && !n.includes('?') && !n.includes('\uFFFD'))).toBe(true);
  });

  it('rejects an invalid GBK byte sequence with the raw bytes in hex, never a replacement character', async () => {
    const ctx = await fx.open();
    let result;
    try {
      [result] = await exportDataset(ctx, 'legacy');
    } finally {
      await ctx.dispose();
    }
    expect(result?.rows).toBe(1);
    expect(result?.rejects).toBe(1);
    expect(readRejects(result?.rejectFile)).toEqual([
      expect.objectContaining({ column: 'name', sourceColumn: 'XM', rule: 'encoding', raw: 'hex:d5c58120' }),
    ]);
    const [bundle] = await readStream(fx, 'bank-a', 'county.bank-a.legacy');
    expect(bundle?.rows[0]?.[1]).toBe('孙悟空');
  });
});

describe('GB18030 delimited file', () => {
  let fx: InnerFixture;
  let csvPath: string;

  beforeAll(async () => {
    fx = await innerFixture(['bank-a']);
    const county = generateCounty({ seed: 9, residents: 3000, dir: join(fx.root, 'county') });
    csvPath = county.csvPath;
    fx.writeConfig({
      sources: { roll: { kind: 'csv', path: csvPath, encoding: 'gb18030' } },
      datasets: {
        poverty_alleviation: {
          contract: 'poverty_alleviation',
          source: 'roll',
          mode: 'snapshot',
          columns: {
            id_number: { from: '证件号码' },
            name: { from: '姓名' },
            status: {
              from: '帮扶状态',
              codes: { '1': 'lifted', '2': 'unstable', '3': 'marginal', '4': 'hardship' },
            },
            recognised_year: { from: '认定年度' },
          },
        },
      },
      banks: { 'bank-a': { datasets: { poverty_alleviation: '*' } } },
      bundles: { max_rows: 100 },
    });
  });
  afterAll(() => fx.cleanup());

  it('maps the county roll by header name, rare characters intact, and snapshots find deletes', async () => {
    const original = readFileSync(csvPath);
    const text = new TextDecoder('gb18030', { fatal: true }).decode(original);
    const lines = text.split('\r\n').filter((l) => l.length > 0);
    const ctx = await fx.open();
    try {
      const [first] = await exportDataset(ctx, 'poverty_alleviation');
      expect(first?.rows).toBe(lines.length - 1);
      expect(first?.rejects).toBe(0);
      const rows = (await readStream(fx, 'bank-a', 'county.bank-a.poverty_alleviation')).flatMap(
        (b) => b.rows,
      );
      const fourByte = rows.filter((r) => [...String(r[1])].some((ch) => (ch.codePointAt(0) ?? 0) > 0xffff));
      expect(fourByte.length).toBeGreaterThan(0);
      for (const r of rows) expect(String(r[1]).normalize('NFC')).toBe(r[1]);

      // Reorder the columns, drop two people, add a quoted name with an embedded line break (a reject:
      // names hold no line breaks... it is valid CSV but a different value), and an invalid byte.
      const header = (lines[0] ?? '').split(',');
      const body = lines.slice(1, -2).map((l) => l.split(','));
      const reordered = [
        [header[1], header[0], header[3], header[2]],
        ...body.map((f) => [f[1], f[0], f[3], f[2]]),
      ];
      const dropped = lines.slice(-2).map((l) => l.split(',')[0]);
      const newId = residentId('20000101', 5);
      const out = Buffer.concat([
        Buffer.from(
          new Uint8Array(
            encodeGb18030(
              `${reordered.map((f) => f.join(',')).join('\r\n')}\r\n"新""人",${newId},2025,3\r\n`,
            ),
          ),
        ),
        Buffer.from([0x81, 0x20]),
        Buffer.from(`,${residentId('20000101', 6)},2025,3\r\n`),
      ]);
      writeFileSync(csvPath, out);
      const [second] = await exportDataset(ctx, 'poverty_alleviation');
      expect(second?.rows).toBe(1);
      expect(second?.tombstones).toBe(2);
      expect(second?.rejects).toBe(1);
      const bundles = await readStream(fx, 'bank-a', 'county.bank-a.poverty_alleviation');
      const tail = bundles.slice(-2);
      expect(tail[0]?.kind).toBe('rows');
      expect(tail[0]?.rows).toEqual([[newId, '新"人', 'marginal', 2025]]);
      expect(tail[1]?.kind).toBe('tombstones');
      expect(tail[1]?.columns).toEqual(['id_number']);
      expect(tail[1]?.rows.map((r) => r[0]).sort()).toEqual([...dropped].sort());
      const reject = readRejects(second?.rejectFile)[0];
      expect(reject).toMatchObject({ column: 'name', rule: 'encoding', raw: 'hex:8120' });
      expect(String(reject?.['where'])).toMatch(/line \d+$/);

      // A third run with nothing changed sends nothing.
      const [third] = await exportDataset(ctx, 'poverty_alleviation');
      expect([third?.rows, third?.tombstones, third?.bundles.length]).toEqual([0, 0, 0]);
    } finally {
      await ctx.dispose();
    }
  });
});
