// Resident ID numbers (GB 11643-1999): check character, validation, and masking for logs.
import { describe, expect, it } from 'vitest';
import {
  checkResidentId,
  maskResidentId,
  maskResidentIdsInText,
  residentIdCheckChar,
} from '../../shared/resident-id.js';

/**
 * An independent formulation of ISO 7064 MOD 11-2 (weights 2^(17-i) mod 11, check value
 * (12 - sum mod 11) mod 11, 10 written as X), so the module is not checked against itself.
 */
function referenceCheckChar(first17: string): string {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * (2 ** (17 - i) % 11);
  const value = (12 - (sum % 11)) % 11;
  return value === 10 ? 'X' : String(value);
}

/** Deterministic pseudo-random 17-digit prefixes with a valid birth date. */
function* prefixes(count: number): Generator<string> {
  let state = 12345;
  const next = (n: number): number => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state % n;
  };
  for (let i = 0; i < count; i++) {
    const region = String(110000 + next(540000)).padStart(6, '0');
    const year = 1900 + next(120);
    const month = String(1 + next(12)).padStart(2, '0');
    const day = String(1 + next(28)).padStart(2, '0');
    const sequence = String(next(1000)).padStart(3, '0');
    yield `${region}${year}${month}${day}${sequence}`;
  }
}

// The two examples printed in the standard and in most references.
const STANDARD_EXAMPLE = '11010519491231002X';
const SECOND_EXAMPLE = '440524188001010014';

describe('residentIdCheckChar', () => {
  it('computes the check character of well-known valid numbers', () => {
    expect(residentIdCheckChar(STANDARD_EXAMPLE.slice(0, 17))).toBe('X');
    expect(residentIdCheckChar(SECOND_EXAMPLE.slice(0, 17))).toBe('4');
  });

  it('agrees with an independent MOD 11-2 implementation on 2000 numbers, covering every check value', () => {
    const seen = new Set<string>();
    for (const first17 of prefixes(2000)) {
      const check = residentIdCheckChar(first17);
      expect(check).toBe(referenceCheckChar(first17));
      seen.add(check);
    }
    expect([...seen].sort()).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'X']);
  });
});

describe('checkResidentId', () => {
  it('accepts valid numbers', () => {
    expect(checkResidentId(STANDARD_EXAMPLE)).toBeUndefined();
    expect(checkResidentId(SECOND_EXAMPLE)).toBeUndefined();
    for (const first17 of prefixes(200)) {
      expect(checkResidentId(first17 + referenceCheckChar(first17))).toBeUndefined();
    }
  });

  it('refuses the wrong length', () => {
    expect(checkResidentId('')).toBe('length');
    expect(checkResidentId(STANDARD_EXAMPLE.slice(0, 17))).toBe('length');
    expect(checkResidentId(`${STANDARD_EXAMPLE}0`)).toBe('length');
    // The old 15-digit form is not accepted.
    expect(checkResidentId('110105491231002')).toBe('length');
  });

  it('refuses characters other than digits and a final X', () => {
    expect(checkResidentId('1101051949123100XX')).toBe('characters');
    expect(checkResidentId('11010519491231 02X')).toBe('characters');
    expect(checkResidentId('A1010519491231002X')).toBe('characters');
    // Full-width digits are normalised by the mapping, not here.
    expect(checkResidentId('１１０１０５１９４９１２３１００２Ｘ')).toBe('characters');
  });

  it('refuses a lower-case x (the mapping upper-cases before checking)', () => {
    expect(checkResidentId('11010519491231002x')).toBe('characters');
  });

  it('refuses impossible birth dates', () => {
    const withDate = (date: string): string => {
      const first17 = `110105${date}002`;
      return first17 + referenceCheckChar(first17);
    };
    expect(checkResidentId(withDate('19490230'))).toBe('birth-date'); // Feb 30
    expect(checkResidentId(withDate('19490229'))).toBe('birth-date'); // 1949 is not a leap year
    expect(checkResidentId(withDate('19491301'))).toBe('birth-date'); // month 13
    expect(checkResidentId(withDate('19490001'))).toBe('birth-date'); // month 0
    expect(checkResidentId(withDate('19490100'))).toBe('birth-date'); // day 0
    expect(checkResidentId(withDate('18791231'))).toBe('birth-date'); // before 1880
    expect(checkResidentId(withDate('20000229'))).toBeUndefined(); // 2000 is a leap year
    expect(checkResidentId(withDate('19000228'))).toBeUndefined();
    expect(checkResidentId(withDate('19000229'))).toBe('birth-date'); // 1900 is not
  });

  it('refuses a wrong check character', () => {
    expect(checkResidentId('110105194912310020')).toBe('check-digit');
    expect(checkResidentId('440524188001010015')).toBe('check-digit');
    // A transposition of two digits is caught.
    expect(checkResidentId('11010519491231020X')).toBe('check-digit');
  });
});

describe('maskResidentId', () => {
  it('keeps the first 6 and the last 4 characters', () => {
    expect(maskResidentId('341225199001011234')).toBe('341225********1234');
    expect(maskResidentId(STANDARD_EXAMPLE)).toBe('110105********002X');
    expect(maskResidentId(STANDARD_EXAMPLE)).toHaveLength(18);
  });
});

describe('maskResidentIdsInText', () => {
  it('masks an ID in a sentence', () => {
    expect(maskResidentIdsInText(`resident ${STANDARD_EXAMPLE} refused`)).toBe(
      'resident 110105********002X refused',
    );
  });

  it('masks every ID in a JSON text, including a lower-case x', () => {
    const text = JSON.stringify({ a: STANDARD_EXAMPLE, b: [SECOND_EXAMPLE], c: '11010519491231002x' });
    const masked = maskResidentIdsInText(text);
    expect(masked).toBe('{"a":"110105********002X","b":["440524********0014"],"c":"110105********002x"}');
    expect(masked).not.toContain(STANDARD_EXAMPLE);
    expect(masked).not.toContain(SECOND_EXAMPLE);
  });

  it('masks IDs next to letters and punctuation', () => {
    expect(maskResidentIdsInText(`id=${SECOND_EXAMPLE};`)).toBe('id=440524********0014;');
    expect(maskResidentIdsInText(`ID${SECOND_EXAMPLE}`)).toBe('ID440524********0014');
  });

  it('does not cut longer or shorter digit runs', () => {
    const account20 = '62220212345678901234';
    const account19 = '6222021234567890123';
    const digits17 = '11010519491231002';
    expect(maskResidentIdsInText(`account ${account20}`)).toBe(`account ${account20}`);
    expect(maskResidentIdsInText(`account ${account19}`)).toBe(`account ${account19}`);
    expect(maskResidentIdsInText(`n ${digits17} n`)).toBe(`n ${digits17} n`);
    expect(maskResidentIdsInText(`${SECOND_EXAMPLE}5`)).toBe(`${SECOND_EXAMPLE}5`);
    expect(maskResidentIdsInText(`7${SECOND_EXAMPLE}`)).toBe(`7${SECOND_EXAMPLE}`);
  });

  it('leaves text without IDs unchanged', () => {
    expect(maskResidentIdsInText('no numbers here, 2024-01-01 12:00:00')).toBe(
      'no numbers here, 2024-01-01 12:00:00',
    );
  });
});
