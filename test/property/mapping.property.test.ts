// Property tests of the mapping engine (issue 9, design 3): whatever a source driver hands over (any
// JS value: huge strings, lone surrogates, bigints, bytes, NaN, -0, Dates, objects), convertValue returns
// a result and compileMapping/mapRow return rows or rejects, or throw a MappingError with a documented
// code; never a TypeError or RangeError. Accepted values are contract values a bundle can carry.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidText } from '../../shared/charset.js';
import { CONTRACTS, type ContractColumn } from '../../shared/contracts.js';
import { MappingError, type MappingErrorCode } from '../../shared/errors.js';
import {
  ColumnMappingSchema,
  compileMapping,
  convertValue,
  type ColumnMapping,
  type ContractValue,
  type SourceValue,
} from '../../shared/mapping.js';

const MAPPING_CODES = [
  'MAPPING_UNKNOWN_COLUMN',
  'MAPPING_TYPE',
  'MAPPING_VALUE',
  'MAPPING_CONTRACT_MISMATCH',
  'MAPPING_TOO_MANY_REJECTS',
  'MAPPING_INVALID',
] as const satisfies readonly MappingErrorCode[];
const everyMappingCode: Exclude<MappingErrorCode, (typeof MAPPING_CODES)[number]> extends never
  ? true
  : never = true;
const DOCUMENTED = new Set<string>(MAPPING_CODES);
const RUNS = 1000;

const contracts = Object.values(CONTRACTS);
const columns: ContractColumn[] = contracts.flatMap((c) => [...c.columns]);

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((u) => String.fromCharCode(u));
const codeUnitString = fc.string({
  unit: fc.integer({ min: 0, max: 0xffff }).map((u) => String.fromCharCode(u)),
});
const plausibleText = fc.constantFrom(
  '20240229',
  '20230229',
  '2024-02-30',
  '2024/2/9',
  '202413',
  '2024-01-31 23:59:59',
  '2024-01-31 24:00:00',
  '20240131235959',
  '１２３４５６',
  '12.345',
  '-0.00',
  '-0',
  '00012.50',
  '1e21',
  '0x1F',
  'Infinity',
  'NaN',
  ' 1 ',
  '\u3000男\u3000',
  '是',
  '否',
  'Y',
  '0',
  '1',
  '11010519491231002X',
  '11010519491231002x',
  '１１０１０５１９４９１２３１００２Ｘ',
  'e\u0301',
  '\u0000',
  '\uFEFF12',
  '__proto__',
  'constructor',
  'toString',
);
/** Every kind of JS value a driver (or a bug in one) could hand over. */
const sourceValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.constantFrom(null, undefined, true, false, NaN, -0, 0, Infinity, -Infinity), weight: 3 },
  { arbitrary: fc.double(), weight: 2 },
  { arbitrary: fc.integer(), weight: 2 },
  { arbitrary: fc.maxSafeInteger(), weight: 1 },
  {
    arbitrary: fc.constantFrom(2 ** 53, -(2 ** 53) - 2, Number.MAX_VALUE, Number.MIN_VALUE, 1e21),
    weight: 1,
  },
  { arbitrary: fc.bigInt(), weight: 2 },
  { arbitrary: fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }), weight: 1 },
  { arbitrary: fc.string({ unit: 'grapheme' }), weight: 3 },
  { arbitrary: fc.string({ unit: 'binary' }), weight: 2 },
  { arbitrary: codeUnitString, weight: 2 },
  { arbitrary: fc.tuple(fc.string(), loneSurrogate, fc.string()).map(([a, s, b]) => a + s + b), weight: 2 },
  { arbitrary: plausibleText, weight: 4 },
  { arbitrary: fc.stringMatching(/^\d{17}[\dX]$/), weight: 2 },
  { arbitrary: fc.stringMatching(/^-?\d{1,25}(\.\d{1,6})?$/), weight: 2 },
  {
    arbitrary: fc
      .tuple(fc.integer({ min: 100_000, max: 1_500_000 }), fc.constantFrom('9', 'x', '男', '\uD800'))
      .map(([n, ch]) => ch.repeat(n)),
    weight: 1,
  },
  { arbitrary: fc.uint8Array({ maxLength: 64 }), weight: 1 },
  { arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => new InvalidText(b, 'gbk')), weight: 1 },
  { arbitrary: fc.date({ noInvalidDate: false }), weight: 1 },
  { arbitrary: fc.string().map((s) => Symbol(s)), weight: 1 },
  { arbitrary: fc.object(), weight: 1 },
  { arbitrary: fc.array(fc.integer(), { maxLength: 4 }), weight: 1 },
);

const text = fc.oneof(fc.string({ maxLength: 8 }), plausibleText);
/** A column mapping the schema accepts, with every option drawn at random. */
const columnMapping: fc.Arbitrary<ColumnMapping> = fc
  .record(
    {
      from: fc.constantFrom('SRC', 'XM', 'SFZH', '__proto__', 'constructor'),
      format: fc.oneof(
        fc.constantFrom(
          'yyyyMMdd',
          'yyyy-MM-dd',
          'yyyy/MM/dd',
          'yyyyMM',
          'yyyy-MM',
          'yyyy-MM-dd HH:mm:ss',
          'yyyyMMddHHmmss',
        ),
        fc.string({ maxLength: 6 }),
      ),
      timezone: fc.constantFrom('+08:00', 'Z', '-05:30', '+14:00'),
      unit: fc.constantFrom('fen' as const, 'yuan' as const),
      codes: fc.dictionary(text, text, { maxKeys: 4 }),
      true: fc.array(text, { maxLength: 3 }),
      false: fc.array(text, { maxLength: 3 }),
      trim: fc.boolean(),
      on_error: fc.constantFrom('reject' as const, 'fail' as const, 'null' as const),
    },
    { requiredKeys: ['from'] },
  )
  .map((raw) => ColumnMappingSchema.parse(raw));

/** A value a bundle can carry: text, a finite number, a boolean or null (JSON round-trips it exactly). */
function isContractValue(value: ContractValue): boolean {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return true;
  return typeof value === 'number' && Number.isFinite(value) && !Object.is(value, -0);
}

function assertMappingRefusal(error: unknown, context: string): void {
  if (!(error instanceof MappingError)) {
    throw new Error(
      `${context}: raw exception instead of a MappingError: ${String((error as Error)?.stack ?? error)}`,
    );
  }
  if (!DOCUMENTED.has(error.code)) throw new Error(`${context}: undocumented code ${error.code}`);
}

describe('mapping engine properties', () => {
  it('the list of codes covers the documented union', () => {
    expect(everyMappingCode).toBe(true);
  });

  it('convertValue returns a contract value or a reject for any JS value, any column, any mapping', () => {
    fc.assert(
      fc.property(fc.constantFrom(...columns), columnMapping, sourceValue, (column, mapping, raw) => {
        let result;
        try {
          result = convertValue(raw as SourceValue, column, mapping);
        } catch (error) {
          assertMappingRefusal(error, `convertValue(${column.name})`);
          return;
        }
        if (result.ok) {
          if (!isContractValue(result.value)) {
            throw new Error(`${column.name}: accepted ${String(result.value)}, which a bundle cannot carry`);
          }
        } else if (
          typeof result.rule !== 'string' ||
          typeof result.reason !== 'string' ||
          result.reason === ''
        ) {
          throw new Error(`${column.name}: a reject without a rule and a reason`);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('compileMapping and mapRow give rows of the contract width, rejects, or a MappingError', () => {
    const contract = fc.constantFrom(...contracts);
    const setup = contract.chain((c) =>
      fc.tuple(
        fc.constant(c),
        // Any subset of the contract's columns mapped, plus sometimes a column the contract lacks.
        fc.dictionary(
          fc.constantFrom(...c.columns.map((col) => col.name), 'not_in_contract'),
          columnMapping,
          {
            maxKeys: c.columns.length + 1,
          },
        ),
        fc.dictionary(
          fc.constantFrom('SRC', 'XM', 'SFZH', '__proto__', 'constructor', 'other'),
          sourceValue,
          {
            maxKeys: 6,
          },
        ),
      ),
    );
    fc.assert(
      fc.property(setup, ([c, mapping, row]) => {
        try {
          const compiled = compileMapping(c, mapping, `property/${c.name}`);
          const mapped = compiled.mapRow(row as Record<string, SourceValue>);
          if ('row' in mapped) {
            expect(mapped.row).toHaveLength(c.columns.length);
            for (const value of mapped.row) expect(isContractValue(value), String(value)).toBe(true);
          } else {
            expect(mapped.rejects.length).toBeGreaterThan(0);
          }
          compiled.mapKey(row as Record<string, SourceValue>);
        } catch (error) {
          if (error instanceof Error && error.name === 'AssertionError') throw error;
          assertMappingRefusal(error, `mapping ${c.name}`);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('accepted text is well-formed Unicode (a lone surrogate cannot be written as UTF-8)', () => {
    const stringColumns = columns.filter((c) => c.type.kind === 'string');
    fc.assert(
      fc.property(fc.constantFrom(...stringColumns), columnMapping, sourceValue, (column, mapping, raw) => {
        let result;
        try {
          result = convertValue(raw as SourceValue, column, mapping);
        } catch {
          return; // refusals are the previous property's business
        }
        if (result.ok && typeof result.value === 'string') {
          expect(
            !/\p{Cs}/u.test(result.value), // a lone surrogate (String.prototype.isWellFormed is ES2024)
            `${column.name} accepted text with a lone surrogate: ${JSON.stringify(result.value.slice(0, 40))}`,
          ).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
