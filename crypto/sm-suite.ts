// The national suite sm-v1 (design 4; docs/bundle-format.md section 11): SM2 signatures with the
// GM/T 0009 default signer id, SM2 public-key encryption (C1 || C3 || C2) of the data key for each
// recipient, SM3 wherever intl-v1 uses SHA-256, and SM4 in an encrypt-then-MAC construction for the
// segments, because OpenSSL 3.0 (inside Node 20) has SM4-CTR and HMAC-SM3 but no SM4-GCM:
//
//   Ke (16) || Km (32) = HKDF-SM3(IKM = data key, salt = empty, info = "govbank-bridge/sm-v1/segment-keys\0", L = 48)
//   nonce_i            = 7 zero bytes || u32 BE i || last flag           (as intl-v1)
//   C_i                = SM4-CTR(Ke, counter block = nonce_i || 00 00 00 00, plaintext_i)
//   tag_i              = first 16 bytes of HMAC-SM3(Km, AAD || nonce_i || C_i), AAD = SM3(header bytes)
//   sealed_i           = C_i || tag_i
//
// The tag is checked (in constant time) before anything is decrypted.
import { KeyObject, hkdfSync } from 'node:crypto';
import { KeyError } from '../shared/errors.js';
import type { DecryptionKey, SigningKey } from './identity.js';
import { DATA_KEY_LENGTH, SM2_WRAPPED_KEY_LENGTH } from './limits.js';
import { SM2_WRAP_ALG, SM_SUITE, decodeBase64Strict } from './header.js';
import { SM_SEGMENT_KEYS_INFO } from './preimage.js';
import { keyIdOf } from './primitives.js';
import { isSm2Key, sm2Decrypt, sm2Encrypt, sm2Sign, sm2Verify } from './sm2.js';
import type { SegmentRecipe } from './segment-construction.js';
import type { Suite } from './suites.js';

export { SM2_WRAP_ALG, SM_SUITE };
export const SM4_KEY_LENGTH = 16;
export const HMAC_SM3_KEY_LENGTH = 32;

/** Ke and Km of one bundle, derived from its data key (see the construction at the top of this file). */
export function smSegmentKeys(dataKey: Uint8Array): { encKey: Buffer; macKey: Buffer } {
  const okm = Buffer.from(
    hkdfSync('sm3', dataKey, Buffer.alloc(0), SM_SEGMENT_KEYS_INFO, SM4_KEY_LENGTH + HMAC_SM3_KEY_LENGTH),
  );
  return { encKey: okm.subarray(0, SM4_KEY_LENGTH), macKey: okm.subarray(SM4_KEY_LENGTH) };
}

/** Ke, Km and the header digest: what seals and opens the segments (segment-construction.ts). */
function smSegmentRecipe(dataKey: Buffer, headerDigest: Buffer): SegmentRecipe {
  const { encKey, macKey } = smSegmentKeys(dataKey);
  return { cipher: 'sm4-ctr', key: encKey, macKey, aad: headerDigest };
}

function sm2SigningKey(key: SigningKey): KeyObject {
  if (key instanceof KeyObject && isSm2Key(key)) return key;
  throw new KeyError('KEY_INVALID', 'Suite sm-v1 needs an SM2 signing key held in the keys folder', {
    hint: 'SM2 keys in a PKCS#11 token are not supported; issue the node with `bridge-keys issue --suite sm`',
  });
}

export const smSuite: Suite = {
  name: SM_SUITE,
  hash: 'sm3',
  recipientKeys: 'SM2',
  signingKeys: 'SM2',
  acceptsSigner: (algorithm) => algorithm === 'sm2',
  acceptsRecipient: isSm2Key,
  sign: (key, preimage) => sm2Sign(sm2SigningKey(key), preimage),
  verify: sm2Verify,
  wrapKey(dataKey, _bundleId, recipient, ephemeral) {
    // The entry is bound to this bundle by the header signature that covers it; SM2 encryption itself
    // carries no associated data, and K is fresh per bundle.
    return {
      alg: SM2_WRAP_ALG,
      keyId: keyIdOf(recipient),
      wrappedKey: sm2Encrypt(recipient, dataKey, ephemeral).toString('base64'),
    };
  },
  unwrapKey(entry, bundleId, key: DecryptionKey) {
    if (!(key instanceof KeyObject)) return key.unwrap(entry, bundleId);
    if (entry.alg !== SM2_WRAP_ALG || !isSm2Key(key)) return undefined;
    const wrapped = decodeBase64Strict(entry['wrappedKey'] ?? '', SM2_WRAPPED_KEY_LENGTH);
    if (!wrapped) return undefined;
    const dataKey = sm2Decrypt(key, wrapped);
    return dataKey?.length === DATA_KEY_LENGTH ? dataKey : undefined;
  },
  segmentRecipe: smSegmentRecipe,
};
