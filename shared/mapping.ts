// The mapping engine: source rows to contract rows, by column name, never by position (design 3).
// Pure functions only; the inner node's readers feed them and write the rejects they report.
import { z } from 'zod';
import type { ContractColumn, ContractType, DataContract } from './contracts.js';
import { MappingError } from './errors.js';
import { checkResidentId } from './resident-id.js';

export type SourceValue = string | number | bigint | boolean | null | Uint8Array;
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

export interface RowReject {
  column: string;
  sourceColumn: string;
  rule: string;
  reason: string;
  raw: string;
}

export type ConvertResult = { ok: true; value: ContractValue } | { ok: false; rule: string; reason: string };

/** A compiled mapping from one source to one contract. */
export interface CompiledMapping {
  contract: DataContract;
  sourceColumns: string[];
  /** Maps one source row; returns the contract row in contract column order, or the rejects. */
  mapRow(row: Readonly<Record<string, SourceValue>>): { row: ContractValue[] } | { rejects: RowReject[] };
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
    if (!mapping && !column.nullable) problems.push(`${column.name}: required by the contract but not mapped`);
    if (mapping?.on_error === 'null' && !column.nullable) {
      problems.push(`${column.name}: on_error 'null' is only allowed for nullable contract columns`);
    }
    if (mapping && column.type.kind === 'enum' && !mapping.codes) {
      // Values may already be the enum's own values; codes are optional then.
    }
    return { column, mapping };
  });
  if (problems.length > 0) {
    throw new MappingError('MAPPING_INVALID', `Mapping for ${contract.name} does not fit the contract: ${problems.join('; ')}`, {
      where,
      hint: 'Map every required contract column by its source column name',
    });
  }
  const sourceColumns = [...new Set(plan.flatMap((p) => (p.mapping ? [p.mapping.from] : [])))];
  return {
    contract,
    sourceColumns,
    mapRow(row) {
      const out: ContractValue[] = [];
      let rejects: RowReject[] | undefined;
      for (const { column, mapping } of plan) {
        if (!mapping) {
          out.push(null);
          continue;
        }
        const raw = row[mapping.from];
        const result = convertValue(raw ?? null, column, mapping);
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
    },
  };
}

/** Raw values in reject files: text as is, bytes in hex, so the source can be found and fixed. */
export function describeRaw(raw: SourceValue): string {
  if (raw === null) return 'NULL';
  if (raw instanceof Uint8Array) return `hex:${Buffer.from(raw).toString('hex')}`;
  return String(raw);
}

// Full-width digits and letters (U+FF10-FF19, U+FF21-FF3A) become ASCII; ideographic space too.
function normaliseWidth(text: string): string {
  return text.replace(/[\uFF10-\uFF19\uFF21-\uFF3A\uFF41-\uFF5A\u3000]/g, (ch) =>
    ch === '\u3000' ? ' ' : String.fromCharCode(ch.charCodeAt(0) - 0xfee0),
  );
}

function fail(rule: string, reason: string): ConvertResult {
  return { ok: false, rule, reason };
}

export function convertValue(raw: SourceValue, column: ContractColumn, mapping: ColumnMapping): ConvertResult {
  if (raw instanceof Uint8Array) return fail('encoding', 'binary value where text was expected');
  let text: string | null =
    raw === null ? null : typeof raw === 'string' ? raw.normalize('NFC') : String(raw);
  if (text !== null && mapping.trim) text = text.trim();
  if (text === null || text === '') {
    return column.nullable ? { ok: true, value: null } : fail('required', 'value is missing');
  }
  return convertText(text, raw, column.type, mapping);
}

function convertText(text: string, raw: SourceValue, type: ContractType, m: ColumnMapping): ConvertResult {
  switch (type.kind) {
    case 'string':
      // UTF-16 length bounds the code-point count from above, so most values skip the count.
      if (type.maxLength !== undefined && text.length > type.maxLength && [...text].length > type.maxLength) {
        return fail('max-length', `longer than ${type.maxLength} characters`);
      }
      return { ok: true, value: text };
    case 'resident_id': {
      const id = normaliseWidth(text).toUpperCase();
      const problem = checkResidentId(id);
      return problem ? fail('resident-id', `invalid resident ID number (${problem})`) : { ok: true, value: id };
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
      const n = Number(t);
      return Number.isSafeInteger(n) ? { ok: true, value: n } : fail('integer', 'outside the safe integer range');
    }
    case 'boolean': {
      const trueList = m.true ?? ['1', 'Y', 'y', 'true', 'TRUE', '是'];
      const falseList = m.false ?? ['0', 'N', 'n', 'false', 'FALSE', '否'];
      if (trueList.includes(text)) return { ok: true, value: true };
      if (falseList.includes(text)) return { ok: true, value: false };
      return fail('boolean', `not in the true list [${trueList.join(',')}] or the false list [${falseList.join(',')}]`);
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

function validDate(y: number, mo: number, d: number): boolean {
  const date = new Date(Date.UTC(y, mo - 1, d));
  return y >= 1 && date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
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
  const match = FORMATS[format]?.exec(text);
  if (!match) return fail('timestamp', `does not match the timestamp format ${format}`);
  const [y, mo, d, h, mi, s] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
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
    return fail('decimal', 'a floating-point source value cannot be converted exactly; store money as integers');
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
  if (intPart.length > precision - scale) return fail('decimal', `more than ${precision - scale} integer digits`);
  const isZero = /^0*$/.test(intPart + fraction);
  const value = `${isZero ? '' : sign}${intPart}${scale > 0 ? `.${fraction}` : ''}`;
  return { ok: true, value };
}
