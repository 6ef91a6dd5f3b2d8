// 18-digit resident identity numbers (GB 11643-1999): 6-digit region, 8-digit birth date, 3-digit
// sequence, 1 check character computed with ISO 7064 MOD 11-2.

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS = '10X98765432';

/** The check character for the first 17 digits. */
export function residentIdCheckChar(first17: string): string {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(first17.charCodeAt(i) - 48) * (WEIGHTS[i] ?? 0);
  return CHECK_CHARS[sum % 11] ?? '?';
}

export type ResidentIdProblem = 'length' | 'characters' | 'birth-date' | 'check-digit';

/** Returns undefined for a valid number, else what is wrong with it. */
export function checkResidentId(id: string): ResidentIdProblem | undefined {
  if (id.length !== 18) return 'length';
  if (!/^\d{17}[\dX]$/.test(id)) return 'characters';
  const year = Number(id.slice(6, 10));
  const month = Number(id.slice(10, 12));
  const day = Number(id.slice(12, 14));
  const date = new Date(Date.UTC(year, month - 1, day));
  if (
    year < 1880 ||
    date.getUTCFullYear() !== year ||
    date.getUTCMonth() !== month - 1 ||
    date.getUTCDate() !== day
  ) {
    return 'birth-date';
  }
  if (residentIdCheckChar(id.slice(0, 17)) !== id[17]) return 'check-digit';
  return undefined;
}

/** First 6 and last 4 characters kept, the rest starred: 341225********1234. */
export function maskResidentId(id: string): string {
  return `${id.slice(0, 6)}********${id.slice(14)}`;
}

// An 18-character ID anywhere in a text, in ASCII or full-width digits: not preceded or followed by
// another digit, so that longer digit runs (account numbers, timestamps) are not cut in the middle.
const ID_IN_TEXT =
  /(?<![0-9\uFF10-\uFF19])([1-9\uFF11-\uFF19][0-9\uFF10-\uFF19]{5})([0-9\uFF10-\uFF19]{8})([0-9\uFF10-\uFF19]{3}[0-9Xx\uFF10-\uFF19\uFF38\uFF58])(?![0-9\uFF10-\uFF19])/g;

/** Masks everything in a text that looks like an 18-digit resident ID (logging, error messages). */
export function maskResidentIdsInText(text: string): string {
  return text.replace(
    ID_IN_TEXT,
    (_m, region: string, _birth: string, tail: string) => `${region}********${tail}`,
  );
}
