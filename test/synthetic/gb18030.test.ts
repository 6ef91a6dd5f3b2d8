import { describe, expect, it } from 'vitest';
import { encodeGb18030, gb18030Length } from '../../inner-node/synthetic/gb18030.js';
import {
  isValidUnifiedCreditCode,
  orgCodeCheckChar,
  unifiedCreditCodeCheckChar,
} from '../../inner-node/synthetic/credit-code.js';

const strict = new TextDecoder('gb18030', { fatal: true });
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('encodeGb18030', () => {
  it('encodes one, two and four byte characters as the strict decoder reads them', () => {
    expect(hex(encodeGb18030('A,1'))).toBe('412c31');
    expect(hex(encodeGb18030('张'))).toBe('d5c5');
    expect(hex(encodeGb18030('堃'))).toBe('88d2');
    expect(hex(encodeGb18030('𠮷'))).toBe('9534b235'); // U+20BB7, outside the BMP
    expect(hex(encodeGb18030('€'))).toBe('a2e3');
    expect(gb18030Length('𠮷䶮张A')).toBe(4 + 2 + 2 + 1);
    const text = '证件号码,姓名\r\n王𠮷,李䶮,赵𫖯,周𬣙,陈燊,刘淼,欧阳喆昇,𬘡𬌗\r\n';
    expect(strict.decode(encodeGb18030(text))).toBe(text);
  });

  it('round-trips every encodable code point through the strict decoder', () => {
    let failures = 0;
    let unmapped = 0;
    for (let cp = 1; cp <= 0x10ffff; cp += cp < 0x10000 ? 1 : 97) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const ch = String.fromCodePoint(cp);
      let bytes: Uint8Array;
      try {
        bytes = encodeGb18030(ch);
      } catch {
        unmapped++; // a handful of private-use code points have no GB18030-2022 code
        continue;
      }
      if (strict.decode(bytes) !== ch) failures++;
    }
    expect(failures).toBe(0);
    expect(unmapped).toBeLessThan(30);
  });

  it('refuses lone surrogates', () => {
    expect(() => encodeGb18030('\ud842')).toThrow(/surrogate/);
  });
});

describe('unified social credit codes', () => {
  it('accepts real codes and computes their check characters', () => {
    for (const code of ['914403001922038216', '91440300708461136T', '91110000802100433B']) {
      expect(isValidUnifiedCreditCode(code), code).toBe(true);
      expect(unifiedCreditCodeCheckChar(code.slice(0, 17))).toBe(code.charAt(17));
      expect(orgCodeCheckChar(code.slice(8, 16))).toBe(code.charAt(16));
    }
  });

  it('rejects damaged codes', () => {
    expect(isValidUnifiedCreditCode('914403001922038217')).toBe(false);
    expect(isValidUnifiedCreditCode('914403001922038I16')).toBe(false);
    expect(isValidUnifiedCreditCode('91440300192203821')).toBe(false);
  });
});
