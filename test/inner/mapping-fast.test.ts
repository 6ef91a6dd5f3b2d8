// The fast timestamp path of the mapping (no regular expression, no Date) agrees with the reference
// rule it replaces, on valid and invalid input alike.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { convertValue, type ColumnMapping } from '../../shared/mapping.js';

const column = { name: 'updated_at', type: { kind: 'timestamp' as const }, nullable: false, description: '' };
const mapping: ColumnMapping = {
  from: 'GXSJ',
  format: 'yyyy-MM-dd HH:mm:ss',
  timezone: '+08:00',
  trim: false,
  on_error: 'reject',
};

function reference(text: string): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d));
  const valid =
    y >= 1 && date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
  if (!valid || h > 23 || mi > 59 || s > 59) return undefined;
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}+08:00`;
}

const digit = fc.constantFrom(...'0123456789');
const num = (n: number) => fc.array(digit, { minLength: n, maxLength: n }).map((a) => a.join(''));
const shaped = fc
  .tuple(num(4), num(2), num(2), num(2), num(2), num(2), fc.constantFrom('-', ' ', ':', '/', 'x'))
  .map(([y, mo, d, h, mi, s, sep]) => `${y}-${mo}-${d}${sep === '-' ? ' ' : sep}${h}:${mi}:${s}`);

describe('fast timestamp conversion', () => {
  it('agrees with the regular-expression and Date rule', () => {
    fc.assert(
      fc.property(fc.oneof(shaped, fc.string({ maxLength: 22 })), (text) => {
        const result = convertValue(text, column, mapping);
        const expected = reference(text);
        if (text === '') return;
        expect(result.ok ? result.value : undefined).toBe(expected);
      }),
      { numRuns: 5000 },
    );
    expect(convertValue('2024-02-29 23:59:59', column, mapping)).toEqual({
      ok: true,
      value: '2024-02-29T23:59:59+08:00',
    });
    expect(convertValue('2023-02-29 00:00:00', column, mapping).ok).toBe(false);
    expect(convertValue('0099-01-01 00:00:00', column, mapping).ok).toBe(false);
  });
});
