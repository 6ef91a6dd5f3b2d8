// Reads one person's government records as contract rows, for portraits (design 7), from a SQLite
// source laid out like the synthetic county (RK_JBXX, SB_JFJL, ...) plus the poverty-alleviation CSV.
// Every row goes through the same mapping engine and contracts as an export (shared/mapping.ts), so a
// portrait is computed from exactly what the contracts say, and only on the government side.
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { CONTRACTS, type DataContract } from '../../shared/contracts.js';
import {
  ColumnMappingSchema,
  compileMapping,
  type CompiledMapping,
  type ContractValue,
  type SourceValue,
} from '../../shared/mapping.js';
import type { PersonRecords } from '../../shared/portrait.js';

type Dataset =
  | 'residents'
  | 'social_security'
  | 'provident_fund'
  | 'property'
  | 'vehicles'
  | 'enterprises'
  | 'enforcement';

interface TableMapping {
  table: string;
  /** Source column holding the person's resident ID number. */
  person: string;
  columns: Record<string, Record<string, unknown>>;
}

const updatedAt = { from: 'GXSJ', format: 'yyyy-MM-dd HH:mm:ss', timezone: '+08:00' };

/** The synthetic county's tables mapped to the contracts (the same rules as the default inner-node.yaml). */
export const COUNTY_PORTRAIT_MAPPINGS: Record<Dataset, TableMapping> = {
  residents: {
    table: 'RK_JBXX',
    person: 'SFZH',
    columns: {
      id_number: { from: 'SFZH' },
      name: { from: 'XM' },
      gender: { from: 'XB', codes: { '1': 'male', '2': 'female' } },
      birth_date: { from: 'CSRQ', format: 'yyyyMMdd' },
      updated_at: updatedAt,
    },
  },
  social_security: {
    table: 'SB_JFJL',
    person: 'SFZH',
    columns: {
      id_number: { from: 'SFZH' },
      month: { from: 'JFNY', format: 'yyyyMM' },
      contribution_base: { from: 'JFJS', unit: 'fen' },
      personal_amount: { from: 'GRJF', unit: 'fen' },
      employer_amount: { from: 'DWJF', unit: 'fen' },
      updated_at: updatedAt,
    },
  },
  provident_fund: {
    table: 'GJJ_JCJL',
    person: 'SFZH',
    columns: {
      id_number: { from: 'SFZH' },
      month: { from: 'JCNY', format: 'yyyyMM' },
      monthly_deposit: { from: 'YJCE', unit: 'fen' },
      balance: { from: 'ZHYE', unit: 'fen' },
      status: { from: 'ZT' },
      updated_at: updatedAt,
    },
  },
  property: {
    table: 'FC_DJ',
    person: 'SFZH',
    columns: {
      unit_id: { from: 'BDCDYH' },
      id_number: { from: 'SFZH' },
      appraised_value: { from: 'PGJZ', unit: 'fen' },
      registered_on: { from: 'DJRQ', format: 'yyyyMMdd' },
      updated_at: updatedAt,
    },
  },
  vehicles: {
    table: 'CL_DJ',
    person: 'SFZH',
    columns: {
      plate: { from: 'HPHM' },
      id_number: { from: 'SFZH' },
      first_registered_on: { from: 'CCDJRQ', format: 'yyyyMMdd' },
      updated_at: updatedAt,
    },
  },
  enterprises: {
    table: 'QY_DJ',
    person: 'FDDBR_SFZH',
    columns: {
      credit_code: { from: 'TYSHXYDM' },
      enterprise_name: { from: 'QYMC' },
      id_number: { from: 'FDDBR_SFZH' },
      status: { from: 'DJZT' },
      updated_at: updatedAt,
    },
  },
  enforcement: {
    table: 'ZX_BZXR',
    person: 'SFZH',
    columns: {
      case_number: { from: 'AH' },
      id_number: { from: 'SFZH' },
      amount: { from: 'ZXBD', unit: 'fen' },
      dishonest: { from: 'SXBZ', true: ['1'], false: ['0'] },
      filed_on: { from: 'LARQ', format: 'yyyyMMdd' },
      closed_on: { from: 'JARQ', format: 'yyyyMMdd' },
      updated_at: updatedAt,
    },
  },
};

const POVERTY_CODES: Record<string, 'lifted' | 'unstable' | 'marginal' | 'hardship'> = {
  '1': 'lifted',
  '2': 'unstable',
  '3': 'marginal',
  '4': 'hardship',
};

type Row = Record<string, ContractValue>;

/** The person column of a source row, as text (resident ID numbers are stored as TEXT). */
function personOf(row: Record<string, SourceValue>, compiled: Compiled): string {
  const v = row[compiled.spec.person];
  return typeof v === 'string' ? v : '';
}

interface Compiled {
  dataset: Dataset;
  spec: TableMapping;
  mapping: CompiledMapping;
  contract: DataContract;
}

function compileAll(): Compiled[] {
  return (Object.keys(COUNTY_PORTRAIT_MAPPINGS) as Dataset[]).map((dataset) => {
    const spec = COUNTY_PORTRAIT_MAPPINGS[dataset];
    const contract = CONTRACTS[dataset];
    if (!contract) throw new Error(`no contract ${dataset}`);
    const columns = Object.fromEntries(
      Object.entries(spec.columns).map(([name, m]) => [name, ColumnMappingSchema.parse(m)]),
    );
    return { dataset, spec, contract, mapping: compileMapping(contract, columns, `portraits:${spec.table}`) };
  });
}

function toRow(compiled: Compiled, source: Record<string, SourceValue>): Row {
  const mapped = compiled.mapping.mapRow(source);
  if ('rejects' in mapped) {
    const first = mapped.rejects[0];
    throw new RangeError(
      `${compiled.spec.table}: a row does not fit contract ${compiled.contract.name} (${first?.column}: ${first?.reason})`,
    );
  }
  const row: Row = {};
  compiled.contract.columns.forEach((c, i) => (row[c.name] = mapped.row[i] ?? null));
  return row;
}

/** Reads the GB18030 poverty-alleviation roll (证件号码,姓名,帮扶状态,认定年度) strictly. */
export function readPovertyRoll(path: string): Map<string, PersonRecords['poverty']> {
  const text = new TextDecoder('gb18030', { fatal: true }).decode(readFileSync(path));
  const roll = new Map<string, PersonRecords['poverty']>();
  const lines = text.split(/\r?\n/);
  const header = lines[0]?.split(',') ?? [];
  const idAt = header.indexOf('证件号码');
  const statusAt = header.indexOf('帮扶状态');
  if (idAt < 0 || statusAt < 0) throw new RangeError(`${path}: expected columns 证件号码 and 帮扶状态`);
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const fields = line.split(',');
    const status = POVERTY_CODES[fields[statusAt] ?? ''];
    const id = fields[idAt];
    if (id && status) roll.set(id, { status });
  }
  return roll;
}

function assemble(
  rows: Record<Dataset, Row[]>,
  poverty: PersonRecords['poverty'],
): PersonRecords | undefined {
  const resident = rows.residents[0];
  if (!resident) return undefined;
  const str = (v: ContractValue): string => (v === null ? '' : String(v));
  const optional = (v: ContractValue): string | null => (v === null ? null : String(v));
  return {
    resident: {
      id_number: str(resident['id_number'] ?? null),
      birth_date: str(resident['birth_date'] ?? null),
      updated_at: optional(resident['updated_at'] ?? null),
    },
    social_security: rows.social_security.map((r) => ({
      month: str(r['month'] ?? null),
      contribution_base: str(r['contribution_base'] ?? null),
      updated_at: optional(r['updated_at'] ?? null),
    })),
    provident_fund: rows.provident_fund.map((r) => ({
      month: str(r['month'] ?? null),
      monthly_deposit: str(r['monthly_deposit'] ?? null),
      updated_at: optional(r['updated_at'] ?? null),
    })),
    property: rows.property.map((r) => ({
      appraised_value: optional(r['appraised_value'] ?? null),
      updated_at: optional(r['updated_at'] ?? null),
    })),
    vehicles: rows.vehicles.map((r) => ({ updated_at: optional(r['updated_at'] ?? null) })),
    enterprises: rows.enterprises.map((r) => ({
      status: optional(r['status'] ?? null),
      updated_at: optional(r['updated_at'] ?? null),
    })),
    enforcement: rows.enforcement.map((r) => ({
      dishonest: r['dishonest'] === true,
      filed_on: optional(r['filed_on'] ?? null),
      closed_on: optional(r['closed_on'] ?? null),
      updated_at: optional(r['updated_at'] ?? null),
    })),
    poverty,
  };
}

/** A reader of person records from a county database (and optionally its poverty roll). */
export class CountyRecords {
  private readonly compiled = compileAll();
  private readonly db: Database.Database;
  private readonly lookups: Map<Dataset, Database.Statement>;
  private readonly poverty: Map<string, PersonRecords['poverty']>;

  constructor(
    private readonly dbPath: string,
    povertyCsv?: string,
  ) {
    this.db = new Database(dbPath, { readonly: true, fileMustExist: true });
    this.lookups = new Map(
      this.compiled.map((c) => [
        c.dataset,
        this.db.prepare(`SELECT * FROM ${c.spec.table} WHERE ${c.spec.person} = ?`),
      ]),
    );
    this.poverty = povertyCsv ? readPovertyRoll(povertyCsv) : new Map<string, PersonRecords['poverty']>();
  }

  /** One person's records, or undefined when the person is not registered. */
  recordsFor(idNumber: string): PersonRecords | undefined {
    const rows = {} as Record<Dataset, Row[]>;
    for (const c of this.compiled) {
      const source = this.lookups.get(c.dataset)!.all(idNumber) as Record<string, SourceValue>[];
      rows[c.dataset] = source.map((s) => toRow(c, s));
    }
    return assemble(rows, this.poverty.get(idNumber) ?? null);
  }

  /**
   * Every resident's records in ID order, by a merge join over each table read in person order
   * (one read-only connection per table, since a connection serves one open cursor at a time).
   * Memory stays bounded by one person's rows.
   */
  *all(options: { limit?: number; every?: number } = {}): Generator<PersonRecords> {
    const connections: Database.Database[] = [];
    const cursors: {
      c: Compiled;
      it: IterableIterator<Record<string, SourceValue>>;
      head: IteratorResult<Record<string, SourceValue>>;
    }[] = [];
    try {
      for (const c of this.compiled) {
        const db = new Database(this.dbPath, { readonly: true, fileMustExist: true });
        connections.push(db);
        const it = db
          .prepare(`SELECT * FROM ${c.spec.table} ORDER BY ${c.spec.person}`)
          .iterate() as IterableIterator<Record<string, SourceValue>>;
        cursors.push({ c, it, head: it.next() });
      }
      const residents = cursors[0]!;
      const every = Math.max(1, options.every ?? 1);
      let seen = 0;
      let emitted = 0;
      while (!residents.head.done) {
        const id = personOf(residents.head.value, residents.c);
        const rows = {} as Record<Dataset, Row[]>;
        for (const cursor of cursors) {
          const list: Row[] = [];
          // Skip rows of people not in the resident table (orphans sort before or between residents).
          while (!cursor.head.done && personOf(cursor.head.value, cursor.c) < id) {
            cursor.head = cursor.it.next();
          }
          while (!cursor.head.done && personOf(cursor.head.value, cursor.c) === id) {
            if (seen % every === 0) list.push(toRow(cursor.c, cursor.head.value));
            cursor.head = cursor.it.next();
          }
          rows[cursor.c.dataset] = list;
        }
        if (seen++ % every !== 0) continue;
        const records = assemble(rows, this.poverty.get(id) ?? null);
        if (records) yield records;
        if (options.limit !== undefined && ++emitted >= options.limit) return;
      }
    } finally {
      for (const cursor of cursors) cursor.it.return?.();
      for (const db of connections) db.close();
    }
  }

  close(): void {
    this.db.close();
  }
}
