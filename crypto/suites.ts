// The algorithm suites of the bundle format (design 4; docs/bundle-format.md sections 1 and 11). Sealing and
// opening are written once against the Suite interface below; everything that differs between the
// international suite (intl-v1) and the national one (sm-v1) lives behind it: the hash, the segment
// AEAD, the data-key wrap and the signature. The container, header, frame and nonce rules are shared.
import { createHash, type Hash, type KeyObject } from 'node:crypto';
import { isP256 } from './certificates.js';
import type { DecryptionKey, SigningKey } from './identity.js';
import { unwrapDataKey, wrapDataKey } from './key-wrap.js';
import type { SegmentRecipe } from './segment-construction.js';
import { signPreimage, verifyPreimage } from './signing.js';
import { smSuite } from './sm-suite.js';
import type { Identity, RecipientEntry, SuiteName } from './types.js';

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
  /**
   * What seals and opens this bundle's segments (segment-construction.ts), for the calling thread or
   * the segment worker: the construction is the same code on both (docs/decisions-crypto.md C10).
   */
  segmentRecipe(dataKey: Buffer, headerDigest: Buffer): SegmentRecipe;
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
  segmentRecipe: (dataKey, headerDigest) => ({ cipher: 'aes-256-gcm', key: dataKey, aad: headerDigest }),
};

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
