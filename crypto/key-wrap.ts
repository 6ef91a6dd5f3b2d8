// Wrapping the per-bundle data key for one recipient (design 4): X25519 ECDH with a fresh ephemeral key,
// HKDF-SHA256 bound to the bundle id and both public keys, AES-256-GCM over the data key. P-256
// recipients (keys held in a PKCS#11 token) get the same construction over P-256 (key-wrap-p256.ts).
import {
  KeyObject,
  createCipheriv,
  createDecipheriv,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
} from 'node:crypto';
import { isP256 } from './certificates.js';
import type { DecryptionKey } from './identity.js';
import { unwrapDataKeyP256WithKey, wrapDataKeyP256 } from './key-wrap-p256.js';
import { DATA_KEY_LENGTH, WRAPPED_KEY_LENGTH, X25519_KEY_LENGTH } from './limits.js';
import { KEY_WRAP_KEY_LENGTH, KEY_WRAP_NONCE, keyWrapInfo } from './preimage.js';
import { keyIdOf, spkiDerOf } from './primitives.js';
import { P256_WRAP_ALG, X25519_WRAP_ALG, decodeBase64Strict } from './header.js';
import type { RecipientEntry } from './types.js';

/** DER prefix of an X25519 SubjectPublicKeyInfo; the raw 32-byte key follows it. */
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export function rawX25519PublicKey(key: KeyObject): Buffer {
  const spki = spkiDerOf(key);
  if (
    spki.length !== X25519_SPKI_PREFIX.length + X25519_KEY_LENGTH ||
    !spki.subarray(0, 12).equals(X25519_SPKI_PREFIX)
  ) {
    throw new RangeError('Not an X25519 public key');
  }
  return spki.subarray(X25519_SPKI_PREFIX.length);
}

export function x25519PublicKeyFromRaw(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** The key-encryption key for one recipient; refuses an all-zero shared secret (low-order point). */
function deriveWrapKey(privateKey: KeyObject, peerPublic: KeyObject, info: Buffer): Buffer {
  const shared = diffieHellman({ privateKey, publicKey: peerPublic });
  if (shared.every((b) => b === 0)) throw new RangeError('X25519 produced an all-zero shared secret');
  return Buffer.from(hkdfSync('sha256', shared, Buffer.alloc(0), info, KEY_WRAP_KEY_LENGTH));
}

export function wrapDataKey(
  dataKey: Buffer,
  bundleId: string,
  recipientPublic: KeyObject,
  ephemeralPrivate?: KeyObject,
): RecipientEntry {
  if (isP256(recipientPublic)) return wrapDataKeyP256(dataKey, bundleId, recipientPublic, ephemeralPrivate);
  return wrapDataKeyX25519(dataKey, bundleId, recipientPublic, ephemeralPrivate);
}

function wrapDataKeyX25519(
  dataKey: Buffer,
  bundleId: string,
  recipientPublic: KeyObject,
  ephemeralPrivate: KeyObject = generateKeyPairSync('x25519').privateKey,
): RecipientEntry {
  const epk = rawX25519PublicKey(ephemeralPrivate);
  const kek = deriveWrapKey(
    ephemeralPrivate,
    recipientPublic,
    keyWrapInfo(bundleId, epk, rawX25519PublicKey(recipientPublic)),
  );
  const cipher = createCipheriv('aes-256-gcm', kek, KEY_WRAP_NONCE);
  const wrapped = Buffer.concat([cipher.update(dataKey), cipher.final(), cipher.getAuthTag()]);
  kek.fill(0);
  return {
    alg: X25519_WRAP_ALG,
    epk: epk.toString('base64'),
    keyId: keyIdOf(recipientPublic),
    wrappedKey: wrapped.toString('base64'),
  };
}

/**
 * Unwraps the data key with one of our decryption keys; returns undefined if it does not open. A key
 * held in a token unwraps through its Unwrapper, which throws KeyError if the token is unreachable.
 */
export function unwrapDataKey(
  entry: RecipientEntry,
  bundleId: string,
  privateKey: DecryptionKey,
): Buffer | undefined {
  if (!(privateKey instanceof KeyObject)) return privateKey.unwrap(entry, bundleId);
  if (entry.alg === P256_WRAP_ALG) return unwrapDataKeyP256WithKey(entry, bundleId, privateKey);
  if (entry.alg !== X25519_WRAP_ALG) return undefined;
  const epk = decodeBase64Strict(entry['epk'] ?? '', X25519_KEY_LENGTH);
  const wrapped = decodeBase64Strict(entry['wrappedKey'] ?? '', WRAPPED_KEY_LENGTH);
  if (!epk || !wrapped) return undefined;
  try {
    const info = keyWrapInfo(bundleId, epk, rawX25519PublicKey(privateKey));
    const kek = deriveWrapKey(privateKey, x25519PublicKeyFromRaw(epk), info);
    const decipher = createDecipheriv('aes-256-gcm', kek, KEY_WRAP_NONCE);
    decipher.setAuthTag(wrapped.subarray(DATA_KEY_LENGTH));
    const dataKey = Buffer.concat([decipher.update(wrapped.subarray(0, DATA_KEY_LENGTH)), decipher.final()]);
    kek.fill(0);
    return dataKey.length === DATA_KEY_LENGTH ? dataKey : undefined;
  } catch {
    return undefined;
  }
}
