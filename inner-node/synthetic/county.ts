/**
 * Synthetic county: a reproducible stand-in for the government databases of Funan county (阜南县,
 * Fuyang, Anhui), used by the demo and by tests. `generateCounty` writes two sources the inner node
 * reads, both in the style such systems really have:
 *
 * dir/county.db (SQLite), pinyin-abbreviated upper-case columns, codes as TEXT codes, dates as
 * 'yyyyMMdd' TEXT, money in fen as INTEGER, and timestamps (GXSJ, 更新时间) as naive
 * 'yyyy-MM-dd HH:mm:ss' TEXT that mean Beijing time (UTC+08:00, no daylight saving), as government
 * systems store them. Anything reading GXSJ must attach +08:00 itself.
 *
 * - RK_JBXX   residents (人口基本信息), key SFZH: ID number, name, sex, ethnicity, birth date, marital
 *             status, address, phone, household type (urban/rural).
 * - SB_JFJL   social-security contributions (社保缴费记录), key (SFZH, JFNY): one row per person per
 *             month paid in the 36 months before the month of `now`, for ~60% of people, with gaps.
 * - GJJ_JCJL  housing provident fund deposits (公积金缴存记录), key (SFZH, JCNY): one row per month for
 *             the ~30% of people with an account (formal employees); sealed months have deposit 0.
 * - FC_DJ     property registrations (房产登记), key BDCDYH (28-character real-estate unit number).
 * - CL_DJ     motor vehicles (车辆登记), key HPHM (plate number, 皖K…).
 * - QY_DJ     enterprises and individual businesses (企业登记), key TYSHXYDM (unified social credit
 *             code with valid GB 11714 and GB 32100 check characters), legal representative FDDBR_SFZH.
 * - ZX_BZXR   court enforcement cases (被执行人), key AH (case number （2025）皖1225执123号), SXBZ
 *             '1' when the person is on the dishonest-debtor list.
 *
 * dir/poverty_alleviation.csv, GB18030, CRLF line endings, header 证件号码,姓名,帮扶状态,认定年度: the
 * poverty-alleviation roll (~8% of people, mostly rural), as a Windows export would write it. At least a
 * few names in it need four bytes in GB18030 (characters outside the BMP such as 𠮷).
 *
 * Values are correlated through a hidden economic standing per person (urban households, working age
 * and formal employment go with more contributions, provident fund, property and vehicles; low standing
 * with enforcement cases and poverty status), so a scorecard trained on loan outcomes derived from these
 * features has something to find. Protected attributes (sex, ethnicity, marital status) drive nothing.
 *
 * Rows share GXSJ values on purpose (nightly and monthly batch jobs stamp thousands of rows with the same
 * second), because incremental extraction must cope with ties.
 *
 * The output is a pure function of (seed, residents, now). Residents are generated in ascending SFZH
 * order without sorting (birth dates are drawn as sorted order statistics), so the resident table and
 * the two big monthly tables (WITHOUT ROWID, clustered on their keys) are loaded by appending; nothing
 * is held per resident, memory stays bounded, and a million residents load in one streaming pass.
 */
import { closeSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { residentIdCheckChar } from '../../shared/resident-id.js';
import { temporaryNameFor } from '../../shared/atomic-file.js';
import { isValidUnifiedCreditCode, orgCodeCheckChar, unifiedCreditCodeCheckChar } from './credit-code.js';
import { encodeGb18030 } from './gb18030.js';
import {
  COOP_PRODUCTS,
  ESTATES,
  ETHNICITIES,
  GIVEN_ANY,
  GIVEN_FEMALE,
  GIVEN_MALE,
  ID_REGIONS,
  MOBILE_PREFIXES,
  PUBLIC_EMPLOYERS,
  RARE_GIVEN,
  RARE_GIVEN_ASTRAL,
  SHOP_TRADES,
  SURNAMES,
  TOWNS,
  TRADES,
  TRADE_NAMES,
  URBAN_ROADS,
  VEHICLE_MODELS,
  VEHICLE_TYPES_RURAL,
  VEHICLE_TYPES_URBAN,
  VILLAGE_SUFFIXES,
} from './lists.js';
import { Prng, WeightedPicker } from './prng.js';

export interface CountyOptions {
  seed: number;
  residents: number;
  /** Writes dir/county.db (SQLite) and dir/poverty_alleviation.csv (GB18030); existing files are replaced. */
  dir: string;
  /** Reference "today"; default 2026-11-01T00:00:00+08:00. Output is deterministic given seed, residents, now. */
  now?: Date;
  onProgress?: (done: number, total: number) => void;
}

export interface CountySummary {
  dbPath: string;
  csvPath: string;
  /** Row counts per table of county.db. */
  tables: Record<string, number>;
  /** Data rows in the CSV (header excluded). */
  csvRows: number;
  seconds: number;
}

export interface CountyTableInfo {
  /** Primary key columns, in order. */
  readonly key: readonly string[];
  /** The column holding the person's resident ID number. */
  readonly person: string;
  /** Last-updated column ('yyyy-MM-dd HH:mm:ss', Beijing time), for incremental extraction. */
  readonly watermark: 'GXSJ';
  /** The contract dataset this table feeds (design section 3). */
  readonly dataset: string;
  readonly title: string;
}

/** The tables of county.db with their key columns. */
export const COUNTY_TABLES = {
  RK_JBXX: { key: ['SFZH'], person: 'SFZH', watermark: 'GXSJ', dataset: 'residents', title: '人口基本信息' },
  SB_JFJL: {
    key: ['SFZH', 'JFNY'],
    person: 'SFZH',
    watermark: 'GXSJ',
    dataset: 'social_security',
    title: '社保缴费记录',
  },
  GJJ_JCJL: {
    key: ['SFZH', 'JCNY'],
    person: 'SFZH',
    watermark: 'GXSJ',
    dataset: 'provident_fund',
    title: '公积金缴存记录',
  },
  FC_DJ: { key: ['BDCDYH'], person: 'SFZH', watermark: 'GXSJ', dataset: 'property', title: '房产登记' },
  CL_DJ: { key: ['HPHM'], person: 'SFZH', watermark: 'GXSJ', dataset: 'vehicles', title: '车辆登记' },
  QY_DJ: {
    key: ['TYSHXYDM'],
    person: 'FDDBR_SFZH',
    watermark: 'GXSJ',
    dataset: 'enterprises',
    title: '企业登记',
  },
  ZX_BZXR: { key: ['AH'], person: 'SFZH', watermark: 'GXSJ', dataset: 'enforcement', title: '被执行人' },
} as const satisfies Record<string, CountyTableInfo>;

export type CountyTableName = keyof typeof COUNTY_TABLES;

/** The poverty-alleviation CSV export. */
export const POVERTY_CSV = {
  file: 'poverty_alleviation.csv',
  encoding: 'gb18030',
  lineEnding: '\r\n',
  header: ['证件号码', '姓名', '帮扶状态', '认定年度'],
  key: ['证件号码'],
  dataset: 'poverty_alleviation',
} as const;

/** Code tables used in county.db and the CSV, for mapping rules. */
export const COUNTY_CODES = {
  /** RK_JBXX.XB (GB/T 2261.1); agrees with the parity of the 17th ID digit (odd = male). */
  XB: { '1': '男', '2': '女' },
  /** RK_JBXX.HKXZ household type. */
  HKXZ: { '1': '城镇', '2': '农村' },
  /** RK_JBXX.HYZK marital status (GB/T 2261.2). */
  HYZK: { '10': '未婚', '20': '已婚', '30': '丧偶', '40': '离婚', '90': '未说明' },
  /** RK_JBXX.MZ ethnicity (GB 3304), the codes that occur. */
  MZ: { '01': '汉族', '02': '蒙古族', '03': '回族', '04': '藏族', '06': '苗族', '08': '壮族', '11': '满族' },
  /** SB_JFJL.CBLX contributor type; DWMC is NULL and DWJF 0 for flexible employment. */
  CBLX: { '1': '单位职工', '2': '灵活就业' },
  /** GJJ_JCJL.ZT account status. */
  GJJ_ZT: { '1': '正常缴存', '2': '封存' },
  /** FC_DJ.DYBZ mortgaged, FC_DJ.CFBZ seized by a court; ZX_BZXR.SXBZ dishonest debtor. */
  FLAG: { '1': '是', '0': '否' },
  /** CL_DJ.CLLX vehicle type (GA 24.4), the codes that occur. */
  CLLX: { K31: '小型普通客车', K33: '小型轿车', H31: '轻型普通货车', N11: '三轮汽车', M22: '普通二轮摩托车' },
  /** CL_DJ.ZT vehicle status (GA 24.4): normal, unprocessed violation, seized. */
  CL_ZT: { A: '正常', G: '违法未处理', K: '查封' },
  /** QY_DJ.QYLX entity type (second character of the credit code). */
  QYLX: { '1': '企业', '2': '个体工商户', '3': '农民专业合作社' },
  /** QY_DJ.DJZT registration status. */
  DJZT: { '1': '存续', '2': '吊销', '3': '注销', '4': '迁出' },
  /** poverty_alleviation.csv 帮扶状态. */
  BFZT: { '1': '脱贫户', '2': '脱贫不稳定户', '3': '边缘易致贫户', '4': '突发严重困难户' },
} as const;

const DEFAULT_NOW = new Date('2026-11-01T00:00:00+08:00');
const DAY_MS = 86_400_000;
const BEIJING_OFFSET_MS = 8 * 3_600_000;
const WINDOW_MONTHS = 36;
const OLDEST_AGE = 86;
const COUNTY_CODE = '341225';
const COURT_CODE = '皖1225';
const PROVINCE_COUNTY = '安徽省阜阳市阜南县';
/** Second of the day (09:41:27) at which the legacy migration stamped resident rows. */
const RESIDENT_MIGRATION_SECOND = 9 * 3600 + 41 * 60 + 27;

const DDL = `
CREATE TABLE RK_JBXX (
  SFZH TEXT NOT NULL PRIMARY KEY, -- 身份证号码, 18 characters
  XM TEXT NOT NULL,               -- 姓名
  XB TEXT NOT NULL,               -- 性别 1 男 2 女
  MZ TEXT NOT NULL,               -- 民族 GB 3304
  CSRQ TEXT NOT NULL,             -- 出生日期 yyyyMMdd
  HYZK TEXT,                      -- 婚姻状况 GB/T 2261.2
  ZZ TEXT NOT NULL,               -- 住址
  LXDH TEXT,                      -- 联系电话
  HKXZ TEXT NOT NULL,             -- 户口性质 1 城镇 2 农村
  GXSJ TEXT NOT NULL              -- 更新时间 yyyy-MM-dd HH:mm:ss, Beijing time
);
CREATE TABLE SB_JFJL (
  SFZH TEXT NOT NULL,
  JFNY TEXT NOT NULL,             -- 缴费年月 yyyyMM
  CBLX TEXT NOT NULL,             -- 参保类型 1 单位职工 2 灵活就业
  JFJS INTEGER NOT NULL,          -- 缴费基数, fen
  GRJF INTEGER NOT NULL,          -- 个人缴费, fen
  DWJF INTEGER NOT NULL,          -- 单位缴费, fen
  DWMC TEXT,                      -- 单位名称, NULL for flexible employment
  GXSJ TEXT NOT NULL,
  PRIMARY KEY (SFZH, JFNY)
) WITHOUT ROWID;
CREATE TABLE GJJ_JCJL (
  SFZH TEXT NOT NULL,
  JCNY TEXT NOT NULL,             -- 缴存年月 yyyyMM
  YJCE INTEGER NOT NULL,          -- 月缴存额 (personal + employer), fen
  ZHYE INTEGER NOT NULL,          -- 账户余额 at month end, fen
  ZT TEXT NOT NULL,               -- 状态 1 正常 2 封存
  DWMC TEXT NOT NULL,             -- 单位名称
  GXSJ TEXT NOT NULL,
  PRIMARY KEY (SFZH, JCNY)
) WITHOUT ROWID;
CREATE TABLE FC_DJ (
  BDCDYH TEXT NOT NULL PRIMARY KEY, -- 不动产单元号, 28 characters
  SFZH TEXT NOT NULL,               -- 权利人身份证号码
  ZL TEXT NOT NULL,                 -- 坐落
  JZMJ TEXT NOT NULL,               -- 建筑面积 m², decimal text with two places
  PGJZ INTEGER NOT NULL,            -- 评估价值, fen
  DYBZ TEXT NOT NULL,               -- 抵押标志 1/0
  CFBZ TEXT NOT NULL,               -- 查封标志 1/0
  DJRQ TEXT NOT NULL,               -- 登记日期 yyyyMMdd
  GXSJ TEXT NOT NULL
);
CREATE TABLE CL_DJ (
  HPHM TEXT NOT NULL PRIMARY KEY, -- 号牌号码
  SFZH TEXT NOT NULL,             -- 所有人身份证号码
  CLLX TEXT NOT NULL,             -- 车辆类型 GA 24.4
  PPXH TEXT NOT NULL,             -- 品牌型号
  CCDJRQ TEXT NOT NULL,           -- 初次登记日期 yyyyMMdd
  ZT TEXT NOT NULL,               -- 机动车状态 A 正常 G 违法未处理 K 查封
  GXSJ TEXT NOT NULL
);
CREATE TABLE QY_DJ (
  TYSHXYDM TEXT NOT NULL PRIMARY KEY, -- 统一社会信用代码
  QYMC TEXT NOT NULL,                 -- 企业名称
  QYLX TEXT NOT NULL,                 -- 主体类型 1 企业 2 个体工商户 3 农民专业合作社
  FDDBR_SFZH TEXT NOT NULL,           -- 法定代表人/经营者身份证号码
  ZCZB INTEGER NOT NULL,              -- 注册资本, fen
  CLRQ TEXT NOT NULL,                 -- 成立日期 yyyyMMdd
  DJZT TEXT NOT NULL,                 -- 登记状态 1 存续 2 吊销 3 注销 4 迁出
  GXSJ TEXT NOT NULL
);
CREATE TABLE ZX_BZXR (
  AH TEXT NOT NULL PRIMARY KEY, -- 案号
  SFZH TEXT NOT NULL,           -- 被执行人身份证号码
  ZXBD INTEGER NOT NULL,        -- 执行标的, fen
  SXBZ TEXT NOT NULL,           -- 失信标志 1 失信被执行人 0 否
  LARQ TEXT NOT NULL,           -- 立案日期 yyyyMMdd
  JARQ TEXT,                    -- 结案日期 yyyyMMdd, NULL while open
  GXSJ TEXT NOT NULL
);
`;

// Built after the load: sorting once is far cheaper than maintaining indexes row by row. The watermark
// indexes cover (GXSJ, key) so an incremental extractor can page through ties in key order.
const INDEXES = `
CREATE INDEX IX_RK_JBXX_GXSJ ON RK_JBXX (GXSJ, SFZH);
CREATE INDEX IX_SB_JFJL_GXSJ ON SB_JFJL (GXSJ, SFZH, JFNY);
CREATE INDEX IX_GJJ_JCJL_GXSJ ON GJJ_JCJL (GXSJ, SFZH, JCNY);
CREATE INDEX IX_FC_DJ_SFZH ON FC_DJ (SFZH);
CREATE INDEX IX_FC_DJ_GXSJ ON FC_DJ (GXSJ, BDCDYH);
CREATE INDEX IX_CL_DJ_SFZH ON CL_DJ (SFZH);
CREATE INDEX IX_CL_DJ_GXSJ ON CL_DJ (GXSJ, HPHM);
CREATE INDEX IX_QY_DJ_FDDBR_SFZH ON QY_DJ (FDDBR_SFZH);
CREATE INDEX IX_QY_DJ_GXSJ ON QY_DJ (GXSJ, TYSHXYDM);
CREATE INDEX IX_ZX_BZXR_SFZH ON ZX_BZXR (SFZH);
CREATE INDEX IX_ZX_BZXR_GXSJ ON ZX_BZXR (GXSJ, AH);
`;

/** Generates the county database and the poverty CSV. Synchronous; replaces existing files. */
export function generateCounty(opts: CountyOptions): CountySummary {
  const started = performance.now();
  const { seed, residents } = opts;
  if (!Number.isFinite(seed)) {
    throw new RangeError(`generateCounty: seed must be a finite number, got ${seed}`);
  }
  if (!Number.isSafeInteger(residents) || residents < 0) {
    throw new RangeError(`generateCounty: residents must be a non-negative integer, got ${residents}`);
  }
  const now = opts.now ?? DEFAULT_NOW;
  if (Number.isNaN(now.getTime())) throw new RangeError('generateCounty: now is an invalid Date');

  mkdirSync(opts.dir, { recursive: true });
  const dbPath = join(opts.dir, 'county.db');
  const csvPath = join(opts.dir, POVERTY_CSV.file);
  // Write then rename (style rule 6): readers never see a half-written county.
  const dbTemp = temporaryNameFor(dbPath);
  const csvTemp = temporaryNameFor(csvPath);

  const db = new Database(dbTemp);
  let csv: CsvWriter | undefined;
  let counts: Record<CountyTableName, number>;
  let csvRows: number;
  try {
    csv = new CsvWriter(csvTemp);
    // Bulk-load settings: no rollback journal, no fsync per commit, a bigger page cache.
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.pragma('cache_size = -65536');
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec(DDL);
    const generator = new CountyGenerator(db, csv, seed, residents, now);
    db.exec('BEGIN');
    generator.run(opts.onProgress);
    db.exec(INDEXES);
    db.exec('COMMIT');
    db.exec('PRAGMA analysis_limit = 1000; ANALYZE;');
    // Back to ordinary durable settings before anyone else opens the file.
    db.pragma('locking_mode = NORMAL');
    db.pragma('journal_mode = DELETE');
    db.pragma('synchronous = FULL');
    counts = generator.counts;
    csvRows = csv.rows;
    csv.close();
    db.close();
  } catch (error) {
    csv?.abandon();
    if (db.open) db.close();
    rmSync(dbTemp, { force: true });
    throw error;
  }
  // A journal or WAL left beside an old county.db would be applied to the new one.
  for (const suffix of ['-wal', '-shm', '-journal']) rmSync(dbPath + suffix, { force: true });
  renameSync(dbTemp, dbPath);
  renameSync(csvTemp, csvPath);

  return {
    dbPath,
    csvPath,
    tables: { ...counts },
    csvRows,
    seconds: (performance.now() - started) / 1000,
  };
}

/** Streams GB18030 CSV rows to a file with CRLF line endings, buffering about 1 MB at a time. */
class CsvWriter {
  rows = 0;
  private readonly fd: number;
  private readonly buffer = new Uint8Array(1 << 20);
  private used = 0;
  private readonly encoded = new Map<string, Uint8Array>();

  constructor(private readonly path: string) {
    this.fd = openSync(path, 'w');
    this.writeLine(POVERTY_CSV.header);
  }

  addRow(fields: readonly string[]): void {
    this.writeLine(fields);
    this.rows++;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }

  abandon(): void {
    try {
      closeSync(this.fd);
    } finally {
      rmSync(this.path, { force: true });
    }
  }

  private writeLine(fields: readonly string[]): void {
    fields.forEach((field, i) => {
      if (i > 0) this.put(COMMA);
      // Values here never contain commas, quotes or line breaks; refuse rather than write a broken row.
      if (/[",\r\n]/.test(field)) throw new Error(`CSV field needs quoting: ${JSON.stringify(field)}`);
      this.put(this.encode(field));
    });
    this.put(CRLF);
  }

  private encode(text: string): Uint8Array {
    let bytes = this.encoded.get(text);
    if (!bytes) {
      bytes = encodeGb18030(text);
      // Names and codes repeat; ID numbers do not and are ASCII anyway, so only cache short non-ASCII text.
      if (this.encoded.size < 100_000 && bytes.length !== text.length) this.encoded.set(text, bytes);
    }
    return bytes;
  }

  private put(bytes: Uint8Array): void {
    if (this.used + bytes.length > this.buffer.length) this.flush();
    this.buffer.set(bytes, this.used);
    this.used += bytes.length;
  }

  private flush(): void {
    let offset = 0;
    while (offset < this.used) offset += writeSync(this.fd, this.buffer, offset, this.used - offset);
    this.used = 0;
  }
}

const COMMA = Uint8Array.of(0x2c);
const CRLF = Uint8Array.of(0x0d, 0x0a);

/** Civil dates as day numbers (days since 1970-01-01), with cached 'yyyyMMdd' and 'yyyy-MM-dd' text. */
class Calendar {
  /** Day number of `now` in Beijing. */
  readonly today: number;
  readonly todayYear: number;
  readonly todayMonth: number;
  readonly todayDate: number;
  private readonly first: number;
  private readonly compactText: string[] = [];
  private readonly dashedText: string[] = [];

  constructor(now: Date) {
    const local = new Date(now.getTime() + BEIJING_OFFSET_MS);
    this.todayYear = local.getUTCFullYear();
    this.todayMonth = local.getUTCMonth() + 1;
    this.todayDate = local.getUTCDate();
    this.today = Calendar.day(this.todayYear, this.todayMonth, this.todayDate);
    this.first = Calendar.day(this.todayYear - OLDEST_AGE - 1, 1, 1);
    for (let day = this.first; day <= this.today; day++) {
      const date = new Date(day * DAY_MS);
      const y = String(date.getUTCFullYear()).padStart(4, '0');
      const m = String(date.getUTCMonth() + 1).padStart(2, '0');
      const d = String(date.getUTCDate()).padStart(2, '0');
      this.compactText.push(`${y}${m}${d}`);
      this.dashedText.push(`${y}-${m}-${d}`);
    }
  }

  static day(year: number, month: number, date: number): number {
    return Math.round(Date.UTC(year, month - 1, date) / DAY_MS);
  }

  /** 'yyyyMMdd' */
  compact(day: number): string {
    const text = this.compactText[day - this.first];
    if (text === undefined) throw new RangeError(`day ${day} is outside the calendar`);
    return text;
  }

  /** 'yyyy-MM-dd HH:mm:ss' for a day and a second of that day, Beijing time. */
  timestamp(day: number, second: number): string {
    const text = this.dashedText[day - this.first];
    if (text === undefined) throw new RangeError(`day ${day} is outside the calendar`);
    return `${text} ${clock(second)}`;
  }

  year(day: number): number {
    return Number(this.compact(day).slice(0, 4));
  }

  /** The same month and date `years` later (28 February for 29 February in a common year). */
  addYears(day: number, years: number): number {
    const text = this.compact(day);
    const y = Number(text.slice(0, 4)) + years;
    const m = Number(text.slice(4, 6));
    const d = Number(text.slice(6, 8));
    const shifted = Calendar.day(y, m, d);
    return new Date(shifted * DAY_MS).getUTCDate() === d ? shifted : Calendar.day(y, m + 1, 0);
  }
}

function clock(second: number): string {
  const h = Math.floor(second / 3600);
  const m = Math.floor(second / 60) % 60;
  const s = second % 60;
  return `${h < 10 ? '0' : ''}${h}:${m < 10 ? '0' : ''}${m}:${s < 10 ? '0' : ''}${s}`;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** One month of the 36-month contribution window. */
interface WindowMonth {
  /** 'yyyyMM' */
  readonly text: string;
  /** year * 12 + (month - 1) */
  readonly index: number;
  readonly year: number;
  readonly month: number;
  /** Day numbers of the 25th and the 28th: the social-security and provident-fund batch runs. */
  readonly sbDay: number;
  readonly gjjDay: number;
  readonly sbStamp: string;
  readonly gjjStamp: string;
}

interface Person {
  readonly sfzh: string;
  readonly surname: string;
  readonly name: string;
  readonly birthDay: number;
  readonly birthMonthIndex: number;
  readonly age: number;
  readonly urban: boolean;
  /** Hidden economic standing, roughly standard normal, shifted by household type and age. */
  readonly standing: number;
  readonly town: string;
  readonly address: string;
  readonly forcedAstral: boolean;
}

/** Streams residents in ascending SFZH order and everything that hangs off each of them. */
class CountyGenerator {
  private readonly rng: Prng;
  private readonly births: Prng;
  private readonly cal: Calendar;
  private readonly months: WindowMonth[] = [];
  private readonly birthCdf: Float64Array;
  private readonly birthFirstDay: number;
  /** Stamp of the one-off migration that loaded the legacy records (many rows share it). */
  private readonly migrationDay: number;

  private readonly insert: Record<CountyTableName, BatchInsert>;
  private readonly surnames = new WeightedPicker(SURNAMES);
  private readonly ethnicities = new WeightedPicker(ETHNICITIES);
  private readonly urbanVehicles = new WeightedPicker(VEHICLE_TYPES_URBAN);
  private readonly ruralVehicles = new WeightedPicker(VEHICLE_TYPES_RURAL);
  private readonly employers: string[];

  private forcedAstralCount = 0;
  private vehicleCount = 0;
  private enterpriseCount = 0;
  private readonly parcelCounters = new Map<string, number>();
  private readonly caseCounters = new Map<number, number>();
  private readonly plateOffset: number;
  private readonly orgOffset: number;

  constructor(
    db: Database.Database,
    private readonly csv: CsvWriter,
    seed: number,
    private readonly residents: number,
    now: Date,
  ) {
    this.rng = new Prng(seed, 0);
    this.births = new Prng(seed, 1);
    this.cal = new Calendar(now);
    this.plateOffset = this.rng.int(PLATE_SPACE);
    this.orgOffset = this.rng.int(ORG_SPACE);
    this.migrationDay = this.cal.today - 1300 + this.rng.int(60);

    const currentMonth = this.cal.todayYear * 12 + this.cal.todayMonth - 1;
    for (let i = 0; i < WINDOW_MONTHS; i++) {
      const index = currentMonth - WINDOW_MONTHS + i;
      const year = Math.floor(index / 12);
      const month = (index % 12) + 1;
      const sbDay = Calendar.day(year, month, 25);
      const gjjDay = Calendar.day(year, month, 28);
      this.months.push({
        text: `${year}${pad(month, 2)}`,
        index,
        year,
        month,
        sbDay,
        gjjDay,
        sbStamp: this.cal.timestamp(sbDay, 1 * 3600 + 30 * 60),
        gjjStamp: this.cal.timestamp(gjjDay, 3 * 3600),
      });
    }

    // Birth dates: weights by age in whole years at `now`; ages 18-75 dominate, some minors and elderly.
    this.birthFirstDay = this.cal.addYears(this.cal.today, -OLDEST_AGE) + 1;
    this.birthCdf = new Float64Array(this.cal.today - this.birthFirstDay);
    let total = 0;
    for (let day = this.birthFirstDay; day < this.cal.today; day++) {
      total += ageWeight(this.ageOn(day, this.cal.today));
      this.birthCdf[day - this.birthFirstDay] = total;
    }
    for (let i = 0; i < this.birthCdf.length; i++) this.birthCdf[i] = (this.birthCdf[i] ?? 0) / total;

    this.employers = [];
    for (const name of TRADE_NAMES) {
      for (const trade of TRADES) {
        this.employers.push(`${this.rng.chance(0.8) ? '阜南县' : '安徽'}${name}${trade}有限公司`);
      }
    }

    this.insert = {
      RK_JBXX: new BatchInsert(db, 'RK_JBXX', 10),
      SB_JFJL: new BatchInsert(db, 'SB_JFJL', 8),
      GJJ_JCJL: new BatchInsert(db, 'GJJ_JCJL', 7),
      FC_DJ: new BatchInsert(db, 'FC_DJ', 9),
      CL_DJ: new BatchInsert(db, 'CL_DJ', 7),
      QY_DJ: new BatchInsert(db, 'QY_DJ', 8),
      ZX_BZXR: new BatchInsert(db, 'ZX_BZXR', 7),
    };
  }

  run(onProgress?: (done: number, total: number) => void): void {
    const regions = [...ID_REGIONS].sort(([a], [b]) => a.localeCompare(b));
    const allocation = allocate(
      this.residents,
      regions.map(([, weight]) => weight),
    );
    const step = Math.max(1000, Math.ceil(this.residents / 200));
    let done = 0;
    onProgress?.(0, this.residents);
    regions.forEach(([region], r) => {
      const n = allocation[r] ?? 0;
      // Order statistics of n uniforms, drawn from the largest down (u_k = u_{k+1} * U^(1/k)), so
      // that 1 - u rises: birth dates come out sorted and IDs in ascending order without sorting.
      let u = 1;
      let lastDay = -Infinity;
      let lastSeq = 0;
      for (let k = n; k >= 1; k--) {
        u *= Math.pow(this.births.nextOpen(), 1 / k);
        let day = Math.max(this.birthDayAt(1 - u), lastDay);
        if (day !== lastDay) lastSeq = 0;
        const male = this.rng.chance(0.51);
        // Sequence number: rising within a (region, birth date), odd for men and even for women.
        let seq = lastSeq + 1 + this.births.int(6);
        if ((seq % 2 === 1) !== male) seq++;
        if (seq > 999) {
          seq = lastSeq + 1;
          if ((seq % 2 === 1) !== male) seq++;
        }
        if (seq > 999) {
          // Full day (only with millions of residents): the person is born a day later instead.
          day++;
          seq = male ? 1 : 2;
        }
        lastDay = day;
        lastSeq = seq;
        this.person(region, day, seq, male, done);
        done++;
        if (done % step === 0) onProgress?.(done, this.residents);
      }
    });
    for (const insert of Object.values(this.insert)) insert.flush();
    if (this.residents % step !== 0) onProgress?.(done, this.residents);
  }

  /** Rows written per table. */
  get counts(): Record<CountyTableName, number> {
    const counts = {} as Record<CountyTableName, number>;
    for (const [table, insert] of Object.entries(this.insert)) counts[table as CountyTableName] = insert.rows;
    return counts;
  }

  /** A random day from `earliest` to yesterday, or undefined when there is no such day. */
  private dayFrom(earliest: number): number | undefined {
    const span = this.cal.today - earliest;
    return span < 1 ? undefined : earliest + this.rng.int(span);
  }

  /** Whole years from `birth` to `on`. */
  private ageOn(birth: number, on: number): number {
    const b = this.cal.compact(birth);
    const o = this.cal.compact(on);
    const years = Number(o.slice(0, 4)) - Number(b.slice(0, 4));
    return o.slice(4) < b.slice(4) ? years - 1 : years;
  }

  private birthDayAt(x: number): number {
    const cdf = this.birthCdf;
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cdf[mid] ?? 1) > x) hi = mid;
      else lo = mid + 1;
    }
    return this.birthFirstDay + lo;
  }

  private person(region: string, birthDay: number, seq: number, male: boolean, index: number): void {
    const rng = this.rng;
    const cal = this.cal;
    const csrq = cal.compact(birthDay);
    const first17 = `${region}${csrq}${pad(seq, 3)}`;
    const sfzh = first17 + residentIdCheckChar(first17);
    const age = this.ageOn(birthDay, cal.today);

    // A few early residents get a four-byte name and a place on the poverty roll, so that even a small
    // county's CSV exercises four-byte GB18030.
    const forcedAstral = this.forcedAstralCount < 3 && index % 16 === 5;
    if (forcedAstral) this.forcedAstralCount++;

    const urban = !forcedAstral && rng.chance(age >= 22 && age <= 45 ? 0.34 : 0.24);
    const ageEffect = age < 18 ? -0.5 : age < 26 ? -0.3 : age <= 50 ? 0.2 : age <= 60 ? 0 : -0.4;
    const standing = rng.normal() + (urban ? 0.7 : 0) + ageEffect;
    const town = urban ? (rng.chance(0.85) ? '鹿城镇' : rng.pick(TOWNS)) : rng.pick(TOWNS);
    const address = urban ? this.urbanAddress(town) : this.ruralAddress(town);
    const surname = this.surnames.pick(rng);
    const name = surname + this.givenName(male, age, forcedAstral);

    const p: Person = {
      sfzh,
      surname,
      name,
      birthDay,
      birthMonthIndex: this.monthIndexOf(birthDay),
      age,
      urban,
      standing,
      town,
      address,
      forcedAstral,
    };

    this.insert.RK_JBXX.add(
      sfzh,
      name,
      male ? '1' : '2',
      this.ethnicities.pick(rng),
      csrq,
      this.maritalStatus(age),
      address,
      this.phone(age),
      urban ? '1' : '2',
      this.residentStamp(birthDay),
    );

    const work = this.contributions(p);
    const enterprises = this.enterprises(p);
    const openCases = this.enforcement(p, enterprises);
    this.properties(p, work.providentFund, openCases);
    this.vehicles(p, openCases);
    this.poverty(p);
  }

  private monthIndexOf(day: number): number {
    const text = this.cal.compact(day);
    return Number(text.slice(0, 4)) * 12 + Number(text.slice(4, 6)) - 1;
  }

  private givenName(male: boolean, age: number, forcedAstral: boolean): string {
    const rng = this.rng;
    const pool = male ? GIVEN_MALE : GIVEN_FEMALE;
    const choose = (): string => (rng.chance(0.2) ? rng.pick(GIVEN_ANY) : rng.pick(pool));
    // Older people more often have one-character given names.
    const given = [choose()];
    if (rng.chance(age > 50 ? 0.55 : 0.75)) given.push(choose());
    if (forcedAstral || rng.chance(0.03)) {
      const rare = forcedAstral || rng.chance(0.4) ? rng.pick(RARE_GIVEN_ASTRAL) : rng.pick(RARE_GIVEN);
      given[given.length - 1] = rare;
    }
    return given.join('');
  }

  private maritalStatus(age: number): string {
    const rng = this.rng;
    if (age < 20) return '10';
    if (rng.chance(0.01)) return '90';
    const single = age < 25 ? 0.7 : age < 30 ? 0.35 : age < 40 ? 0.1 : 0.04;
    if (rng.chance(single)) return '10';
    const widowed = age < 55 ? 0.01 : age < 70 ? 0.06 : 0.2;
    if (rng.chance(widowed)) return '30';
    return rng.chance(0.06) ? '40' : '20';
  }

  private phone(age: number): string | null {
    const rng = this.rng;
    if (age < 16 && rng.chance(0.7)) return null;
    if (age >= 70 && rng.chance(0.35)) return `0558-${rng.range(6, 8)}${pad(rng.int(1_000_000), 6)}`;
    if (rng.chance(0.02)) return null;
    return `${rng.pick(MOBILE_PREFIXES)}${pad(rng.int(100_000_000), 8)}`;
  }

  private urbanAddress(town: string): string {
    const rng = this.rng;
    if (town === '鹿城镇') {
      return (
        `${PROVINCE_COUNTY}鹿城镇${rng.pick(URBAN_ROADS)}${rng.range(1, 399)}号${rng.pick(ESTATES)}` +
        `${rng.range(1, 32)}栋${rng.range(1, 4)}单元${rng.range(1, 18)}0${rng.range(1, 4)}室`
      );
    }
    return `${PROVINCE_COUNTY}${town}${this.village()}社区${rng.range(1, 300)}号`;
  }

  private ruralAddress(town: string): string {
    const rng = this.rng;
    return `${PROVINCE_COUNTY}${town}${this.village()}村${rng.range(1, 16)}组${rng.range(1, 120)}号`;
  }

  /** A village named after a clan: first character of a surname (by code point) and a suffix, 李庄. */
  private village(): string {
    const [first = '李'] = this.surnames.pick(this.rng);
    return first + this.rng.pick(VILLAGE_SUFFIXES);
  }

  /** GXSJ of a resident row: the legacy migration, a nightly batch, or a clerk's edit. */
  private residentStamp(birthDay: number): string {
    const rng = this.rng;
    const cal = this.cal;
    // Children born since the migration were registered (落户) within weeks of birth.
    if (birthDay + 60 > this.migrationDay) {
      return this.registrationStamp(
        Math.min(birthDay + rng.range(7, 60), cal.today - 1),
        RESIDENT_MIGRATION_SECOND,
      );
    }
    const roll = rng.next();
    if (roll < 0.55) return cal.timestamp(this.migrationDay, RESIDENT_MIGRATION_SECOND);
    const day = this.migrationDay + 1 + rng.int(cal.today - 1 - this.migrationDay);
    if (roll < 0.9) return cal.timestamp(day, 2 * 3600);
    return cal.timestamp(day, rng.range(8 * 3600 + 30 * 60, 17 * 3600 + 30 * 60));
  }

  /** GXSJ of a registration made on `day`: migrated rows share one stamp, later ones are clerks' edits. */
  private registrationStamp(day: number, migrationSecond: number): string {
    const rng = this.rng;
    if (day <= this.migrationDay) return this.cal.timestamp(this.migrationDay, migrationSecond);
    if (rng.chance(0.5)) return this.cal.timestamp(Math.min(day + 1, this.cal.today - 1), 2 * 3600);
    return this.cal.timestamp(day, rng.range(8 * 3600 + 30 * 60, 17 * 3600 + 30 * 60));
  }

  /** A correction after the batch stamp, before today (补缴/更正); undefined if there is no room. */
  private correctionStamp(afterDay: number): string | undefined {
    const room = this.cal.today - 1 - afterDay;
    if (room < 1) return undefined;
    return this.cal.timestamp(afterDay + 1 + this.rng.int(room), this.rng.range(8 * 3600, 18 * 3600));
  }

  /** Social-security and provident-fund months; returns whether the person has a provident-fund account. */
  private contributions(p: Person): { providentFund: boolean } {
    const rng = this.rng;
    // Contributions stop at 65; someone 68 today was 65 when the window opened.
    if (p.age < 18 || p.age >= 68) return { providentFund: false };
    const insured = rng.chance(sigmoid(1.55 + 1.0 * p.standing + (p.urban ? 0.6 : 0)));
    if (!insured) return { providentFund: false };
    const formal = rng.chance(sigmoid(0.1 + 1.0 * p.standing + (p.urban ? 1.0 : 0)));
    const publicSector = formal && rng.chance(sigmoid(-2.2 + 0.8 * p.standing + (p.urban ? 0.8 : 0)));
    const providentFund = formal && rng.chance(sigmoid(-0.2 + 1.2 * p.standing + (publicSector ? 3 : 0)));
    const gjjRate = publicSector ? 0.12 : rng.pick([0.05, 0.05, 0.06, 0.08, 0.1, 0.12]);

    let employer = publicSector ? rng.pick(PUBLIC_EMPLOYERS) : rng.pick(this.employers);
    // Personal base in yuan at the start of the window; the floor rises ~4% a year.
    let base =
      4200 * Math.exp(Math.max(0, 0.35 * p.standing + 0.25 * rng.normal()) + (publicSector ? 0.3 : 0));
    const stopChance = formal ? Math.min(0.05, Math.max(0.005, 0.02 - 0.01 * p.standing)) : 0.06;
    const resumeChance = formal ? 0.15 : 0.12;

    const firstMonth = this.months[0];
    if (!firstMonth) return { providentFund: false };
    let paying = rng.chance(0.85);
    let balance = providentFund && paying ? Math.round(base * gjjRate * 2 * rng.range(6, 120)) * 100 : 0;
    let accountOpen = balance > 0;

    for (const month of this.months) {
      const ageMonths = month.index - p.birthMonthIndex;
      // Bases are reset every January; the floor follows the average wage, up ~4% a year.
      if (month.month === 1 && month !== firstMonth) base *= 1 + rng.range(1, 6) / 100;
      if (ageMonths < 18 * 12 || ageMonths >= 65 * 12) {
        paying = false;
      } else if (paying) {
        if (rng.chance(stopChance)) paying = false;
      } else if (rng.chance(resumeChance)) {
        paying = true;
        if (!publicSector && rng.chance(0.5)) employer = rng.pick(this.employers);
      }

      // Contribution base between the year's floor and ceiling; flexible workers pay on the floor.
      const floor = 4200 * Math.pow(1.04, month.year - firstMonth.year);
      const baseYuan = Math.round(Math.min(22_000, Math.max(floor, formal ? base : floor)));
      if (paying) {
        const jfjs = baseYuan * 100;
        const stamp = rng.chance(0.05) ? (this.correctionStamp(month.sbDay) ?? month.sbStamp) : month.sbStamp;
        if (formal) {
          this.insert.SB_JFJL.add(
            p.sfzh,
            month.text,
            '1',
            jfjs,
            Math.round(jfjs * 0.105),
            Math.round(jfjs * 0.245),
            employer,
            stamp,
          );
        } else {
          this.insert.SB_JFJL.add(p.sfzh, month.text, '2', jfjs, Math.round(jfjs * 0.2), 0, null, stamp);
        }
      }

      if (providentFund && (paying || accountOpen)) {
        accountOpen = true;
        const deposit = paying ? Math.round(baseYuan * gjjRate) * 2 * 100 : 0;
        balance += deposit;
        // Annual interest on 30 June, occasional withdrawals (house purchase, rent).
        if (month.month === 6) balance += Math.round(balance * 0.015);
        if (rng.chance(0.01)) balance -= Math.round(balance * rng.range(40, 100)) / 100;
        balance = Math.max(0, Math.round(balance));
        this.insert.GJJ_JCJL.add(
          p.sfzh,
          month.text,
          deposit,
          balance,
          paying ? '1' : '2',
          employer,
          month.gjjStamp,
        );
      }
    }
    return { providentFund };
  }

  /** Businesses the person is the legal representative of; returns how many. */
  private enterprises(p: Person): number {
    const rng = this.rng;
    if (p.age < 20) return 0;
    const working = p.age >= 25 && p.age <= 65;
    if (!rng.chance(sigmoid(-3.6 + 0.7 * p.standing + (working ? 0.6 : -2)))) return 0;
    const count = rng.chance(0.1) ? 2 : 1;
    for (let i = 0; i < count; i++) {
      const roll = rng.next();
      const type = p.urban ? (roll < 0.5 ? '1' : '2') : roll < 0.2 ? '1' : roll < 0.75 ? '2' : '3';
      const tradeName = rng.pick(TRADE_NAMES);
      let name: string;
      let capitalYuan: number;
      if (type === '1') {
        name = `阜南县${tradeName}${rng.pick(TRADES)}有限公司`;
        capitalYuan = rng.pick([50, 100, 200, 300, 500, 1000]) * 10_000;
      } else if (type === '2') {
        name = `阜南县${p.town}${p.surname}${tradeName}${rng.pick(SHOP_TRADES)}`;
        capitalYuan = rng.range(3, 50) * 10_000;
      } else {
        const product = rng.pick(COOP_PRODUCTS);
        const kind = ['生猪', '肉牛', '水产'].includes(product) ? '养殖' : '种植';
        name = `阜南县${tradeName}${product}${kind}专业合作社`;
        capitalYuan = rng.range(10, 200) * 10_000;
      }
      const clrq = this.dayFrom(Math.max(this.cal.addYears(p.birthDay, 20), this.cal.today - 20 * 365));
      if (clrq === undefined) return i;
      const statusRoll = rng.next();
      const status = statusRoll < 0.75 ? '1' : statusRoll < 0.83 ? '2' : statusRoll < 0.98 ? '3' : '4';
      this.insert.QY_DJ.add(
        this.creditCode(type),
        name,
        type,
        p.sfzh,
        capitalYuan * 100,
        this.cal.compact(clrq),
        status,
        this.registrationStamp(clrq, 10 * 3600 + 5 * 60 + 11),
      );
    }
    return count;
  }

  /** A unique credit code: the organisation-code body walks a permutation of 10^8 numbers. */
  private creditCode(type: string): string {
    const body = pad((this.orgOffset + this.enterpriseCount++ * ORG_STRIDE) % ORG_SPACE, 8);
    const first17 = `9${type}${COUNTY_CODE}${body}${orgCodeCheckChar(body)}`;
    const code = first17 + unifiedCreditCodeCheckChar(first17);
    if (!isValidUnifiedCreditCode(code)) throw new Error(`generated an invalid credit code ${code}`);
    return code;
  }

  /** Court enforcement cases; returns how many are still open. */
  private enforcement(p: Person, enterprises: number): number {
    const rng = this.rng;
    if (p.age < 20) return 0;
    const chance = sigmoid(
      -3.85 - 0.9 * p.standing + (enterprises > 0 ? 1.3 : 0) + (p.age >= 25 && p.age <= 60 ? 0.5 : -0.5),
    );
    if (!rng.chance(chance)) return 0;
    const cases = 1 + (rng.chance(0.25) ? 1 + rng.poisson(0.5) : 0);
    let open = 0;
    const earliest = Math.max(this.cal.addYears(p.birthDay, 20), this.cal.today - 6 * 365);
    for (let i = 0; i < cases; i++) {
      const larq = this.dayFrom(earliest);
      if (larq === undefined) break;
      const closeDay = larq + rng.range(30, 700);
      const closed = rng.chance(0.55) && closeDay < this.cal.today;
      if (!closed) open++;
      const dishonest = rng.chance(closed ? 0.2 : 0.45);
      const amountYuan = Math.min(5_000_000, Math.max(2000, Math.exp(Math.log(50_000) + rng.normal())));
      const year = this.cal.year(larq);
      const number = (this.caseCounters.get(year) ?? 0) + 1 + rng.int(3);
      this.caseCounters.set(year, number);
      const lastEvent = closed ? closeDay : larq;
      this.insert.ZX_BZXR.add(
        `（${year}）${COURT_CODE}执${number}号`,
        p.sfzh,
        Math.round(amountYuan * 100),
        dishonest ? '1' : '0',
        this.cal.compact(larq),
        closed ? this.cal.compact(closeDay) : null,
        // The court system syncs nightly at 23:00 on the day of the latest event.
        this.cal.timestamp(Math.min(lastEvent, this.cal.today - 1), 23 * 3600),
      );
    }
    return open;
  }

  private properties(p: Person, providentFund: boolean, openCases: number): void {
    const rng = this.rng;
    if (p.age < 18) return;
    const ageEffect = p.age < 25 ? -1.2 : p.age <= 65 ? 0.3 : 0;
    const mean = Math.exp(
      -1.6 + 0.55 * p.standing + (p.urban ? 0.7 : 0) + (providentFund ? 0.4 : 0) + ageEffect,
    );
    const count = Math.min(4, rng.poisson(mean));
    const earliest = Math.max(this.cal.addYears(p.birthDay, 20), Calendar.day(2005, 1, 1));
    for (let i = 0; i < count; i++) {
      // The first property of a rural household is the homestead house; others are flats in a town.
      const homestead = !p.urban && i === 0;
      const town = homestead ? p.town : rng.chance(0.8) ? '鹿城镇' : rng.pick(TOWNS);
      const location = i === 0 ? p.address : this.urbanAddress(town);
      const area = homestead ? 100 + 40 * Math.abs(rng.normal()) : Math.max(45, 95 + 22 * rng.normal());
      const areaCenti = Math.round(area * 100);
      const pricePerM2 = homestead ? 1500 + 300 * rng.normal() : 5600 + 900 * rng.normal();
      const valueYuan = Math.max(
        50_000,
        Math.round(((areaCenti / 100) * Math.max(800, pricePerM2)) / 100) * 100,
      );
      const djrq = this.dayFrom(earliest);
      if (djrq === undefined) return;
      const recent = this.cal.today - djrq < 10 * 365;
      this.insert.FC_DJ.add(
        this.unitNumber(town, homestead),
        p.sfzh,
        location,
        `${Math.floor(areaCenti / 100)}.${pad(areaCenti % 100, 2)}`,
        valueYuan * 100,
        !homestead && recent && rng.chance(0.5) ? '1' : '0',
        openCases > 0 && rng.chance(0.4) ? '1' : '0',
        this.cal.compact(djrq),
        this.registrationStamp(djrq, 14 * 3600 + 2 * 60 + 9),
      );
    }
  }

  /**
   * 不动产单元号: county code, town (3) and block (3), land feature code (GB state-owned construction
   * land, JC collective homestead), parcel (5), F and building/unit (8). Unique through a counter per
   * (town, land type).
   */
  private unitNumber(town: string, homestead: boolean): string {
    const land = homestead ? 'JC' : 'GB';
    const townCode = pad(Math.max(0, TOWNS.indexOf(town)) + 1, 3);
    const counterKey = townCode + land;
    const n = this.parcelCounters.get(counterKey) ?? 0;
    this.parcelCounters.set(counterKey, n + 1);
    const block = Math.floor(n / 10_000_000);
    const parcel = Math.floor(n / 100) % 100_000;
    return `${COUNTY_CODE}${townCode}${pad(block + 1, 3)}${land}${pad(parcel + 1, 5)}F${pad(Math.floor((n % 100) / 10) + 1, 4)}${pad((n % 10) + 1, 4)}`;
  }

  private vehicles(p: Person, openCases: number): void {
    const rng = this.rng;
    if (p.age < 18) return;
    const ageEffect = p.age >= 22 && p.age <= 60 ? 0.4 : p.age > 75 ? -2 : -0.5;
    if (!rng.chance(sigmoid(-1.3 + 0.8 * p.standing + (p.urban ? 0.5 : 0) + ageEffect))) return;
    const count = rng.chance(0.15) ? 2 : 1;
    const earliest = Math.max(this.cal.addYears(p.birthDay, 18), this.cal.today - 15 * 365);
    for (let i = 0; i < count; i++) {
      const type = (p.urban ? this.urbanVehicles : this.ruralVehicles).pick(rng);
      const models = VEHICLE_MODELS[type] ?? [];
      const ccdjrq = this.dayFrom(earliest);
      if (ccdjrq === undefined) return;
      const status = openCases > 0 && rng.chance(0.3) ? 'K' : rng.chance(0.05) ? 'G' : 'A';
      this.insert.CL_DJ.add(
        this.plate(),
        p.sfzh,
        type,
        rng.pick(models),
        this.cal.compact(ccdjrq),
        status,
        this.registrationStamp(ccdjrq, 16 * 3600 + 45 * 60 + 3),
      );
    }
  }

  /** A unique plate: vehicle n maps to a permutation of the plate space; later blocks use other cities. */
  private plate(): string {
    const n = this.vehicleCount++;
    const prefix = PLATE_PREFIXES[Math.floor(n / PLATE_SPACE)];
    if (prefix === undefined) throw new Error('synthetic county: plate numbers exhausted');
    return prefix + plateText((this.plateOffset + (n % PLATE_SPACE) * PLATE_STRIDE) % PLATE_SPACE);
  }

  private poverty(p: Person): void {
    const rng = this.rng;
    const chance = p.urban ? 0.01 : sigmoid(-2.75 - 1.0 * p.standing + (p.age > 60 ? 0.5 : 0));
    if (!p.forcedAstral && !rng.chance(chance)) return;
    const roll = rng.next();
    const thisYear = this.cal.todayYear;
    let status: string;
    let year: number;
    if (roll < 0.7) {
      status = '1';
      year = Math.min(thisYear, rng.range(2014, 2020));
    } else {
      status = roll < 0.82 ? '2' : roll < 0.94 ? '3' : '4';
      year = Math.min(thisYear, rng.range(2021, Math.max(2021, thisYear)));
    }
    this.csv.addRow([p.sfzh, p.name, status, String(year)]);
  }
}

/**
 * Inserts rows in groups of BATCH_ROWS per statement (one multi-row INSERT), which roughly halves the
 * per-row cost of the driver; the remainder goes through a single-row statement at flush().
 */
class BatchInsert {
  rows = 0;
  private readonly single: Database.Statement;
  private readonly multi: Database.Statement;
  private readonly pending: unknown[] = [];

  constructor(
    db: Database.Database,
    table: CountyTableName,
    private readonly columns: number,
  ) {
    const tuple = `(${new Array<string>(columns).fill('?').join(',')})`;
    this.single = db.prepare(`INSERT INTO ${table} VALUES ${tuple}`);
    this.multi = db.prepare(
      `INSERT INTO ${table} VALUES ${new Array<string>(BATCH_ROWS).fill(tuple).join(',')}`,
    );
  }

  add(...values: unknown[]): void {
    if (values.length !== this.columns)
      throw new Error(`expected ${this.columns} values, got ${values.length}`);
    this.pending.push(...values);
    this.rows++;
    if (this.pending.length === this.columns * BATCH_ROWS) {
      this.multi.run(this.pending);
      this.pending.length = 0;
    }
  }

  flush(): void {
    for (let i = 0; i < this.pending.length; i += this.columns) {
      this.single.run(this.pending.slice(i, i + this.columns));
    }
    this.pending.length = 0;
  }
}

const BATCH_ROWS = 32;

/** Splits n over weights by largest remainder, so the parts sum to n exactly. */
function allocate(n: number, weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  const exact = weights.map((w) => (n * w) / total);
  const parts = exact.map(Math.floor);
  let left = n - parts.reduce((a, b) => a + b, 0);
  const order = exact
    .map((x, i) => [x - Math.floor(x), i] as const)
    .sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) {
    if (left-- <= 0) break;
    parts[i] = (parts[i] ?? 0) + 1;
  }
  return parts;
}

/** Relative weight of an age (in whole years) among residents. */
function ageWeight(age: number): number {
  if (age < 18) return 0.35;
  if (age < 30) return 1.5;
  if (age <= 60) return 2.0;
  if (age <= 75) return 1.6;
  return Math.max(0.05, 0.7 - (age - 76) * 0.07);
}

// Plates: 皖K then five characters in the patterns ddddd, Ldddd and LLddd (letters without I and O,
// as on real plates); new-energy plates are left out. After 916,000 vehicles other cities' prefixes follow.
const PLATE_LETTERS = 'ABCDEFGHJKLMNPQRSTUVWXYZ';
const PLATE_SPACE = 100_000 + 24 * 10_000 + 24 * 24 * 1000; // 916,000
const PLATE_STRIDE = 387_799; // coprime with PLATE_SPACE = 2^5 * 5^3 * 229 (checked below)
const PLATE_PREFIXES = ['皖K', '皖A', '皖B', '皖C'];
const ORG_SPACE = 100_000_000;
const ORG_STRIDE = 48_271; // prime, coprime with 10^8

function plateText(n: number): string {
  if (n < 100_000) return pad(n, 5);
  n -= 100_000;
  if (n < 240_000) return (PLATE_LETTERS[Math.floor(n / 10_000)] ?? 'A') + pad(n % 10_000, 4);
  n -= 240_000;
  const letters = Math.floor(n / 1000);
  return (
    (PLATE_LETTERS[Math.floor(letters / 24)] ?? 'A') + (PLATE_LETTERS[letters % 24] ?? 'A') + pad(n % 1000, 3)
  );
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
if (gcd(PLATE_STRIDE, PLATE_SPACE) !== 1 || gcd(ORG_STRIDE, ORG_SPACE) !== 1) {
  throw new Error('synthetic county: permutation strides must be coprime with their spaces');
}
