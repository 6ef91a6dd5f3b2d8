// Signatures over pre-images: Ed25519 (pure, the pre-image is signed as is) or ECDSA P-256 with
// SHA-256 and DER-encoded signatures, matching what `openssl pkeyutl -verify -rawin` checks.
import { KeyObject, sign, verify } from 'node:crypto';
import { signingAlgorithmOf } from './certificates.js';
import type { SigningKey } from './identity.js';

/** Signs with a key held here, or through a Signer whose key stays elsewhere (a PKCS#11 token). */
export function signPreimage(privateKey: SigningKey, preimage: Uint8Array): Buffer {
  if (!(privateKey instanceof KeyObject)) return privateKey.sign(preimage);
  const algorithm = signingAlgorithmOf(privateKey);
  if (algorithm === 'ed25519') return sign(null, preimage, privateKey);
  if (algorithm === 'ecdsa-p256') return sign('sha256', preimage, { key: privateKey, dsaEncoding: 'der' });
  throw new TypeError('Signing key must be Ed25519 or ECDSA P-256');
}

export function verifyPreimage(publicKey: KeyObject, preimage: Uint8Array, signature: Uint8Array): boolean {
  try {
    const algorithm = signingAlgorithmOf(publicKey);
    if (algorithm === 'ed25519') return verify(null, preimage, publicKey, signature);
    if (algorithm === 'ecdsa-p256') {
      return verify('sha256', preimage, { key: publicKey, dsaEncoding: 'der' }, signature);
    }
    return false;
  } catch {
    return false;
  }
}
