// The algorithm suites of the bundle format (design 4; docs/bundle-format.md sections 1 and 11). Sealing and
// opening are written once against the Suite interface below; everything that differs between the
// international suite (intl-v1) and the national one (sm-v1) lives behind it: the hash, the segment
// AEAD, the data-key wrap and the signature. The container, header, frame and nonce rules are shared.
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createSecretKey,
  type Hash,
  type KeyObject,
} from 'node:crypto';
import { isP256 } from './certificates.js';
import type { DecryptionKey, SigningKey } from './identity.js';
import { unwrapDataKey, wrapDataKey } from './key-wrap.js';
import { SEGMENT_TAG_LENGTH } from './limits.js';
import { segmentNonce } from './preimage.js';
import { signPreimage, verifyPreimage } from './signing.js';
import { smSuite } from './sm-suite.js';
import type { Identity, RecipientEntry, SuiteName } from './types.js';

/**
 * Seals and opens the segments of one bundle under one data key and one header digest (the AAD).
 * Synchronous, on the calling thread: the plaintext digest runs beside it on a worker thread
 * (digest-worker.ts), which is the two-core split (docs/decisions-crypto.md C10).
 */
export interface SegmentCipher {
  /** Segment i sealed: buffers whose concatenation is ciphertext || 16-byte tag (no copy into one). */
  seal(counter: number, last: boolean, plaintext: Uint8Array): Buffer[];
  /** Segment i opened; throws if it does not authenticate (altered, reordered, spliced, re-flagged). */
  open(counter: number, last: boolean, sealed: Buffer): Buffer;
}

export interface Suite {
  readonly name: SuiteName;
  /** node:crypto name of the suite hash: header digest (AAD), plaintext digest, final pre-image. */
  readonly hash: 'sha256' | 'sm3';
  /** What a recipient's encryption certificate must hold, for messages. */
  readonly recipientKeys: string;
  /** What the sender's signing key must be, for messages. */
  readonly signingKeys: string;
  acceptsSigner(algorithm: Identity['signAlgorithm']): boolean;
  acceptsRecipient(publicKey: KeyObject): boolean;
  sign(key: SigningKey, preimage: Uint8Array): Buffer;
  verify(publicKey: KeyObject, preimage: Uint8Array, signature: Uint8Array): boolean;
  /** One recipient entry; `ephemeral` fixes the wrap's randomness (test vectors only). */
  wrapKey(dataKey: Buffer, bundleId: string, recipient: KeyObject, ephemeral?: KeyObject): RecipientEntry;
  /** The data key, or undefined when the entry does not open with this key. */
  unwrapKey(entry: RecipientEntry, bundleId: string, key: DecryptionKey): Buffer | undefined;
  segmentCipher(dataKey: Buffer, headerDigest: Buffer): SegmentCipher;
}

/** intl-v1: Ed25519 / ECDSA P-256, X25519 (or P-256 for token keys) + HKDF-SHA256 + AES-256-GCM, SHA-256. */
export const intlSuite: Suite = {
  name: 'intl-v1',
  hash: 'sha256',
  recipientKeys: 'X25519 or P-256',
  signingKeys: 'Ed25519 or ECDSA P-256',
  acceptsSigner: (algorithm) => algorithm === 'ed25519' || algorithm === 'ecdsa-p256',
  acceptsRecipient: (key) => key.asymmetricKeyType === 'x25519' || isP256(key),
  sign: signPreimage,
  verify: verifyPreimage,
  wrapKey: wrapDataKey,
  unwrapKey: unwrapDataKey,
  segmentCipher: gcmSegmentCipher,
};

/** AES-256-GCM segments with node:crypto (OpenSSL's AES-NI/PCLMUL code), one cipher per segment. */
function gcmSegmentCipher(dataKey: Buffer, headerDigest: Buffer): SegmentCipher {
  // The KeyObject holds its own copy of the data key; the caller still zeroes its Buffer at the end.
  const key = createSecretKey(dataKey);
  return {
    seal(counter, last, plaintext) {
      const cipher = createCipheriv('aes-256-gcm', key, segmentNonce(counter, last), {
        authTagLength: SEGMENT_TAG_LENGTH,
      });
      cipher.setAAD(headerDigest);
      const ciphertext = cipher.update(plaintext);
      cipher.final();
      return [ciphertext, cipher.getAuthTag()];
    },
    open(counter, last, sealed) {
      const body = sealed.length - SEGMENT_TAG_LENGTH;
      const decipher = createDecipheriv('aes-256-gcm', key, segmentNonce(counter, last), {
        authTagLength: SEGMENT_TAG_LENGTH,
      });
      decipher.setAAD(headerDigest);
      decipher.setAuthTag(sealed.subarray(body));
      const plaintext = decipher.update(sealed.subarray(0, body));
      // Throws when the tag does not match; the plaintext above is then dropped, never returned.
      decipher.final();
      return plaintext;
    },
  };
}

export const SUITES: ReadonlyMap<SuiteName, Suite> = new Map<SuiteName, Suite>([
  [intlSuite.name, intlSuite],
  [smSuite.name, smSuite],
]);

export function suiteNamed(name: SuiteName): Suite {
  const suite = SUITES.get(name);
  if (!suite) throw new RangeError(`Unknown suite ${String(name)}`);
  return suite;
}

/** The suite a node seals with when the caller does not say: the one its signing key belongs to. */
export function defaultSuiteFor(identity: Identity): Suite {
  return identity.signAlgorithm === 'sm2' ? smSuite : intlSuite;
}

export function createSuiteHash(suite: Suite): Hash {
  return createHash(suite.hash);
}

/** `<hash>:<hex>`, the form plaintext and header digests are reported in. */
export function labelledDigest(suite: Suite, digest: Uint8Array): string {
  return `${suite.hash}:${Buffer.from(digest).toString('hex')}`;
}
