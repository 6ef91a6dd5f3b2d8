// The mapping engine: source rows to contract rows, by column name, never by position (design 3).
// Pure functions only; the inner node's readers feed them and write the rejects they report.
import { z } from 'zod';
import { InvalidText } from './charset.js';
import type { ContractColumn, ContractType, DataContract } from './contracts.js';
import { MappingError } from './errors.js';
import { checkResidentId } from './resident-id.js';

/** A value as a source reader hands it over; InvalidText marks bytes that failed strict decoding. */
export type SourceValue = string | number | bigint | boolean | null | Uint8Array | InvalidText;
export type ContractValue = string | number | boolean | null;

export const OnErrorSchema = z.enum(['reject', 'fail', 'null']);
export type OnError = z.infer<typeof OnErrorSchema>;

export const ColumnMappingSchema = z.strictObject({
  from: z.string().min(1, 'name the source column'),
  format: z.string().optional(),
  timezone: z
    .string()
    .regex(/^[+-]\d{2}:\d{2}$|^Z$/, "an explicit UTC offset such as '+08:00'")
    .optional(),
  unit: z.enum(['fen', 'yuan']).optional(),
  codes: z.record(z.string(), z.string()).optional(),
  true: z.array(z.string()).optional(),
  false: z.array(z.string()).optional(),
  trim: z.boolean().default(true),
  on_error: OnErrorSchema.default('reject'),
});
export type ColumnMapping = z.infer<typeof ColumnMappingSchema>;

/** A mapping file (mappings/NAME.yaml): the contract it maps to and its columns, by name. */
export const MappingFileSchema = z.strictObject({
  contract: z.string().optional(),
  description: z.string().optional(),
  columns: z.record(z.string(), ColumnMappingSchema),
});
export type MappingFile = z.infer<typeof MappingFileSchema>;

export interface RowReject {
  column: string;
  sourceColumn: string;
  rule: string;
  reason: string;
  raw: string;
}

export type ConvertResult = { ok: true; value: ContractValue } | { ok: false; rule: string; reason: string };

const MEMOISED_KINDS = new Set<ContractType['kind']>(['date', 'month', 'timestamp', 'enum', 'boolean']);
const MEMO_LIMIT = 20_000;

export type MapResult = { row: ContractValue[] } | { rejects: RowReject[] };

/** A compiled mapping from one source to one contract. */
export interface CompiledMapping {
  contract: DataContract;
  sourceColumns: string[];
  /** Maps one source row; returns the contract row in contract column order, or the rejects. */
  mapRow(row: Readonly<Record<string, SourceValue>>): MapResult;
  /** The same mapping for rows given as arrays in a fixed column order (faster for wide reads). */
  bindColumns(names: readonly string[]): (values: readonly SourceValue[]) => MapResult;
  /** The contract key values of a source row, or undefined when a key column does not convert. */
  mapKey(row: Readonly<Record<string, SourceValue>>): ContractValue[] | undefined;
}

export function compileMapping(
  contract: DataContract,
  columns: Readonly<Record<string, ColumnMapping>>,
  where: string,
): CompiledMapping {
  const problems: string[] = [];
  for (const name of Object.keys(columns)) {
    if (!contract.columns.some((c) => c.name === name)) {
      problems.push(`${name}: not a column of contract ${contract.name}`);
    }
  }
  const plan = contract.columns.map((column) => {
    const mapping = columns[column.name];
    if (!mapping && !column.nullable)
      problems.push(`${column.name}: required by the contract but not mapped`);
    if (mapping?.on_error === 'null' && !column.nullable) {
      problems.push(`${column.name}: on_error 'null' is only allowed for nullable contract columns`);
    }
    if (mapping && column.type.kind === 'enum' && !mapping.codes) {
      // Values may already be the enum's own values; codes are optional then.
    }
    // Dates, months, timestamps, codes and flags take few distinct values; their conversions are
    // memoised per column (bounded), which keeps wide exports from re-parsing the same text.
    const memo =
      mapping && MEMOISED_KINDS.has(column.type.kind) ? new Map<string, ConvertResult>() : undefined;
    return { column, mapping, memo };
  });
  if (problems.length > 0) {
    throw new MappingError(
      'MAPPING_INVALID',
      `Mapping for ${contract.name} does not fit the contract: ${problems.join('; ')}`,
      {
        where,
        hint: 'Map every required contract column by its source column name',
      },
    );
  }
  const sourceColumns = [...new Set(plan.flatMap((p) => (p.mapping ? [p.mapping.from] : [])))];
  const keyPlan = contract.key.map((k) => plan.find((p) => p.column.name === k));
  return {
    contract,
    sourceColumns,
    mapKey(row) {
      const out: ContractValue[] = [];
      for (const p of keyPlan) {
        if (!p?.mapping) return undefined;
        const result = convertValue(row[p.mapping.from] ?? null, p.column, p.mapping);
        if (!result.ok) return undefined;
        out.push(result.value);
      }
      return out;
    },
    mapRow(row) {
      return mapWith(row, undefined);
    },
    bindColumns(names) {
      const indexes = plan.map((p) => (p.mapping ? names.indexOf(p.mapping.from) : -1));
      const missing = plan
        .filter((_p, k) => plan[k]?.mapping && indexes[k] === -1)
        .map((p) => p.mapping?.from);
      if (missing.length > 0)
        throw new RangeError(`columns ${missing.join(', ')} are not among the bound columns`);
      return (values) => mapWith(values, indexes);
    },
  };

  /** Maps one row given by column name, or as an array with the position of each plan entry's column. */
  function mapWith(
    row: Readonly<Record<string, SourceValue>> | readonly SourceValue[],
    indexes: readonly number[] | undefined,
  ): MapResult {
    const out: ContractValue[] = [];
    let rejects: RowReject[] | undefined;
    for (let k = 0; k < plan.length; k++) {
      const entry = plan[k];
      if (!entry) continue;
      const mapping = entry.mapping;
      const column = entry.column;
      const memo = entry.memo;
      if (!mapping) {
        out.push(null);
        continue;
      }
      // By name, or by the position the bound column list gave that name (never by contract position).
      const raw = indexes
        ? (row as readonly SourceValue[])[indexes[k] ?? -1]
        : (row as Readonly<Record<string, SourceValue>>)[mapping.from];
      let result: ConvertResult | undefined;
      if (memo && typeof raw === 'string') {
        result = memo.get(raw);
        if (!result) {
          result = convertValue(raw, column, mapping);
          if (memo.size >= MEMO_LIMIT) memo.clear();
          memo.set(raw, result);
        }
      } else {
        result = convertValue(raw ?? null, column, mapping);
      }
      if (result.ok) {
        out.push(result.value);
        continue;
      }
      if (mapping.on_error === 'null') {
        out.push(null);
        continue;
      }
      const reject: RowReject = {
        column: column.name,
        sourceColumn: mapping.from,
        rule: result.rule,
        reason: result.reason,
        raw: describeRaw(raw ?? null),
      };
      if (mapping.on_error === 'fail') {
        throw new MappingError('MAPPING_VALUE', `${column.name} ← ${mapping.from}: ${result.reason}`, {
          where,
          hint: 'The column is set to fail the task on a bad value; fix the source row or change on_error',
        });
      }
      (rejects ??= []).push(reject);
    }
    return rejects ? { rejects } : { row: out };
  }
}

/** Raw values in reject files: text as is, bytes in hex, so the source can be found and fixed. */
export function describeRaw(raw: SourceValue): string {
  if (raw === null) return 'NULL';
  if (raw instanceof InvalidText) return `hex:${raw.hex}`;
  if (raw instanceof Uint8Array) return `hex:${Buffer.from(raw).toString('hex')}`;
  return String(raw);
}

// Full-width digits and letters (U+FF10-FF19, U+FF21-FF3A) become ASCII; ideographic space too.
const WIDE = /[\uFF10-\uFF19\uFF21-\uFF3A\uFF41-\uFF5A\u3000]/;
// Anything outside printable ASCII may need NFC; printable ASCII never does.
const NON_ASCII = /[^ -~]/;

function normaliseWidth(text: string): string {
  if (!WIDE.test(text)) return text;
  return text.replace(/[\uFF10-\uFF19\uFF21-\uFF3A\uFF41-\uFF5A\u3000]/g, (ch) =>
    ch === '\u3000' ? ' ' : String.fromCharCode(ch.charCodeAt(0) - 0xfee0),
  );
}

function fail(rule: string, reason: string): ConvertResult {
  return { ok: false, rule, reason };
}

export function convertValue(
  raw: SourceValue,
  column: ContractColumn,
  mapping: ColumnMapping,
): ConvertResult {
  // Text first: nearly every value is a string, and it needs none of the checks below.
  if (typeof raw !== 'string' && raw !== null) {
    if (raw instanceof InvalidText) return fail('encoding', `invalid ${raw.encoding} byte sequence`);
    if (raw instanceof Uint8Array) return fail('encoding', 'binary value where text was expected');
    if (typeof raw === 'object' && raw !== null) {
      // A driver may hand over objects (dates, JSON) the mapping has no rule for: refuse, never coerce.
      return fail(
        'type',
        'a structured value where a plain value was expected; cast it to text in the source query',
      );
    }
  }
  if (typeof raw === 'number' && Number.isInteger(raw) && !Number.isSafeInteger(raw)) {
    // Beyond 2^53 the number has already lost digits (an 18-digit ID stored as a number would turn
    // into somebody else's): refuse rather than pass on a wrong value.
    const rule = column.type.kind === 'resident_id' ? 'resident-id' : column.type.kind;
    return fail(rule, 'an integer beyond 2^53 lost digits on reading; read it as text or BigInt');
  }
  let text: string | null =
    raw === null
      ? null
      : typeof raw === 'string'
        ? NON_ASCII.test(raw)
          ? raw.normalize('NFC')
          : raw
        : String(raw);
  if (text !== null && mapping.trim) text = text.trim();
  if (text !== null && NON_ASCII.test(text) && SURROGATE.test(text) && LONE_SURROGATE.test(text)) {
    // A lone surrogate cannot be encoded as UTF-8; a driver would store U+FFFD in its place, the
    // silent replacement design 3 forbids.
    return fail('encoding', 'text holds a lone UTF-16 surrogate (not valid Unicode)');
  }
  if (text === null || text === '') {
    return column.nullable ? { ok: true, value: null } : fail('required', 'value is missing');
  }
  return convertText(text, raw, column.type, mapping);
}

// Most Chinese text has no surrogate at all (BMP); the cheap test spares it the look-around one.
const SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function convertText(text: string, raw: SourceValue, type: ContractType, m: ColumnMapping): ConvertResult {
  switch (type.kind) {
    case 'string':
      // UTF-16 length bounds the code-point count from above, so most values skip the count.
      if (type.maxLength !== undefined && text.length > type.maxLength && [...text].length > type.maxLength) {
        return fail('max-length', `longer than ${type.maxLength} characters`);
      }
      return { ok: true, value: text };
    case 'resident_id': {
      const narrow = normaliseWidth(text);
      const id = narrow.endsWith('x') ? narrow.toUpperCase() : narrow;
      const problem = checkResidentId(id);
      return problem
        ? fail('resident-id', `invalid resident ID number (${problem})`)
        : { ok: true, value: id };
    }
    case 'date':
      return parseDate(normaliseWidth(text), m.format ?? 'yyyyMMdd');
    case 'month':
      return parseMonth(normaliseWidth(text), m.format ?? 'yyyyMM');
    case 'timestamp':
      return parseTimestamp(normaliseWidth(text), m.format ?? 'yyyy-MM-dd HH:mm:ss', m.timezone);
    case 'decimal':
      return parseDecimal(raw, normaliseWidth(text), type.precision, type.scale, m.unit ?? 'yuan');
    case 'integer': {
      const t = normaliseWidth(text);
      if (!/^-?\d+$/.test(t)) return fail('integer', 'not a whole number');
      // '-0' is zero: JSON cannot carry a negative zero.
      const n = Number(t) + 0;
      return Number.isSafeInteger(n)
        ? { ok: true, value: n }
        : fail('integer', 'outside the safe integer range');
    }
    case 'boolean': {
      const trueList = m.true ?? ['1', 'Y', 'y', 'true', 'TRUE', '是'];
      const falseList = m.false ?? ['0', 'N', 'n', 'false', 'FALSE', '否'];
      if (trueList.includes(text)) return { ok: true, value: true };
      if (falseList.includes(text)) return { ok: true, value: false };
      return fail(
        'boolean',
        `not in the true list [${trueList.join(',')}] or the false list [${falseList.join(',')}]`,
      );
    }
    case 'enum': {
      const mapped = m.codes ? m.codes[text] : text;
      if (mapped !== undefined && type.values.includes(mapped)) return { ok: true, value: mapped };
      return fail('code-table', `code '${text}' is not in the code table`);
    }
  }
}

const FORMATS: Record<string, RegExp> = {
  yyyyMMdd: /^(\d{4})(\d{2})(\d{2})$/,
  'yyyy-MM-dd': /^(\d{4})-(\d{2})-(\d{2})$/,
  'yyyy/MM/dd': /^(\d{4})\/(\d{1,2})\/(\d{1,2})$/,
  yyyyMM: /^(\d{4})(\d{2})$/,
  'yyyy-MM': /^(\d{4})-(\d{2})$/,
  'yyyy-MM-dd HH:mm:ss': /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/,
  yyyyMMddHHmmss: /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/,
};

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

// Years before 100 were refused by the Date-based check this replaces (Date.UTC maps 0-99 to
// 1900-1999); they stay refused.
function validDate(y: number, mo: number, d: number): boolean {
  if (y < 100 || mo < 1 || mo > 12 || d < 1) return false;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  return d <= (mo === 2 && leap ? 29 : (DAYS_IN_MONTH[mo - 1] ?? 0));
}

/** The number in text[start, start+length) if it is all ASCII digits, else -1. */
function digitsAt(text: string, start: number, length: number): number {
  let n = 0;
  for (let i = start; i < start + length; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

// The most common source layouts, parsed without a regular expression or a Date: the converted value
// is the text itself, re-punctuated, once the fields are checked.
function fastTimestamp(text: string, timezone: string): ConvertResult | undefined {
  if (
    text.length !== 19 ||
    text[4] !== '-' ||
    text[7] !== '-' ||
    text[10] !== ' ' ||
    text[13] !== ':' ||
    text[16] !== ':'
  ) {
    return undefined;
  }
  const y = digitsAt(text, 0, 4);
  const mo = digitsAt(text, 5, 2);
  const d = digitsAt(text, 8, 2);
  const h = digitsAt(text, 11, 2);
  const mi = digitsAt(text, 14, 2);
  const sec = digitsAt(text, 17, 2);
  if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || sec < 0) return undefined;
  if (!validDate(y, mo, d) || h > 23 || mi > 59 || sec > 59) return fail('timestamp', 'not a valid time');
  return { ok: true, value: `${text.slice(0, 10)}T${text.slice(11)}${timezone}` };
}

function parseDate(text: string, format: string): ConvertResult {
  const match = FORMATS[format]?.exec(text);
  if (!match) return fail('date', `does not match the date format ${format}`);
  const [y, mo, d] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (!validDate(y, mo, d)) return fail('date', 'not a calendar date');
  return { ok: true, value: `${pad(y, 4)}-${pad(mo)}-${pad(d)}` };
}

function parseMonth(text: string, format: string): ConvertResult {
  const match = FORMATS[format]?.exec(text);
  if (!match) return fail('month', `does not match the month format ${format}`);
  const [y, mo] = [Number(match[1]), Number(match[2])];
  if (mo < 1 || mo > 12) return fail('month', 'month out of range');
  return { ok: true, value: `${pad(y, 4)}-${pad(mo)}` };
}

function parseTimestamp(text: string, format: string, timezone: string | undefined): ConvertResult {
  if (!timezone) return fail('timestamp', 'no time zone stated in the mapping (set timezone, e.g. +08:00)');
  if (format === 'yyyy-MM-dd HH:mm:ss') {
    const fast = fastTimestamp(text, timezone);
    if (fast) return fast;
  }
  const match = FORMATS[format]?.exec(text);
  if (!match) return fail('timestamp', `does not match the timestamp format ${format}`);
  const [y, mo, d, h, mi, s] = match.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (!validDate(y, mo, d) || h > 23 || mi > 59 || s > 59) return fail('timestamp', 'not a valid time');
  return { ok: true, value: `${pad(y, 4)}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(s)}${timezone}` };
}

/** Exact decimal by scale shift on digit strings, never through a float (style.md rule 15). */
export function parseDecimal(
  raw: SourceValue,
  text: string,
  precision: number,
  scale: number,
  unit: 'fen' | 'yuan',
): ConvertResult {
  if (typeof raw === 'number' && !Number.isSafeInteger(raw)) {
    return fail(
      'decimal',
      'a floating-point source value cannot be converted exactly; store money as integers',
    );
  }
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) return fail('decimal', 'not a decimal number');
  const sign = match[1] ?? '';
  let intPart = match[2] ?? '0';
  let fraction = match[3] ?? '';
  if (unit === 'fen') {
    if (fraction.length > 0) return fail('decimal', 'an amount in fen must be a whole number');
    const digits = intPart.padStart(3, '0');
    intPart = digits.slice(0, -2);
    fraction = digits.slice(-2);
  }
  if (fraction.length > scale) {
    if (/[1-9]/.test(fraction.slice(scale))) return fail('decimal', `more than ${scale} decimal places`);
    fraction = fraction.slice(0, scale);
  }
  fraction = fraction.padEnd(scale, '0');
  intPart = intPart.replace(/^0+(?=\d)/, '');
  if (intPart.length > precision - scale)
    return fail('decimal', `more than ${precision - scale} integer digits`);
  const isZero = /^0*$/.test(intPart + fraction);
  const value = `${isZero ? '' : sign}${intPart}${scale > 0 ? `.${fraction}` : ''}`;
  return { ok: true, value };
}
