// Wrapping the data key for a P-256 encryption key (docs/bundle-format.md, section 6.2): the same shape
// as the X25519 wrap (fresh ephemeral key, ECDH, HKDF-SHA256 bound to the bundle id and both public
// keys, AES-256-GCM over the data key), for recipients whose decryption key lives in a PKCS#11 token,
// where X25519 is rarely available but P-256 ECDH (CKM_ECDH1_DERIVE) is.
import {
  createCipheriv,
  createDecipheriv,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from 'node:crypto';
import { isP256 } from './certificates.js';
import { P256_WRAP_ALG, decodeBase64Strict } from './header.js';
import { DATA_KEY_LENGTH, P256_POINT_LENGTH, WRAPPED_KEY_LENGTH } from './limits.js';
import { KEY_WRAP_KEY_LENGTH, KEY_WRAP_NONCE, p256KeyWrapInfo } from './preimage.js';
import { keyIdOf } from './primitives.js';
import type { RecipientEntry } from './types.js';

/** Length of a P-256 ECDH shared secret (the x coordinate of the shared point). */
const P256_SHARED_LENGTH = 32;

/** The uncompressed point (0x04 || x || y) of a P-256 key, public or private. */
export function rawP256Point(key: KeyObject): Buffer {
  if (!isP256(key)) throw new RangeError('Not a P-256 key');
  const jwk = key.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string' || typeof jwk.y !== 'string') throw new RangeError('Not a P-256 key');
  const point = Buffer.concat([
    Buffer.from([4]),
    Buffer.from(jwk.x, 'base64url'),
    Buffer.from(jwk.y, 'base64url'),
  ]);
  if (point.length !== P256_POINT_LENGTH) throw new RangeError('Malformed P-256 point');
  return point;
}

/** A P-256 public key from an uncompressed point; throws if the point is not on the curve. */
export function p256PublicKeyFromPoint(point: Uint8Array): KeyObject {
  if (point.length !== P256_POINT_LENGTH || point[0] !== 4)
    throw new RangeError('Not an uncompressed P-256 point');
  const bytes = Buffer.from(point);
  return createPublicKey({
    key: {
      kty: 'EC',
      crv: 'P-256',
      x: bytes.subarray(1, 33).toString('base64url'),
      y: bytes.subarray(33).toString('base64url'),
    },
    format: 'jwk',
  });
}

function kekFrom(shared: Buffer, info: Buffer): Buffer {
  if (shared.length !== P256_SHARED_LENGTH) throw new RangeError('P-256 shared secret must be 32 bytes');
  return Buffer.from(hkdfSync('sha256', shared, Buffer.alloc(0), info, KEY_WRAP_KEY_LENGTH));
}

/** Wraps the data key for one P-256 recipient (sender side: everything in node:crypto). */
export function wrapDataKeyP256(
  dataKey: Buffer,
  bundleId: string,
  recipientPublic: KeyObject,
  ephemeralPrivate?: KeyObject,
): RecipientEntry {
  const ephemeral = ephemeralPrivate ?? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  const epk = rawP256Point(ephemeral);
  const shared = diffieHellman({ privateKey: ephemeral, publicKey: recipientPublic });
  const kek = kekFrom(shared, p256KeyWrapInfo(bundleId, epk, rawP256Point(recipientPublic)));
  shared.fill(0);
  const cipher = createCipheriv('aes-256-gcm', kek, KEY_WRAP_NONCE);
  const wrapped = Buffer.concat([cipher.update(dataKey), cipher.final(), cipher.getAuthTag()]);
  kek.fill(0);
  return {
    alg: P256_WRAP_ALG,
    epk: epk.toString('base64'),
    keyId: keyIdOf(recipientPublic),
    wrappedKey: wrapped.toString('base64'),
  };
}

/**
 * Computes the ECDH shared secret (x coordinate, 32 bytes) of our private key with the sender's
 * ephemeral public key. A software key does it in node:crypto; a token does it inside the token.
 */
export type P256Agreement = (ephemeralPublic: KeyObject, ephemeralPoint: Buffer) => Buffer;

/**
 * Unwraps a P-256 recipient entry. Returns undefined when the entry is malformed or does not
 * authenticate; errors thrown by `agree` (a token that is absent or refuses) propagate, so a token
 * outage is never mistaken for a bad bundle.
 */
export function unwrapDataKeyP256(
  entry: RecipientEntry,
  bundleId: string,
  recipientPoint: Buffer,
  agree: P256Agreement,
): Buffer | undefined {
  if (entry.alg !== P256_WRAP_ALG) return undefined;
  const epk = decodeBase64Strict(entry['epk'] ?? '', P256_POINT_LENGTH);
  const wrapped = decodeBase64Strict(entry['wrappedKey'] ?? '', WRAPPED_KEY_LENGTH);
  if (!epk || !wrapped) return undefined;
  let ephemeralPublic: KeyObject;
  try {
    // Refuses points off the curve before they reach the token (invalid-curve attacks).
    ephemeralPublic = p256PublicKeyFromPoint(epk);
  } catch {
    return undefined;
  }
  const shared = agree(ephemeralPublic, epk);
  try {
    const kek = kekFrom(shared, p256KeyWrapInfo(bundleId, epk, recipientPoint));
    const decipher = createDecipheriv('aes-256-gcm', kek, KEY_WRAP_NONCE);
    decipher.setAuthTag(wrapped.subarray(DATA_KEY_LENGTH));
    const dataKey = Buffer.concat([decipher.update(wrapped.subarray(0, DATA_KEY_LENGTH)), decipher.final()]);
    kek.fill(0);
    return dataKey.length === DATA_KEY_LENGTH ? dataKey : undefined;
  } catch {
    return undefined;
  } finally {
    shared.fill(0);
  }
}

/** Unwraps with a P-256 private key held in node:crypto (used by tests and software recipients). */
export function unwrapDataKeyP256WithKey(
  entry: RecipientEntry,
  bundleId: string,
  privateKey: KeyObject,
): Buffer | undefined {
  if (!isP256(privateKey)) return undefined;
  return unwrapDataKeyP256(entry, bundleId, rawP256Point(privateKey), (ephemeralPublic) =>
    diffieHellman({ privateKey, publicKey: ephemeralPublic }),
  );
}
