// Contract rows to the bank's own table (design 3, the outer edge): by name, never by position; each
// value converted to the live column's type (target-side conversions from the YAML mapping), and
// checked against the live column's length in characters and in bytes of its own character set.
// A value that does not fit is a rejected row with a reason, never truncated and never stored as '?'.
//
// checkTargetSchema() reads the live schema once at start-up and reports every problem at once:
// missing tables or columns, incompatible types, no unique key for upserts, unknown character sets.
// Columns shorter than the contract allows are warnings: the node starts, and rows that do not fit
// are rejected one by one (so a short legacy column does not stop a whole bank).
import type { ContractColumn, DataContract } from '../shared/contracts.js';
import { findContract } from '../shared/contracts.js';
import { LoadError, MappingError } from '../shared/errors.js';
import type { ContractValue } from '../shared/mapping.js';
import { characterCount, encoderFor, type Encoder } from './charset.js';
import { bankColumn, type ColumnSpec, type Conversion, type OuterSettings } from './config.js';
import type {
  LoadPlan,
  TargetColumn,
  TargetKind,
  TargetValue,
  TargetWriter,
} from './targets/target-writer.js';

/** A value that cannot go into its bank column, and why. */
export class Rejection {
  constructor(readonly reason: string) {}
}

type Converter = (value: ContractValue) => TargetValue | Rejection;

export interface ColumnShape {
  contract: ContractColumn;
  target: TargetColumn;
  convert: Converter;
}

export interface DatasetShape {
  dataset: string;
  contract: DataContract;
  /** The bank table as the database spells it. */
  table: string;
  /** Contract column name to its bank column and converter (mapped columns only). */
  columns: Map<string, ColumnShape>;
}

export interface SchemaCheck {
  shapes: Map<string, DatasetShape>;
  problems: string[];
  warnings: string[];
}

type Category =
  | 'text'
  | 'integer'
  | 'decimal'
  | 'boolean'
  | 'date'
  | 'timestamptz'
  | 'timestamp'
  | 'float'
  | 'numeric-affinity'
  | 'other';

function categoryOf(kind: TargetKind, dataType: string): Category {
  const t = dataType.toLowerCase();
  if (kind === 'sqlite') {
    // SQLite's type affinity rules (https://sqlite.org/datatype3.html section 3.1).
    if (t.includes('int')) return 'integer';
    if (t.includes('char') || t.includes('clob') || t.includes('text') || t === 'blob' || t === '')
      return 'text';
    if (t.includes('real') || t.includes('floa') || t.includes('doub')) return 'float';
    return 'numeric-affinity';
  }
  if (/^(character varying|varchar|character|char|bpchar|text|citext|tinytext|mediumtext|longtext)$/.test(t))
    return 'text';
  if (/^(smallint|integer|int|bigint|tinyint|mediumint)$/.test(t)) return 'integer';
  if (t === 'numeric' || t === 'decimal') return 'decimal';
  if (t === 'boolean' || t === 'bool') return 'boolean';
  if (t === 'date') return 'date';
  if (t === 'timestamp with time zone') return 'timestamptz';
  if (t === 'timestamp without time zone' || t === 'datetime' || (kind === 'mariadb' && t === 'timestamp'))
    return 'timestamp';
  if (/^(real|double precision|float|double)$/.test(t)) return 'float';
  return 'other';
}

function parseOffset(offset: string): number {
  if (offset === 'Z') return 0;
  const sign = offset.startsWith('-') ? -1 : 1;
  return sign * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6)));
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/;
const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** An instant with an explicit offset as wall time at another offset: '2024-01-31 08:00:00'. */
export function wallTime(iso: string, offsetMinutes: number): string | undefined {
  const m = ISO.exec(iso);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const source = parseOffset(m[8] ?? 'Z');
  const t = new Date(Date.UTC(y, mo - 1, d, h, mi, s) + (offsetMinutes - source) * 60_000);
  return `${pad(t.getUTCFullYear(), 4)}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())} ${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}:${pad(t.getUTCSeconds())}${m[7] ?? ''}`;
}

/** Exact scale shift: '1234.50' yuan to '123450' fen, as digits (never through a float). */
export function yuanToFen(text: string): string | undefined {
  const m = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(text);
  if (!m) return undefined;
  const digits = `${m[2] ?? '0'}${(m[3] ?? '').padEnd(2, '0')}`.replace(/^0+(?=\d)/, '');
  return digits === '0' ? '0' : `${m[1] ?? ''}${digits}`;
}

/** Integer digits of a decimal string, for NUMERIC(p, s) range checks. */
function integerDigits(text: string): number {
  const intPart = text.replace(/^-/, '').split('.')[0] ?? '';
  return intPart.replace(/^0+/, '').length;
}

interface Limits {
  column: TargetColumn;
  encoder: Encoder;
  charsetName: string;
  utf8: boolean;
}

/** Length and charset check for a text value going into a text column; a reason when it does not fit. */
function checkText(text: string, limits: Limits): string | undefined {
  const { column } = limits;
  if (column.charMax !== null && text.length > column.charMax) {
    const count = characterCount(text);
    if (count > column.charMax) return `${count} characters; ${column.name} holds ${column.charMax}`;
  }
  if (limits.utf8 && column.byteMax === null) return undefined;
  const bytes = limits.encoder(text);
  if (bytes === undefined) {
    const bad = [...text].find((ch) => limits.encoder(ch) === undefined) ?? '?';
    const code = `U+${(bad.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
    return `character '${bad}' (${code}) cannot be stored in ${column.name}, whose character set is ${limits.charsetName}`;
  }
  if (column.byteMax !== null && bytes > column.byteMax) {
    return `${bytes} bytes in ${limits.charsetName}; ${column.name} holds ${column.byteMax} bytes`;
  }
  return undefined;
}

interface ConverterContext {
  kind: TargetKind;
  naiveOffsetMinutes: number;
  naiveOffset: string;
}

/** Builds the converter for one column, or says why the bank column cannot take this contract column. */
function makeConverter(
  contract: ContractColumn,
  spec: ColumnSpec,
  target: TargetColumn,
  ctx: ConverterContext,
  warnings: string[],
  where: string,
): Converter | string {
  const convert: Conversion | undefined = typeof spec === 'object' ? spec.convert : undefined;
  const codes = typeof spec === 'object' ? spec.codes : undefined;
  const category = categoryOf(ctx.kind, target.dataType);
  const type = contract.type;
  const incompatible = (): string =>
    `${where}: bank column ${target.name} is ${target.dataType}, which cannot hold contract ${type.kind} column ${contract.name}${convert ? ` (convert ${convert})` : ''}`;

  let limits: Limits | undefined;
  if (category === 'text') {
    const charsetName = target.charset ?? 'UTF8';
    const encoder = encoderFor(charsetName);
    if (!encoder)
      return `${where}: bank column ${target.name} uses character set ${charsetName}, which this node cannot check`;
    const utf8 =
      /^utf-?8(mb4)?$/i.test(charsetName) || (/^utf8$/i.test(charsetName) && ctx.kind !== 'mariadb');
    limits = { column: target, encoder, charsetName, utf8 };
    if (!utf8)
      warnings.push(
        `${where}: bank column ${target.name} is in ${charsetName}; values with characters outside it are rejected`,
      );
    const maxChars =
      type.kind === 'string'
        ? type.maxLength
        : type.kind === 'resident_id'
          ? 18
          : type.kind === 'enum'
            ? Math.max(...type.values.map((v) => (codes?.[v] ?? v).length))
            : undefined;
    if (maxChars !== undefined && target.charMax !== null && target.charMax < maxChars) {
      warnings.push(
        `${where}: bank column ${target.name} holds ${target.charMax} characters, the contract allows ${maxChars}; longer values are rejected`,
      );
    }
    if (target.byteMax !== null && maxChars !== undefined && target.byteMax < maxChars * 4) {
      warnings.push(
        `${where}: bank column ${target.name} holds ${target.byteMax} bytes; values longer in ${charsetName} are rejected`,
      );
    }
  }
  const text = (s: string): TargetValue | Rejection => {
    if (!limits) return s;
    const reason = checkText(s, limits);
    return reason === undefined ? s : new Rejection(reason);
  };
  const notNull = !target.nullable;
  const wrap = (fn: (v: string | number | boolean) => TargetValue | Rejection): Converter => {
    return (value) => {
      if (value === null)
        return notNull
          ? new Rejection(`${target.name} is NOT NULL in the bank's table but the value is missing`)
          : null;
      return fn(value);
    };
  };

  switch (type.kind) {
    case 'string':
    case 'resident_id':
    case 'month':
      if (category === 'text') {
        return wrap((v) => text(convert === 'month_compact' ? String(v).replace('-', '') : String(v)));
      }
      if (
        type.kind === 'month' &&
        convert === 'month_compact' &&
        (category === 'integer' || category === 'decimal')
      ) {
        return wrap((v) => Number(String(v).replace('-', '')));
      }
      return incompatible();
    case 'enum': {
      if (category !== 'text' && !(codes && (category === 'integer' || category === 'decimal')))
        return incompatible();
      const numeric = category !== 'text';
      if (numeric && codes && Object.values(codes).some((c) => !/^-?\d+$/.test(c))) {
        return `${where}: codes for ${contract.name} must be whole numbers to go into ${target.name} (${target.dataType})`;
      }
      return wrap((v) => {
        const code = codes ? codes[String(v)] : String(v);
        if (code === undefined)
          return new Rejection(`no bank code for ${contract.name} value '${String(v)}'`);
        return numeric ? Number(code) : text(code);
      });
    }
    case 'date':
      if (convert === 'date_compact') {
        if (category === 'text') return wrap((v) => text(String(v).replaceAll('-', '')));
        if (category === 'integer' || category === 'decimal')
          return wrap((v) => Number(String(v).replaceAll('-', '')));
        return incompatible();
      }
      if (category === 'date' || category === 'numeric-affinity') return wrap((v) => String(v));
      if (category === 'text') return wrap((v) => text(String(v)));
      if (category === 'timestamp' || category === 'timestamptz') return wrap((v) => `${String(v)} 00:00:00`);
      return incompatible();
    case 'timestamp':
      if (category === 'timestamptz' || category === 'numeric-affinity') return wrap((v) => String(v));
      if (category === 'text') return wrap((v) => text(String(v)));
      if (category === 'timestamp') {
        warnings.push(
          `${where}: bank column ${target.name} (${target.dataType}) has no time zone; timestamps are stored as wall time at ${ctx.naiveOffset} (target.naive_time_offset)`,
        );
        return wrap(
          (v) =>
            wallTime(String(v), ctx.naiveOffsetMinutes) ??
            new Rejection(`'${String(v)}' is not a timestamp with an offset`),
        );
      }
      return incompatible();
    case 'decimal': {
      if (convert === 'yuan_to_fen') {
        if (category !== 'integer' && category !== 'decimal' && category !== 'text') return incompatible();
        return wrap((v) => {
          const fen = yuanToFen(String(v));
          if (fen === undefined) return new Rejection(`'${String(v)}' cannot be converted to fen exactly`);
          return category === 'text' ? text(fen) : fen;
        });
      }
      if (category === 'decimal') {
        if (target.numericScale !== null && target.numericScale < type.scale) {
          return `${where}: bank column ${target.name} keeps ${target.numericScale} decimal places, the contract has ${type.scale}; values would be rounded`;
        }
        const maxDigits =
          target.numericPrecision !== null && target.numericScale !== null
            ? target.numericPrecision - target.numericScale
            : undefined;
        if (maxDigits !== undefined && maxDigits < type.precision - type.scale) {
          warnings.push(
            `${where}: bank column ${target.name} holds ${maxDigits} integer digits, the contract up to ${type.precision - type.scale}; larger values are rejected`,
          );
        }
        return wrap((v) =>
          maxDigits !== undefined && integerDigits(String(v)) > maxDigits
            ? new Rejection(`${String(v)} has more than ${maxDigits} integer digits for ${target.name}`)
            : String(v),
        );
      }
      if (category === 'text') return wrap((v) => text(String(v)));
      if (category === 'float' || category === 'numeric-affinity') {
        return `${where}: bank column ${target.name} (${target.dataType}) would store money as a float; use DECIMAL, or TEXT in SQLite`;
      }
      return incompatible();
    }
    case 'integer':
      if (category === 'integer' || category === 'decimal' || category === 'numeric-affinity')
        return wrap((v) => v);
      if (category === 'text') return wrap((v) => text(String(v)));
      return incompatible();
    case 'boolean':
      if (convert === 'boolean_yn' || convert === 'boolean_10') {
        const [yes, no] = convert === 'boolean_yn' ? ['Y', 'N'] : ['1', '0'];
        if (category === 'text') return wrap((v) => text(v === true ? yes : no));
        if (convert === 'boolean_10' && category === 'integer') return wrap((v) => (v === true ? 1 : 0));
        return incompatible();
      }
      if (category === 'boolean') return wrap((v) => v === true);
      if (category === 'integer' || category === 'numeric-affinity') return wrap((v) => (v === true ? 1 : 0));
      return incompatible();
  }
}

/** Reads the live schema of every mapped table and builds the per-dataset shapes. */
export async function checkTargetSchema(settings: OuterSettings, target: TargetWriter): Promise<SchemaCheck> {
  const problems: string[] = [];
  const warnings: string[] = [];
  const shapes = new Map<string, DatasetShape>();
  const naiveOffset = settings.config.target.naive_time_offset;
  const ctx: ConverterContext = {
    kind: target.kind,
    naiveOffset,
    naiveOffsetMinutes: parseOffset(naiveOffset),
  };
  for (const [dataset, spec] of Object.entries(settings.config.datasets)) {
    const contract = findContract(dataset);
    if (!contract) continue; // refused by the configuration schema already
    const table = await target.describeTable(spec.table);
    if (!table) {
      problems.push(
        `${dataset}: table ${spec.table} does not exist in ${target.description} (create it, or run 'outer-node schema plan' for the DDL)`,
      );
      continue;
    }
    const byName = new Map(table.columns.map((c) => [c.name.toLowerCase(), c]));
    const columns = new Map<string, ColumnShape>();
    for (const column of contract.columns) {
      const columnSpec = spec.columns[column.name];
      const name = bankColumn(columnSpec);
      if (columnSpec === undefined || name === undefined) continue;
      const where = `${dataset}.${column.name} -> ${table.name}.${name}`;
      const live = byName.get(name.toLowerCase());
      if (!live) {
        problems.push(`${where}: the bank table has no column ${name}`);
        continue;
      }
      const converter = makeConverter(column, columnSpec, live, ctx, warnings, where);
      if (typeof converter === 'string') problems.push(converter);
      else columns.set(column.name, { contract: column, target: live, convert: converter });
    }
    const keyNames = contract.key.map((k) => (bankColumn(spec.columns[k]) ?? k).toLowerCase()).sort();
    const hasKey = table.uniqueKeys.some(
      (u) =>
        u
          .map((c) => c.toLowerCase())
          .sort()
          .join('\u0000') === keyNames.join('\u0000'),
    );
    if (!hasKey) {
      problems.push(
        `${dataset}: table ${table.name} has no primary key or unique index on exactly (${keyNames.join(', ')}); upserts and tombstones need one`,
      );
    }
    shapes.set(dataset, { dataset, contract, table: table.name, columns });
  }
  return { shapes, problems, warnings };
}

/** Throws one LoadError listing every problem (style.md rule 9: refuse to start half-configured). */
export function assertSchema(check: SchemaCheck, description: string): void {
  if (check.problems.length === 0) return;
  throw new LoadError(
    'LOAD_SCHEMA',
    `The bank database does not match the mapping (${check.problems.length} problem(s)):\n${check.problems.map((p) => `  - ${p}`).join('\n')}`,
    {
      where: description,
      hint: "Fix the bank's tables or the datasets section of the configuration; 'outer-node schema check' lists the problems again",
    },
  );
}

export interface RowShaper {
  plan: LoadPlan;
  /** The bank row for a payload row, or the first column that cannot take its value. */
  shape(row: ContractValue[]): TargetValue[] | { column: string; reason: string };
}

/** How the rows of one bundle (payload columns in preamble order) become bank rows. */
export function rowShaper(
  shape: DatasetShape,
  payloadColumns: string[],
  kind: 'rows' | 'tombstones',
  where: string,
): RowShaper {
  const keyNames = shape.contract.key;
  const missingKey = keyNames.filter((k) => !payloadColumns.includes(k));
  if (missingKey.length > 0) {
    throw new MappingError(
      'MAPPING_CONTRACT_MISMATCH',
      `Payload lacks key column(s) ${missingKey.join(', ')} of ${shape.dataset}`,
      { where },
    );
  }
  const picked = payloadColumns.flatMap((name, index) => {
    const column = shape.columns.get(name);
    if (!column) return [];
    if (kind === 'tombstones' && !keyNames.includes(name)) return [];
    return [{ name, index, column }];
  });
  const positions = picked.map((p) => p.index);
  const converters = picked.map((p) => p.column.convert);
  const names = picked.map((p) => p.column.target.name);
  const contractNames = picked.map((p) => p.name);
  const keyPositions = keyNames.map((k) => contractNames.indexOf(k));
  const count = picked.length;
  return {
    plan: { table: shape.table, columns: names, key: keyPositions.map((p) => names[p] ?? ''), keyPositions },
    shape(row) {
      const out = new Array<TargetValue>(count);
      for (let i = 0; i < count; i++) {
        const value = (converters[i] as Converter)(row[positions[i] as number] ?? null);
        if (value instanceof Rejection) return { column: contractNames[i] ?? '', reason: value.reason };
        out[i] = value;
      }
      return out;
    },
  };
}
