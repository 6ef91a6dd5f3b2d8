// Check characters for Chinese organisation identifiers, so synthetic enterprises carry codes that a
// validator would accept.
//
// Unified social credit code (GB 32100-2015), 18 characters from the 31-character set below
// (digits and upper-case letters except I, O, Z, S, V):
//   1     registration authority (9 = market regulation / industry and commerce)
//   2     entity type under that authority (1 enterprise, 2 individual business, 3 farmers' co-operative)
//   3-8   administrative division code of the registering office (e.g. 341225)
//   9-17  organisation code (GB 11714-1997: 8 body characters and its own check character)
//   18    check character, weighted modulo 31

const USCC_CHARS = '0123456789ABCDEFGHJKLMNPQRTUWXY';
const USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
const ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2];

/** GB 11714 check character for the 8-character body of an organisation code. */
export function orgCodeCheckChar(body8: string): string {
  let sum = 0;
  for (let i = 0; i < 8; i++) {
    const c = body8.charCodeAt(i);
    const value = c >= 65 ? c - 55 : c - 48; // 0-9 then A=10 .. Z=35
    sum += value * (ORG_WEIGHTS[i] ?? 0);
  }
  const check = 11 - (sum % 11);
  return check === 10 ? 'X' : check === 11 ? '0' : String(check);
}

/** GB 32100 check character for the first 17 characters of a unified social credit code. */
export function unifiedCreditCodeCheckChar(first17: string): string {
  let sum = 0;
  for (let i = 0; i < 17; i++) {
    const value = USCC_CHARS.indexOf(first17.charAt(i));
    if (value < 0) throw new Error(`'${first17.charAt(i)}' is not a unified social credit code character`);
    sum += value * (USCC_WEIGHTS[i] ?? 0);
  }
  return USCC_CHARS.charAt((31 - (sum % 31)) % 31);
}

/** True when `code` is 18 valid characters with correct organisation-code and overall check characters. */
export function isValidUnifiedCreditCode(code: string): boolean {
  if (!/^[0-9A-HJ-NPQRTUWXY]{18}$/.test(code)) return false;
  if (orgCodeCheckChar(code.slice(8, 16)) !== code.charAt(16)) return false;
  return unifiedCreditCodeCheckChar(code.slice(0, 17)) === code.charAt(17);
}
