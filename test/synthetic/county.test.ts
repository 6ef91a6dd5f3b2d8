import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkResidentId } from '../../shared/resident-id.js';
import {
  COUNTY_TABLES,
  POVERTY_CSV,
  generateCounty,
  type CountySummary,
  type CountyTableName,
} from '../../inner-node/synthetic/county.js';
import { isValidUnifiedCreditCode } from '../../inner-node/synthetic/credit-code.js';

const RESIDENTS = 3000;
const TABLES = Object.keys(COUNTY_TABLES) as CountyTableName[];
const NOW = new Date('2026-11-01T00:00:00+08:00');
const NOW_TEXT = '2026-11-01 00:00:00';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'county-test-'));
  dirs.push(dir);
  return dir;
}

/** A 64-bit FNV-1a digest (two 32-bit lanes) of a text; enough to tell generated contents apart. */
function fnv(text: string, digest = [0x811c9dc5, 0xcbf29ce4]): number[] {
  let [a = 0, b = 0] = digest;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c ^ (a >>> 7), 0x01000193) >>> 0;
  }
  return [a, b];
}

/** Digest of every table's rows in key order, plus the CSV bytes. */
function contentDigests(summary: CountySummary): Record<string, string> {
  const db = new Database(summary.dbPath, { readonly: true });
  try {
    const out: Record<string, string> = {};
    for (const table of TABLES) {
      let digest = fnv(table);
      const rows = db
        .prepare(`SELECT * FROM ${table} ORDER BY ${COUNTY_TABLES[table].key.join(', ')}`)
        .raw()
        .iterate() as IterableIterator<unknown[]>;
      for (const row of rows) digest = fnv(JSON.stringify(row), digest);
      out[table] = digest.map((n) => n.toString(16).padStart(8, '0')).join('');
    }
    out.csv = fnv(readFileSync(summary.csvPath).toString('latin1')).join('-');
    return out;
  } finally {
    db.close();
  }
}

function query<T>(summary: CountySummary, sql: string): T[] {
  const db = new Database(summary.dbPath, { readonly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

function scalar(summary: CountySummary, sql: string): number {
  const db = new Database(summary.dbPath, { readonly: true });
  try {
    return db.prepare(sql).pluck().get() as number;
  } finally {
    db.close();
  }
}

let first: CountySummary;
let second: CountySummary;
let otherSeed: CountySummary;

beforeAll(() => {
  first = generateCounty({ seed: 20261101, residents: RESIDENTS, dir: tempDir() });
  second = generateCounty({ seed: 20261101, residents: RESIDENTS, dir: tempDir(), now: NOW });
  otherSeed = generateCounty({ seed: 20261102, residents: RESIDENTS, dir: tempDir() });
});

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('generateCounty determinism', () => {
  it('gives identical content for the same seed, residents and now', () => {
    expect(contentDigests(second)).toEqual(contentDigests(first));
    expect(second.tables).toEqual(first.tables);
  });

  it('gives different content for a different seed, table by table', () => {
    const a = contentDigests(first);
    const b = contentDigests(otherSeed);
    for (const key of Object.keys(a)) expect(b[key], key).not.toBe(a[key]);
  });

  it('follows the reference date', () => {
    const summary = generateCounty({
      seed: 20261101,
      residents: 300,
      dir: tempDir(),
      now: new Date('2025-03-15T10:00:00+08:00'),
    });
    const months = query<{ first: string; last: string }>(
      summary,
      'SELECT min(JFNY) AS first, max(JFNY) AS last FROM SB_JFJL',
    );
    expect(months[0]).toEqual({ first: '202203', last: '202502' });
    expect(scalar(summary, "SELECT count(*) FROM RK_JBXX WHERE CSRQ >= '20250315'")).toBe(0);
  });
});

describe('generateCounty residents', () => {
  it('writes the requested number of residents with valid, unique ID numbers', () => {
    expect(first.tables.RK_JBXX).toBe(RESIDENTS);
    const rows = query<{ SFZH: string; CSRQ: string; XB: string; XM: string; HKXZ: string }>(
      first,
      'SELECT SFZH, CSRQ, XB, XM, HKXZ FROM RK_JBXX',
    );
    expect(new Set(rows.map((r) => r.SFZH)).size).toBe(RESIDENTS);
    for (const row of rows) {
      expect(checkResidentId(row.SFZH), row.SFZH).toBeUndefined();
      expect(row.SFZH.slice(6, 14), row.SFZH).toBe(row.CSRQ);
      const odd = Number(row.SFZH.charAt(16)) % 2 === 1;
      expect(row.XB, row.SFZH).toBe(odd ? '1' : '2');
      expect(['1', '2']).toContain(row.HKXZ);
      expect([...row.XM].length).toBeGreaterThanOrEqual(2);
      expect([...row.XM].length).toBeLessThanOrEqual(4);
    }
    expect(rows.some((r) => r.SFZH.startsWith('341225'))).toBe(true);
    expect(rows.some((r) => !r.SFZH.startsWith('341225'))).toBe(true);
  });

  it('mostly has adults aged 18 to 75, plus some minors, all born before today', () => {
    const ages = query<{ CSRQ: string }>(first, 'SELECT CSRQ FROM RK_JBXX').map(({ CSRQ }) => {
      const years = 2026 - Number(CSRQ.slice(0, 4));
      return CSRQ.slice(4) > '1101' ? years - 1 : years;
    });
    const minors = ages.filter((a) => a < 18).length / ages.length;
    const core = ages.filter((a) => a >= 18 && a <= 75).length / ages.length;
    expect(minors).toBeGreaterThan(0.02);
    expect(minors).toBeLessThan(0.1);
    expect(core).toBeGreaterThan(0.85);
    expect(Math.min(...ages)).toBeGreaterThanOrEqual(0);
    expect(scalar(first, "SELECT count(*) FROM RK_JBXX WHERE CSRQ >= '20261101'")).toBe(0);
  });

  it('gives a few percent of people rare characters, some outside the BMP', () => {
    const names = query<{ XM: string }>(first, 'SELECT XM FROM RK_JBXX').map((r) => r.XM);
    const astral = names.filter((n) => /[\u{10000}-\u{10FFFF}]/u.test(n)).length;
    const rare = names.filter((n) => /[堃喆昇淼燊䶮\u{10000}-\u{10FFFF}]/u.test(n)).length;
    expect(astral).toBeGreaterThan(0);
    expect(rare / names.length).toBeGreaterThan(0.01);
    expect(rare / names.length).toBeLessThan(0.08);
  });
});

describe('generateCounty related tables', () => {
  it('has sensible row counts and coverage', () => {
    const share = (table: string, column = 'SFZH'): number =>
      scalar(first, `SELECT count(DISTINCT ${column}) FROM ${table}`) / RESIDENTS;
    expect(share('SB_JFJL')).toBeGreaterThan(0.45);
    expect(share('SB_JFJL')).toBeLessThan(0.75);
    expect(share('GJJ_JCJL')).toBeGreaterThan(0.2);
    expect(share('GJJ_JCJL')).toBeLessThan(0.4);
    expect(share('ZX_BZXR')).toBeGreaterThan(0.015);
    expect(share('ZX_BZXR')).toBeLessThan(0.05);
    expect(share('QY_DJ', 'FDDBR_SFZH')).toBeGreaterThan(0.01);
    expect(share('FC_DJ')).toBeGreaterThan(0.2);
    expect(share('CL_DJ')).toBeGreaterThan(0.1);
    // Contribution months vary, with gaps, within 36 months.
    const months = query<{ n: number }>(first, 'SELECT count(*) AS n FROM SB_JFJL GROUP BY SFZH').map(
      (r) => r.n,
    );
    expect(Math.max(...months)).toBe(36);
    expect(Math.min(...months)).toBeLessThan(12);
    expect(scalar(first, 'SELECT count(DISTINCT JFNY) FROM SB_JFJL')).toBe(36);
    // Row counts in the summary are the real ones.
    for (const table of TABLES) {
      expect(first.tables[table], table).toBe(scalar(first, `SELECT count(*) FROM ${table}`));
    }
  });

  it('links every record to a resident', () => {
    for (const table of TABLES) {
      const person = COUNTY_TABLES[table].person;
      const orphans = scalar(
        first,
        `SELECT count(*) FROM ${table} WHERE ${person} NOT IN (SELECT SFZH FROM RK_JBXX)`,
      );
      expect(orphans, table).toBe(0);
    }
  });

  it('correlates wealth signals: urban households own more, enforcement goes with fewer contributions', () => {
    const perPerson = (table: string, hkxz: string): number =>
      scalar(
        first,
        `SELECT count(*) * 1.0 / (SELECT count(*) FROM RK_JBXX WHERE HKXZ = '${hkxz}') FROM ${table}
         WHERE SFZH IN (SELECT SFZH FROM RK_JBXX WHERE HKXZ = '${hkxz}')`,
      );
    expect(perPerson('FC_DJ', '1')).toBeGreaterThan(perPerson('FC_DJ', '2'));
    expect(perPerson('CL_DJ', '1')).toBeGreaterThan(perPerson('CL_DJ', '2'));
    const insuredShare = (where: string): number =>
      scalar(
        first,
        `SELECT avg(SFZH IN (SELECT SFZH FROM SB_JFJL)) FROM RK_JBXX
         WHERE CSRQ BETWEEN '19660101' AND '20000101' AND ${where}`,
      );
    expect(insuredShare('SFZH IN (SELECT SFZH FROM ZX_BZXR)')).toBeLessThan(
      insuredShare('SFZH NOT IN (SELECT SFZH FROM ZX_BZXR)'),
    );
  });

  it('stores dates, money and codes in government style', () => {
    const dates: [string, string][] = [
      ['RK_JBXX', 'CSRQ'],
      ['FC_DJ', 'DJRQ'],
      ['CL_DJ', 'CCDJRQ'],
      ['QY_DJ', 'CLRQ'],
      ['ZX_BZXR', 'LARQ'],
      ['ZX_BZXR', 'JARQ'],
    ];
    for (const [table, column] of dates) {
      const values = query<{ v: string | null }>(first, `SELECT ${column} AS v FROM ${table}`).map(
        (r) => r.v,
      );
      for (const v of values) {
        if (v === null && column === 'JARQ') continue;
        expect(v, `${table}.${column}`).toMatch(/^(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$/);
        expect(v! < '20261101', `${table}.${column} ${v}`).toBe(true);
      }
    }
    expect(scalar(first, 'SELECT count(*) FROM ZX_BZXR WHERE JARQ IS NULL')).toBeGreaterThan(0);
    expect(scalar(first, 'SELECT count(*) FROM ZX_BZXR WHERE JARQ < LARQ')).toBe(0);
    const money: [string, string][] = [
      ['SB_JFJL', 'JFJS'],
      ['SB_JFJL', 'GRJF'],
      ['SB_JFJL', 'DWJF'],
      ['GJJ_JCJL', 'YJCE'],
      ['GJJ_JCJL', 'ZHYE'],
      ['FC_DJ', 'PGJZ'],
      ['QY_DJ', 'ZCZB'],
      ['ZX_BZXR', 'ZXBD'],
    ];
    for (const [table, column] of money) {
      const bad = scalar(
        first,
        `SELECT count(*) FROM ${table} WHERE typeof(${column}) <> 'integer' OR ${column} < 0`,
      );
      expect(bad, `${table}.${column}`).toBe(0);
    }
    expect(scalar(first, "SELECT count(*) FROM FC_DJ WHERE JZMJ NOT GLOB '[1-9]*.[0-9][0-9]'")).toBe(0);
    expect(scalar(first, 'SELECT count(*) FROM FC_DJ WHERE length(BDCDYH) <> 28')).toBe(0);
    const plates = query<{ HPHM: string }>(first, 'SELECT HPHM FROM CL_DJ').map((r) => r.HPHM);
    for (const plate of plates) expect(plate).toMatch(/^皖[A-Z][A-HJ-NP-Z0-9]{5}$/);
    const codes = query<{ TYSHXYDM: string }>(first, 'SELECT TYSHXYDM FROM QY_DJ').map((r) => r.TYSHXYDM);
    for (const code of codes) expect(isValidUnifiedCreditCode(code), code).toBe(true);
    const cases = query<{ AH: string }>(first, 'SELECT AH FROM ZX_BZXR').map((r) => r.AH);
    for (const ah of cases) expect(ah).toMatch(/^（20\d{2}）皖1225执\d+号$/);
  });

  it('writes only well-formed text (no replacement characters from split surrogate pairs)', () => {
    for (const table of TABLES) {
      const columns = query<{ name: string; type: string }>(first, `PRAGMA table_info(${table})`)
        .filter((c) => c.type === 'TEXT')
        .map((c) => c.name);
      const where = columns.map((c) => `instr(${c}, char(65533)) > 0`).join(' OR ');
      expect(scalar(first, `SELECT count(*) FROM ${table} WHERE ${where}`), table).toBe(0);
    }
  });

  it('stamps GXSJ as Beijing-time text no later than now, with many ties', () => {
    for (const table of TABLES) {
      const stats = query<{ rows: number; distinctStamps: number; latest: string; bad: number }>(
        first,
        `SELECT count(*) AS rows, count(DISTINCT GXSJ) AS distinctStamps, max(GXSJ) AS latest,
                sum(GXSJ NOT GLOB '[12][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9]') AS bad
         FROM ${table}`,
      )[0]!;
      expect(stats.bad, table).toBe(0);
      expect(stats.latest <= NOW_TEXT, `${table} ${stats.latest}`).toBe(true);
      expect(stats.distinctStamps, table).toBeLessThan(stats.rows);
    }
    // Big batches: one stamp shared by hundreds of residents and thousands of contribution rows.
    expect(
      scalar(first, 'SELECT max(n) FROM (SELECT count(*) AS n FROM RK_JBXX GROUP BY GXSJ)'),
    ).toBeGreaterThan(RESIDENTS / 10);
    expect(
      scalar(first, 'SELECT max(n) FROM (SELECT count(*) AS n FROM SB_JFJL GROUP BY GXSJ)'),
    ).toBeGreaterThan(RESIDENTS / 4);
  });
});

describe('poverty_alleviation.csv', () => {
  it('decodes strictly as GB18030 with CRLF line endings and the expected header', () => {
    const bytes = readFileSync(first.csvPath);
    const text = new TextDecoder('gb18030', { fatal: true }).decode(bytes);
    expect(text.endsWith('\r\n')).toBe(true);
    expect(text.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    const lines = text.slice(0, -2).split('\r\n');
    expect(lines[0]).toBe(POVERTY_CSV.header.join(','));
    expect(lines.length - 1).toBe(first.csvRows);
    expect(first.csvRows / RESIDENTS).toBeGreaterThan(0.05);
    expect(first.csvRows / RESIDENTS).toBeLessThan(0.12);

    const names = new Map(
      query<{ SFZH: string; XM: string }>(first, 'SELECT SFZH, XM FROM RK_JBXX').map((r) => [r.SFZH, r.XM]),
    );
    for (const line of lines.slice(1)) {
      const [id = '', name, status = '', year = ''] = line.split(',');
      expect(checkResidentId(id), id).toBeUndefined();
      expect(names.get(id), id).toBe(name);
      expect(['1', '2', '3', '4']).toContain(status);
      expect(Number(year)).toBeGreaterThanOrEqual(2014);
      expect(Number(year)).toBeLessThanOrEqual(2026);
    }
    expect(lines.filter((l) => /[\u{10000}-\u{10FFFF}]/u.test(l)).length).toBeGreaterThanOrEqual(3);
  });

  it('contains characters that take four bytes in GB18030', () => {
    const bytes = readFileSync(first.csvPath);
    let fourByte = 0;
    for (let i = 0; i < bytes.length;) {
      const lead = bytes[i]!;
      if (lead < 0x80) {
        i += 1;
      } else if (bytes[i + 1]! >= 0x30 && bytes[i + 1]! <= 0x39) {
        fourByte++;
        i += 4;
      } else {
        i += 2;
      }
    }
    expect(fourByte).toBeGreaterThanOrEqual(3);
    // And a tiny county still exercises them.
    const tiny = generateCounty({ seed: 1, residents: 60, dir: tempDir() });
    const tinyText = new TextDecoder('gb18030', { fatal: true }).decode(readFileSync(tiny.csvPath));
    expect(tinyText).toMatch(/[\u{10000}-\u{10FFFF}]/u);
  });
});

describe('generateCounty files and speed', () => {
  it('replaces existing files, leaves no temporary files and reports progress', () => {
    const dir = tempDir();
    generateCounty({ seed: 5, residents: 200, dir });
    const progress: [number, number][] = [];
    const summary = generateCounty({
      seed: 6,
      residents: 2500,
      dir,
      onProgress: (done, total) => progress.push([done, total]),
    });
    expect(readdirSync(dir).sort()).toEqual(['county.db', 'poverty_alleviation.csv']);
    expect(summary.tables.RK_JBXX).toBe(2500);
    expect(scalar(summary, 'SELECT count(*) FROM RK_JBXX')).toBe(2500);
    expect(progress[0]).toEqual([0, 2500]);
    expect(progress.at(-1)).toEqual([2500, 2500]);
    expect(query<{ journal_mode: string }>(summary, 'PRAGMA journal_mode')[0]?.journal_mode).toBe('delete');
  });

  it('handles an empty county and refuses bad options', () => {
    const summary = generateCounty({ seed: 1, residents: 0, dir: tempDir() });
    expect(Object.values(summary.tables).every((n) => n === 0)).toBe(true);
    expect(summary.csvRows).toBe(0);
    expect(() => generateCounty({ seed: 1, residents: -1, dir: tempDir() })).toThrow(RangeError);
    expect(() => generateCounty({ seed: 1, residents: 1.5, dir: tempDir() })).toThrow(RangeError);
    expect(() => generateCounty({ seed: Number.NaN, residents: 1, dir: tempDir() })).toThrow(RangeError);
  });

  it('generates 5,000 residents quickly', () => {
    const summary = generateCounty({ seed: 99, residents: 5000, dir: tempDir() });
    expect(summary.tables.RK_JBXX).toBe(5000);
    expect(summary.tables.SB_JFJL).toBeGreaterThan(50_000);
    // About 0.3 s on a 2-core machine; the bound leaves room for a busy CI host.
    expect(summary.seconds).toBeLessThan(4);
  });
});
