// The exact bytes that are signed, derived from, or used as nonces (style.md rule 3). Each builder is
// a small pure function so that docs/bundle-format.md, the test vectors and an independent
// implementation can all be checked against one definition. Every context string ends with a NUL
// byte so that no pre-image of one kind is a prefix-shifted copy of another kind.
import { DATA_KEY_LENGTH, P256_POINT_LENGTH, X25519_KEY_LENGTH } from './limits.js';
import type { SuiteName } from './types.js';

/** Context string of one kind of pre-image in one suite: "govbank-bridge/<suite>/<purpose>" and a NUL byte. */
export function preimageContext(suite: SuiteName, purpose: string): Buffer {
  return Buffer.from(`govbank-bridge/${suite}/${purpose}\0`, 'ascii');
}

export const HEADER_SIGNATURE_CONTEXT = preimageContext('intl-v1', 'header-signature');
export const FINAL_SIGNATURE_CONTEXT = preimageContext('intl-v1', 'final-signature');
/** sm-v1: HKDF-SM3 info deriving the SM4 and HMAC-SM3 segment keys from the data key (sm-suite.ts). */
export const SM_SEGMENT_KEYS_INFO = preimageContext('sm-v1', 'segment-keys');
export const KEY_WRAP_INFO_CONTEXT = Buffer.from('govbank-bridge/intl-v1/key-wrap\0', 'ascii');
export const P256_KEY_WRAP_INFO_CONTEXT = Buffer.from('govbank-bridge/intl-v1/key-wrap-p256\0', 'ascii');

/** Header signature pre-image: the suite's context || the header bytes exactly as they appear in the file. */
export function headerSignaturePreimage(headerBytes: Uint8Array, suite: SuiteName = 'intl-v1'): Buffer {
  return Buffer.concat([preimageContext(suite, 'header-signature'), headerBytes]);
}

export interface FinalSignatureFields {
  /** Suite hash (SHA-256 or SM3) of the header bytes (32 bytes). */
  headerDigest: Uint8Array;
  /** Suite hash of the whole plaintext body (32 bytes). */
  plaintextDigest: Uint8Array;
  segmentCount: number;
  plaintextLength: number;
}

/** Final signature pre-image: context || header digest || plaintext digest || u32 BE count || u64 BE length. */
export function finalSignaturePreimage(fields: FinalSignatureFields, suite: SuiteName = 'intl-v1'): Buffer {
  if (fields.headerDigest.length !== 32 || fields.plaintextDigest.length !== 32) {
    throw new RangeError('finalSignaturePreimage: digests must be 32 bytes');
  }
  const numbers = Buffer.alloc(12);
  numbers.writeUInt32BE(fields.segmentCount, 0);
  numbers.writeBigUInt64BE(BigInt(fields.plaintextLength), 4);
  return Buffer.concat([
    preimageContext(suite, 'final-signature'),
    fields.headerDigest,
    fields.plaintextDigest,
    numbers,
  ]);
}

/** Segment nonce: 7 zero bytes || u32 BE segment counter || 1 byte last-segment flag (0x01 last, else 0x00). */
export function segmentNonce(counter: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeUInt32BE(counter, 7);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

/** HKDF info for wrapping the data key: context || bundle id (32 ASCII hex) || ephemeral pub || recipient pub. */
export function keyWrapInfo(
  bundleId: string,
  ephemeralPublic: Uint8Array,
  recipientPublic: Uint8Array,
): Buffer {
  if (ephemeralPublic.length !== X25519_KEY_LENGTH || recipientPublic.length !== X25519_KEY_LENGTH) {
    throw new RangeError('keyWrapInfo: X25519 public keys must be 32 bytes');
  }
  return Buffer.concat([
    KEY_WRAP_INFO_CONTEXT,
    Buffer.from(bundleId, 'ascii'),
    ephemeralPublic,
    recipientPublic,
  ]);
}

/**
 * HKDF info for the P-256 wrap: its own context || bundle id (32 ASCII hex) || ephemeral point ||
 * recipient point, both uncompressed (65 bytes). A separate context keeps the two wraps apart.
 */
export function p256KeyWrapInfo(
  bundleId: string,
  ephemeralPoint: Uint8Array,
  recipientPoint: Uint8Array,
): Buffer {
  if (ephemeralPoint.length !== P256_POINT_LENGTH || recipientPoint.length !== P256_POINT_LENGTH) {
    throw new RangeError('p256KeyWrapInfo: P-256 points must be 65 bytes, uncompressed');
  }
  return Buffer.concat([
    P256_KEY_WRAP_INFO_CONTEXT,
    Buffer.from(bundleId, 'ascii'),
    ephemeralPoint,
    recipientPoint,
  ]);
}

/** The key-wrap AES-256-GCM nonce is fixed: every key-encryption key is used exactly once (fresh ephemeral). */
export const KEY_WRAP_NONCE = Buffer.alloc(12);
export const KEY_WRAP_KEY_LENGTH = DATA_KEY_LENGTH;
