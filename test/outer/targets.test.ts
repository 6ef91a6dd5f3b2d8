// Real PostgreSQL and MariaDB bank databases whose tables differ from the contract in names, column
// order and types: rows arrive converted by name, tombstones delete, the ledger sits in the same
// transaction, rows that do not fit (too long, or characters outside a legacy charset) are rejected
// with reasons, too many rejects quarantine the bundle, and the start-up check lists every mismatch.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openOuterContext } from '../../outer-node/context.js';
import { importOnce } from '../../outer-node/import.js';
import { createLogger } from '../../shared/logger.js';
import { BIN, runCli } from '../support/bridge.js';
import {
  createMariadbDatabase,
  createPostgresDatabase,
  serverAvailability,
  type TestDatabase,
} from '../support/databases.js';
import {
  BANK_RESIDENT_MAPPING,
  RESIDENT_COLUMNS,
  makeSealer,
  residentId,
  residentRow,
  temporaryBridge,
  writeOuterConfig,
  type Bridge,
  type Sealer,
} from './support.js';

const pgState = await serverAvailability('postgres');
const mariaState = await serverAvailability('mariadb');
const logger = createLogger({ name: 'test', level: 'silent' });

const STREAM = 'county.bank-a.residents';

async function importAll(bridge: Bridge) {
  const ctx = await openOuterContext(bridge.outerConfig, logger);
  try {
    return await importOnce(ctx, { settleMs: 0 });
  } finally {
    await ctx.close();
  }
}

function rejectLines(bridge: Bridge): { column: string; reason: string; key: Record<string, string> }[] {
  const dir = join(bridge.outerDir, 'rejects', 'residents');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) =>
    readFileSync(join(dir, f), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { column: string; reason: string; key: Record<string, string> }),
  );
}

describe.skipIf(!pgState.available)(`PostgreSQL bank target ${pgState.reason}`, () => {
  let bridge: Bridge;
  let sealer: Sealer;
  let db: TestDatabase;
  let client: pg.Client;

  beforeAll(async () => {
    bridge = await temporaryBridge(20, 3);
    sealer = await makeSealer(bridge);
    db = await createPostgresDatabase();
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    // The bank's own table: other names, another order, other types, a short name column.
    await client.query(`CREATE TABLE kh_gov_resident (
      gxsj timestamp without time zone,
      "DZ" text,
      xm varchar(4) NOT NULL,
      hjlx varchar(10),
      sfzh char(18) PRIMARY KEY,
      csrq char(8),
      xb char(1)
    )`);
    writeOuterConfig(bridge, {
      target: `  kind: postgres\n  url: ${db.url}\n  naive_time_offset: '+08:00'`,
      datasets: BANK_RESIDENT_MAPPING,
    });
  });
  afterAll(async () => {
    await client.end();
    await db.drop();
    bridge.cleanup();
  });

  it('loads rows by name with conversions, rejects a name too long for the column, applies tombstones', async () => {
    const inbox = join(bridge.outerDir, 'inbox');
    const rows = Array.from({ length: 50 }, (_, i) => residentRow(i));
    (rows[7] as unknown[])[1] = '欧阳娜娜子'; // 5 characters into VARCHAR(4)
    await sealer.seal({
      dir: inbox,
      dataset: 'residents',
      stream: STREAM,
      sequence: 1,
      columns: RESIDENT_COLUMNS,
      rows,
    });
    await sealer.seal({
      dir: inbox,
      dataset: 'residents',
      stream: STREAM,
      sequence: 2,
      columns: RESIDENT_COLUMNS,
      rows: [residentRow(3, 2)],
    });
    await sealer.seal({
      dir: inbox,
      dataset: 'residents',
      stream: STREAM,
      sequence: 3,
      columns: ['id_number'],
      rows: [[residentId(4)], [residentId(5)]],
      kind: 'tombstones',
    });
    const summary = await importAll(bridge);
    expect(summary).toMatchObject({ applied: 3, quarantined: 0, rejected: 1, rows: 49 + 1 + 2 });

    const { rows: loaded } = await client.query<Record<string, string | null>>(
      'SELECT * FROM kh_gov_resident ORDER BY sfzh',
    );
    expect(loaded.length).toBe(50 - 1 - 2);
    const three = loaded.find((r) => r['sfzh'] === residentId(3));
    const source = residentRow(3, 2);
    expect(three).toMatchObject({
      xm: source[1],
      xb: '2',
      csrq: String(source[3]).replaceAll('-', ''),
      hjlx: 'urban',
      DZ: source[6],
    });
    // 2024-03-15T08:03:00+08:00 stored as wall time at +08:00 in a column without a time zone.
    const { rows: time } = await client.query<{ t: string }>(
      "SELECT to_char(gxsj, 'YYYY-MM-DD HH24:MI:SS') AS t FROM kh_gov_resident WHERE sfzh = $1",
      [residentId(3)],
    );
    expect(time[0]?.t).toBe('2024-03-15 08:03:00');
    expect(loaded.some((r) => r['sfzh'] === residentId(4) || r['sfzh'] === residentId(5))).toBe(false);

    const { rows: ledger } = await client.query<{ sequence: string; row_count: string }>(
      'SELECT sequence, row_count FROM bridge_ledger ORDER BY sequence',
    );
    expect(ledger.map((l) => [Number(l.sequence), Number(l.row_count)])).toEqual([
      [1, 49],
      [2, 1],
      [3, 2],
    ]);
    const rejects = rejectLines(bridge);
    expect(rejects).toHaveLength(1);
    expect(rejects[0]?.column).toBe('name');
    expect(rejects[0]?.reason).toMatch(/5 characters; xm holds 4/);
    expect(rejects[0]?.key['id_number']).toMatch(/^\d{6}\*{8}\d{3}[\dX]$/);
  });

  it('ignores a re-delivered bundle (the ledger says it was applied)', async () => {
    const inbox = join(bridge.outerDir, 'inbox');
    await sealer.seal({
      dir: inbox,
      dataset: 'residents',
      stream: STREAM,
      sequence: 2,
      columns: RESIDENT_COLUMNS,
      rows: [residentRow(3, 9)],
    });
    const summary = await importAll(bridge);
    expect(summary).toMatchObject({ applied: 0, duplicates: 1 });
    const { rows } = await client.query<{ xm: string }>('SELECT xm FROM kh_gov_resident WHERE sfzh = $1', [
      residentId(3),
    ]);
    expect(rows[0]?.xm).toBe(residentRow(3, 2)[1]);
  });

  it('quarantines a bundle with too many rejected rows, with the reason', async () => {
    const inbox = join(bridge.outerDir, 'inbox');
    const rows = Array.from({ length: 30 }, (_, i) => {
      const row = residentRow(100 + i);
      row[1] = '名字太长了的人';
      return row;
    });
    await sealer.seal({
      dir: inbox,
      dataset: 'residents',
      stream: STREAM,
      sequence: 4,
      columns: RESIDENT_COLUMNS,
      rows,
    });
    const summary = await importAll(bridge);
    expect(summary).toMatchObject({ applied: 0, quarantined: 1 });
    const listed = await runCli(BIN.outer, ['quarantine', 'list', '--config', bridge.outerConfig]);
    expect(listed.stdout).toMatch(/MAPPING_TOO_MANY_REJECTS/);
    const status = await runCli(BIN.outer, ['status', '--config', bridge.outerConfig]);
    expect(status.stdout).toMatch(/county\.bank-a\.residents: last sequence applied 3/);
    expect(status.stdout).toMatch(/quarantined 1/);
  });

  it('refuses to start when the live schema does not fit, listing every problem at once', async () => {
    await client.query('CREATE TABLE broken_resident (sfzh char(18), xm integer, gxsj date)');
    const text = readFileSync(bridge.outerConfig, 'utf8');
    const broken = text.replace('table: KH_GOV_RESIDENT', 'table: broken_resident');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(bridge.outerConfig, broken);
    try {
      const result = await runCli(BIN.outer, ['schema', 'check', '--config', bridge.outerConfig]).catch(
        (e: { stderr: string }) => e,
      );
      const stderr = result.stderr;
      expect(stderr).toMatch(/LOAD_SCHEMA/);
      expect(stderr).toMatch(/xm is integer, which cannot hold contract string column name/);
      expect(stderr).toMatch(/gxsj is date, which cannot hold contract timestamp/);
      expect(stderr).toMatch(/has no column DZ/);
      expect(stderr).toMatch(/has no column HJLX/);
      expect(stderr).toMatch(/no primary key or unique index/);
    } finally {
      writeFileSync(bridge.outerConfig, text);
    }
  });
});

describe.skipIf(!mariaState.available)(`MariaDB bank target ${mariaState.reason}`, () => {
  let bridge: Bridge;
  let sealer: Sealer;
  let db: TestDatabase;
  let connection: mysql.Connection;

  beforeAll(async () => {
    bridge = await temporaryBridge(20, 4);
    sealer = await makeSealer(bridge);
    db = await createMariadbDatabase();
    connection = await mysql.createConnection({ uri: db.url, charset: 'utf8mb4', dateStrings: true });
    // A legacy bank table: the name column in GBK, the address in a TINYTEXT (255 bytes), dates as
    // DATETIME without a zone, gender as a code, another column order.
    await connection.query(`CREATE TABLE KH_GOV_RESIDENT (
      HJLX VARCHAR(10),
      GXSJ DATETIME,
      XM VARCHAR(10) CHARACTER SET gbk NOT NULL,
      SFZH CHAR(18) NOT NULL PRIMARY KEY,
      DZ TINYTEXT CHARACTER SET utf8mb4,
      CSRQ CHAR(8),
      XB CHAR(1)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
    writeOuterConfig(bridge, {
      target: `  kind: mariadb\n  url: ${db.url}`,
      datasets: BANK_RESIDENT_MAPPING,
    });
  });
  afterAll(async () => {
    await connection.end();
    await db.drop();
    bridge.cleanup();
  });

  it('rejects characters outside GBK and text too long in bytes, never storing "?"; loads the rest', async () => {
    const inbox = join(bridge.outerDir, 'inbox');
    const rows = Array.from({ length: 60 }, (_, i) => residentRow(i));
    (rows[1] as unknown[])[1] = '吉𠮷'; // U+20BB7 is not in GBK
    (rows[2] as unknown[])[6] = '长'.repeat(100); // 300 bytes in UTF-8 into TINYTEXT (255 bytes)
    (rows[3] as unknown[])[1] = '王伟'; // fits
    await sealer.seal({
      dir: inbox,
      dataset: 'residents',
      stream: STREAM,
      sequence: 1,
      columns: RESIDENT_COLUMNS,
      rows,
    });
    await sealer.seal({
      dir: inbox,
      dataset: 'residents',
      stream: STREAM,
      sequence: 2,
      columns: ['id_number'],
      rows: [[residentId(10)]],
      kind: 'tombstones',
    });
    const summary = await importAll(bridge);
    expect(summary).toMatchObject({ applied: 2, quarantined: 0, rejected: 2 });
    const [rowsBack] = await connection.query(
      'SELECT SFZH, XM, XB, CSRQ, GXSJ, DZ FROM KH_GOV_RESIDENT ORDER BY SFZH',
    );
    const loaded = rowsBack as {
      SFZH: string;
      XM: string;
      XB: string;
      CSRQ: string;
      GXSJ: string;
      DZ: string;
    }[];
    expect(loaded).toHaveLength(60 - 2 - 1);
    expect(loaded.some((r) => r.XM.includes('?'))).toBe(false);
    expect(loaded.find((r) => r.SFZH === residentId(1))).toBeUndefined();
    expect(loaded.find((r) => r.SFZH === residentId(3))?.XM).toBe('王伟');
    const four = loaded.find((r) => r.SFZH === residentId(4));
    expect(four).toMatchObject({
      XB: '1',
      CSRQ: String(residentRow(4)[3]).replaceAll('-', ''),
      GXSJ: '2024-02-15 08:04:00',
    });
    const reasons = rejectLines(bridge).map((r) => `${r.column}: ${r.reason}`);
    expect(reasons).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^name: character '𠮷' \(U\+20BB7\) cannot be stored in XM, whose character set is gbk/,
        ),
        expect.stringMatching(/^address: 300 bytes in utf8mb4; DZ holds 255 bytes/),
      ]),
    );
    const [ledger] = await connection.query(
      'SELECT sequence, row_count FROM bridge_ledger ORDER BY sequence',
    );
    expect(
      (ledger as { sequence: string; row_count: string }[]).map((l) => [
        Number(l.sequence),
        Number(l.row_count),
      ]),
    ).toEqual([
      [1, 58],
      [2, 1],
    ]);
  });

  it('schema plan prints DDL for each database kind, and apply creates a table that loads', async () => {
    for (const kind of ['sqlite', 'postgres', 'mariadb']) {
      const { stdout } = await runCli(BIN.outer, [
        'schema',
        'plan',
        '--kind',
        kind,
        '--config',
        bridge.outerConfig,
      ]);
      expect(stdout).toMatch(/CREATE TABLE IF NOT EXISTS .KH_GOV_RESIDENT./);
    }
    const fresh = await createMariadbDatabase();
    const text = readFileSync(bridge.outerConfig, 'utf8');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(bridge.outerConfig, text.replace(db.url, fresh.url));
    try {
      const applied = await runCli(BIN.outer, ['schema', 'apply', '--config', bridge.outerConfig]);
      expect(applied.stdout).toMatch(/CSRQ` CHAR\(8\)/);
      const checked = await runCli(BIN.outer, ['schema', 'check', '--config', bridge.outerConfig]);
      expect(checked.stdout).toMatch(/the mapping fits/);
    } finally {
      writeFileSync(bridge.outerConfig, text);
      await fresh.drop();
    }
  });
});
