// The header guard on its own (pure): every bad field listed, limits reported as limits.
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../crypto/index.js';
import { parseHeader } from '../../crypto/header.js';
import { finalSignaturePreimage, headerSignaturePreimage, segmentNonce } from '../../crypto/preimage.js';

const recipient = (keyId: string) => ({
  alg: 'x25519-hkdf-sha256-aes256gcm',
  epk: Buffer.alloc(32, 1).toString('base64'),
  keyId,
  wrappedKey: Buffer.alloc(48, 2).toString('base64'),
});

const good = {
  format: 1,
  suite: 'intl-v1',
  bundleId: 'ab'.repeat(16),
  sender: { name: 'county', keyId: 'cd'.repeat(16) },
  recipients: [recipient('ef'.repeat(16))],
  dataset: 'residents',
  contract: '-',
  stream: 's',
  sequence: 1,
  rowCount: 2,
  kind: 'rows',
  createdAt: '2026-01-01T00:00:00.000Z',
  expiresAt: '2026-01-02T00:00:00.000Z',
  segmentSize: 1048576,
};

const bytes = (value: unknown) => Buffer.from(canonicalJson(value));

describe('parseHeader', () => {
  it('accepts a valid canonical header', () => {
    expect(parseHeader(bytes(good), 'x').bundleId).toBe(good.bundleId);
  });

  it('refuses unknown suites and versions', () => {
    expect(() => parseHeader(bytes({ ...good, suite: 'sm-v2' }), 'x')).toThrow(
      expect.objectContaining({ code: 'VERIFY_UNSUPPORTED_SUITE' }) as Error,
    );
    expect(() => parseHeader(bytes({ ...good, format: 2 }), 'x')).toThrow(
      expect.objectContaining({ code: 'VERIFY_UNSUPPORTED_VERSION' }) as Error,
    );
  });

  it('checks recipient entries by the suite: sm-v1 entries are SM2 ciphertexts of 129 bytes', () => {
    const sm2Entry = (keyId: string, first = 0x04, length = 129) => {
      const wrapped = Buffer.alloc(length, 3);
      wrapped[0] = first;
      return { alg: 'sm2-encrypt-c1c3c2', keyId, wrappedKey: wrapped.toString('base64') };
    };
    const sm = { ...good, suite: 'sm-v1', recipients: [sm2Entry('ef'.repeat(16))] };
    expect(parseHeader(bytes(sm), 'x').suite).toBe('sm-v1');
    // an intl-v1 entry under sm-v1, and an SM2 entry under intl-v1, are both malformed
    for (const header of [
      { ...good, suite: 'sm-v1' },
      { ...good, recipients: [sm2Entry('ef'.repeat(16))] },
      { ...sm, recipients: [sm2Entry('ef'.repeat(16), 0x02)] },
      { ...sm, recipients: [sm2Entry('ef'.repeat(16), 0x04, 128)] },
      { ...sm, recipients: [{ ...sm2Entry('ef'.repeat(16)), epk: 'AAAA' }] },
    ]) {
      expect(() => parseHeader(bytes(header), 'x')).toThrow(
        expect.objectContaining({ code: 'VERIFY_HEADER_MALFORMED' }) as Error,
      );
    }
  });

  it('refuses more than 16 recipients and out-of-range numbers as limits', () => {
    const many = Array.from({ length: 17 }, (_, i) => recipient(i.toString(16).padStart(32, '0')));
    expect(() => parseHeader(bytes({ ...good, recipients: many }), 'x')).toThrow(
      expect.objectContaining({ code: 'VERIFY_LIMIT_EXCEEDED' }) as Error,
    );
    expect(() => parseHeader(bytes({ ...good, segmentSize: 32 * 1024 * 1024 }), 'x')).toThrow(
      expect.objectContaining({ code: 'VERIFY_LIMIT_EXCEEDED' }) as Error,
    );
    expect(() => parseHeader(bytes({ ...good, rowCount: 1e9 }), 'x')).toThrow(
      expect.objectContaining({ code: 'VERIFY_LIMIT_EXCEEDED' }) as Error,
    );
  });

  it('lists every bad field at once', () => {
    const bad = { ...good, bundleId: 'XYZ', kind: 'zip', extra: 1, expiresAt: 'tomorrow' };
    let message = '';
    try {
      parseHeader(bytes(bad), 'file.gbb');
    } catch (error) {
      message = (error as Error).message;
      expect(error).toMatchObject({ code: 'VERIFY_HEADER_MALFORMED' });
    }
    for (const field of ['bundleId', 'kind', 'unknown field extra', 'expiresAt', 'file.gbb']) {
      expect(message).toContain(field);
    }
  });

  it('refuses duplicate keys and other non-canonical forms', () => {
    const text = canonicalJson(good).replace(
      '"bundleId":',
      '"bundleId":"00000000000000000000000000000000","bundleId":',
    );
    expect(() => parseHeader(Buffer.from(text), 'x')).toThrow(
      expect.objectContaining({ code: 'VERIFY_HEADER_MALFORMED' }) as Error,
    );
    expect(() => parseHeader(Buffer.from(JSON.stringify(good, null, 1)), 'x')).toThrow(
      expect.objectContaining({ code: 'VERIFY_HEADER_MALFORMED' }) as Error,
    );
    expect(() => parseHeader(Buffer.from([0xff, 0xfe]), 'x')).toThrow(
      expect.objectContaining({ code: 'VERIFY_HEADER_MALFORMED' }) as Error,
    );
  });

  it('refuses impossible calendar dates', () => {
    expect(() => parseHeader(bytes({ ...good, createdAt: '2026-02-30T00:00:00.000Z' }), 'x')).toThrow(
      /createdAt/,
    );
  });

  it('refuses a recipient key id listed twice', () => {
    const twice = { ...good, recipients: [recipient('ef'.repeat(16)), recipient('ef'.repeat(16))] };
    expect(() => parseHeader(bytes(twice), 'x')).toThrow(/twice/);
  });
});

describe('pre-images and nonces', () => {
  it('segment nonce is 7 zero bytes, u32 BE counter, last flag', () => {
    expect(segmentNonce(0, false).toString('hex')).toBe('000000000000000000000000');
    expect(segmentNonce(0x01020304, true).toString('hex')).toBe('000000000000000102030401');
  });

  it('header pre-image is the context string and the exact header bytes', () => {
    const header = Buffer.from('{"a":1}');
    expect(headerSignaturePreimage(header).toString('latin1')).toBe(
      'govbank-bridge/intl-v1/header-signature\0{"a":1}',
    );
  });

  it('final pre-image has fixed-width fields', () => {
    const p = finalSignaturePreimage({
      headerDigest: Buffer.alloc(32, 1),
      plaintextDigest: Buffer.alloc(32, 2),
      segmentCount: 3,
      plaintextLength: 2 ** 40,
    });
    const context = 'govbank-bridge/intl-v1/final-signature\0'.length;
    expect(p.length).toBe(context + 32 + 32 + 4 + 8);
    expect(p.subarray(context + 64).toString('hex')).toBe('00000003' + '0000010000000000');
  });
});
