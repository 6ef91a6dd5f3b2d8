// The segment construction of both suites (docs/bundle-format.md 5.1 and 11), written once for two
// threads: the calling thread runs segmentCodec() as imported, and the segment worker runs the same
// function from its source text (segment-worker.ts), so that a segment sealed or opened on either
// thread is byte for byte the same.
//
// That is why this file imports nothing at run time: segmentCodec() receives node:crypto as a
// parameter and uses no name from outside its own body, so its source runs as it stands inside the
// worker. test/crypto/segment-worker.test.ts checks both threads against the test vectors.
import type * as NodeCrypto from 'node:crypto';

/** Everything a thread needs to seal or open the segments of one bundle; structured-clonable. */
export interface SegmentRecipe {
  /** intl-v1: AES-256-GCM (AEAD). sm-v1: SM4-CTR then HMAC-SM3 over AAD || nonce || ciphertext. */
  readonly cipher: 'aes-256-gcm' | 'sm4-ctr';
  /** The AES-256 data key, or the SM4 key Ke derived from it. */
  readonly key: Uint8Array;
  /** The HMAC-SM3 key Km (sm4-ctr only). */
  readonly macKey?: Uint8Array;
  /** The associated data: the header digest. */
  readonly aad: Uint8Array;
}

export interface SegmentCodec {
  /** Segment i sealed: ciphertext and its 16-byte tag, as two buffers (no copy into one). */
  seal(counter: number, last: boolean, plaintext: Uint8Array): [Buffer, Buffer];
  /** Segment i opened; throws if it does not authenticate (altered, reordered, spliced, re-flagged). */
  open(counter: number, last: boolean, sealed: Uint8Array): Buffer;
}

export function segmentCodec(crypto: typeof NodeCrypto, recipe: SegmentRecipe): SegmentCodec {
  const TAG = 16;
  // nonce_i = 7 zero bytes || u32 BE i || last flag (bundle-format.md 5.1).
  const nonceOf = (counter: number, last: boolean): Buffer => {
    const nonce = Buffer.alloc(12);
    nonce.writeUInt32BE(counter, 7);
    nonce[11] = last ? 1 : 0;
    return nonce;
  };
  const aad = Buffer.from(recipe.aad);
  if (recipe.cipher === 'aes-256-gcm') {
    // The KeyObject holds its own copy of the key; the owner of the recipe zeroes its bytes.
    const key = crypto.createSecretKey(recipe.key);
    return {
      seal(counter, last, plaintext) {
        const cipher = crypto.createCipheriv('aes-256-gcm', key, nonceOf(counter, last), {
          authTagLength: TAG,
        });
        cipher.setAAD(aad);
        const ciphertext = cipher.update(plaintext);
        cipher.final();
        return [ciphertext, cipher.getAuthTag()];
      },
      open(counter, last, sealed) {
        const body = sealed.length - TAG;
        const decipher = crypto.createDecipheriv('aes-256-gcm', key, nonceOf(counter, last), {
          authTagLength: TAG,
        });
        decipher.setAAD(aad);
        decipher.setAuthTag(sealed.subarray(body));
        const plaintext = decipher.update(sealed.subarray(0, body));
        // Throws when the tag does not match; the plaintext above is then dropped, never returned.
        decipher.final();
        return plaintext;
      },
    };
  }
  if (recipe.cipher !== 'sm4-ctr' || !recipe.macKey)
    throw new Error(`Unknown segment cipher ${recipe.cipher}`);
  // KeyObjects hold their own copies, so the recipe's bytes can be zeroed once the codec exists.
  const encKey = crypto.createSecretKey(recipe.key);
  const macKey = crypto.createSecretKey(recipe.macKey);
  const counterBlock = (nonce: Buffer): Buffer => Buffer.concat([nonce, Buffer.alloc(4)]);
  const tagOf = (nonce: Buffer, ciphertext: Uint8Array): Buffer =>
    crypto.createHmac('sm3', macKey).update(aad).update(nonce).update(ciphertext).digest().subarray(0, TAG);
  return {
    seal(counter, last, plaintext) {
      const nonce = nonceOf(counter, last);
      const cipher = crypto.createCipheriv('sm4-ctr', encKey, counterBlock(nonce));
      const ciphertext = cipher.update(plaintext);
      cipher.final();
      return [ciphertext, tagOf(nonce, ciphertext)];
    },
    open(counter, last, sealed) {
      const body = sealed.length - TAG;
      const nonce = nonceOf(counter, last);
      const ciphertext = sealed.subarray(0, body);
      // Encrypt-then-MAC: authenticate first (constant time), decrypt only what authenticated.
      if (!crypto.timingSafeEqual(tagOf(nonce, ciphertext), sealed.subarray(body))) {
        throw new Error('HMAC-SM3 tag mismatch');
      }
      const decipher = crypto.createDecipheriv('sm4-ctr', encKey, counterBlock(nonce));
      const plaintext = decipher.update(ciphertext);
      decipher.final();
      return plaintext;
    },
  };
}

/** Zeroes the key bytes of a recipe once every codec and worker session that needs them exists. */
export function forgetRecipe(recipe: SegmentRecipe): void {
  recipe.key.fill(0);
  recipe.macKey?.fill(0);
}
