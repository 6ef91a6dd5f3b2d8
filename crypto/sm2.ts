// SM2 for the national suite sm-v1 (docs/bundle-format.md, "Suite sm-v1"): signatures (GB/T 32918.2)
// with the GM/T 0009 default signer id, and public-key encryption (GB/T 32918.4) with the ciphertext
// laid out C1 || C3 || C2. Keys are ordinary OpenSSL objects (id-ecPublicKey on curve 1.2.156.10197.1.301),
// generated and stored as encrypted PKCS#8 by node:crypto like every other key of the bridge; the curve
// arithmetic comes from sm-crypto-v2 (noble-curves) because Node cannot set the SM2 distinguishing id and
// cannot encrypt with SM2 (docs/decisions-crypto.md, C9). Hashing (SM3, Z, e, KDF, C3) is node:crypto.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import { sm2 } from 'sm-crypto-v2';

/** The SM2 signer id (distinguishing identifier) every bridge signature uses: the GM/T 0009-2012 default. */
export const SM2_SIGNER_ID = '1234567812345678';

/** Curve parameters of GB/T 32918.5 (the "SM2 recommended curve"), 32-byte big-endian each. */
export const SM2_CURVE = {
  p: 'fffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffff',
  a: 'fffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffc',
  b: '28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93',
  n: 'fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123',
  gx: '32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7',
  gy: 'bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0',
} as const;
const N = BigInt(`0x${SM2_CURVE.n}`);

/** SubjectPublicKeyInfo DER prefix of an SM2 key: id-ecPublicKey, curve sm2; the 65-byte point follows. */
const SM2_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a811ccf5501822d034200', 'hex');
/** AlgorithmIdentifier {id-ecPublicKey, sm2} as it appears in PKCS#8. */
const SM2_ALGORITHM_ID = Buffer.from('301306072a8648ce3d020106082a811ccf5501822d', 'hex');
export const SM2_POINT_LENGTH = 65;
export const SM3_LENGTH = 32;

export function sm3(...parts: Uint8Array[]): Buffer {
  const hash = createHash('sm3');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/** True for an SM2 public or private key (by its SubjectPublicKeyInfo, as Node reports no key type for it). */
export function isSm2Key(key: KeyObject): boolean {
  try {
    const spki = (key.type === 'public' ? key : createPublicKey(key)).export({ type: 'spki', format: 'der' });
    return (
      spki.length === SM2_SPKI_PREFIX.length + SM2_POINT_LENGTH &&
      spki.subarray(0, 26).equals(SM2_SPKI_PREFIX)
    );
  } catch {
    return false;
  }
}

/** A fresh SM2 key pair from OpenSSL's generator; the private KeyObject (public derivable with createPublicKey). */
export function generateSm2PrivateKey(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'SM2' }).privateKey;
}

/** The uncompressed public point 04 || x || y (65 bytes) of an SM2 key. */
export function sm2PublicPoint(key: KeyObject): Buffer {
  if (!isSm2Key(key)) throw new TypeError('Not an SM2 key');
  const spki = (key.type === 'public' ? key : createPublicKey(key)).export({ type: 'spki', format: 'der' });
  return spki.subarray(SM2_SPKI_PREFIX.length);
}

export function sm2PublicKeyFromPoint(point: Uint8Array): KeyObject {
  if (point.length !== SM2_POINT_LENGTH || point[0] !== 0x04)
    throw new RangeError('Not an uncompressed SM2 point');
  return createPublicKey({ key: Buffer.concat([SM2_SPKI_PREFIX, point]), format: 'der', type: 'spki' });
}

/** Builds an SM2 private KeyObject from a 32-byte scalar (test vectors and fixed ephemeral keys only). */
export function sm2PrivateKeyFromScalar(scalarHex: string): KeyObject {
  if (!/^[0-9a-f]{64}$/.test(scalarHex)) throw new RangeError('SM2 private scalar must be 64 hex digits');
  const d = BigInt(`0x${scalarHex}`);
  if (d < 1n || d >= N - 1n) throw new RangeError('SM2 private scalar out of range 1..n-2');
  const point = Buffer.from(sm2.getPublicKeyFromPrivateKey(scalarHex), 'hex');
  // PKCS#8 { version 0, {id-ecPublicKey, sm2}, OCTET STRING ECPrivateKey { 1, d, [1] point } }
  const der = Buffer.concat([
    Buffer.from('308187020100', 'hex'),
    SM2_ALGORITHM_ID,
    Buffer.from('046d306b0201010420', 'hex'),
    Buffer.from(scalarHex, 'hex'),
    Buffer.from('a144034200', 'hex'),
    point,
  ]);
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

/** The private scalar d of an SM2 private key as 64 hex digits, read from its PKCS#8 encoding. */
export function sm2PrivateScalar(key: KeyObject): string {
  if (key.type !== 'private' || !isSm2Key(key)) throw new TypeError('Not an SM2 private key');
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  const outer = readTlv(pkcs8, 0, 0x30);
  let at = outer.start;
  at = readTlv(pkcs8, at, 0x02).end; // version
  const algorithm = readTlv(pkcs8, at, 0x30);
  if (!pkcs8.subarray(at, algorithm.end).equals(SM2_ALGORITHM_ID))
    throw new TypeError('Not an SM2 PKCS#8 key');
  const wrapped = readTlv(pkcs8, algorithm.end, 0x04);
  const ecKey = readTlv(pkcs8, wrapped.start, 0x30);
  const version = readTlv(pkcs8, ecKey.start, 0x02);
  const secret = readTlv(pkcs8, version.end, 0x04);
  const bytes = pkcs8.subarray(secret.start, secret.end);
  if (bytes.length === 0 || bytes.length > 32) throw new TypeError('SM2 private key has an invalid length');
  return bytes.toString('hex').padStart(64, '0');
}

/** Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA) of GB/T 32918.2 section 5.5, ENTL = bit length of ID. */
export function sm2Z(publicPoint: Uint8Array, signerId: string = SM2_SIGNER_ID): Buffer {
  const id = Buffer.from(signerId, 'utf8');
  const entl = Buffer.alloc(2);
  entl.writeUInt16BE(id.length * 8);
  const curve = [SM2_CURVE.a, SM2_CURVE.b, SM2_CURVE.gx, SM2_CURVE.gy].map((h) => Buffer.from(h, 'hex'));
  return sm3(entl, id, ...curve, publicPoint.subarray(1, 33), publicPoint.subarray(33, 65));
}

/** e = SM3(Z_A || M): the digest an SM2 signature is computed over. */
export function sm2SignatureDigest(publicPoint: Uint8Array, message: Uint8Array): Buffer {
  return sm3(sm2Z(publicPoint), message);
}

/** SM2 signature of `message` (signer id SM2_SIGNER_ID), DER SEQUENCE { r INTEGER, s INTEGER }. Randomised. */
export function sm2Sign(privateKey: KeyObject, message: Uint8Array): Buffer {
  const e = sm2SignatureDigest(sm2PublicPoint(privateKey), message);
  const rs = sm2.doSignature(e, sm2PrivateScalar(privateKey), { hash: false, der: false });
  return encodeSignatureDer(BigInt(`0x${rs.slice(0, 64)}`), BigInt(`0x${rs.slice(64)}`));
}

/** Verifies a DER SM2 signature; refuses non-canonical DER and r, s outside 1..n-1 (GB/T 32918.2 B1, B2). */
export function sm2Verify(publicKey: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    const rs = decodeSignatureDer(signature);
    if (!rs) return false;
    const point = sm2PublicPoint(publicKey);
    const e = sm2SignatureDigest(point, message);
    const hex = rs.r.toString(16).padStart(64, '0') + rs.s.toString(16).padStart(64, '0');
    return sm2.doVerifySignature(e, hex, point.toString('hex'), { hash: false, der: false });
  } catch {
    return false;
  }
}

/** KDF of GB/T 32918.4 section 5.4.3: SM3(Z || ct) for ct = 1, 2, ... (u32 BE), truncated to `length`. */
export function sm2Kdf(z: Uint8Array, length: number): Buffer {
  const blocks: Buffer[] = [];
  const counter = Buffer.alloc(4);
  for (let ct = 1; blocks.length * SM3_LENGTH < length; ct += 1) {
    counter.writeUInt32BE(ct);
    blocks.push(sm3(z, counter));
  }
  return Buffer.concat(blocks).subarray(0, length);
}

/** x2 || y2 of k·P (k a scalar in hex, P an uncompressed point); throws if P is not on the curve. */
function sharedPoint(scalarHex: string, point: Uint8Array): Buffer {
  const shared = Buffer.from(sm2.ecdh(scalarHex, Buffer.from(point).toString('hex'), false));
  if (shared.length !== SM2_POINT_LENGTH || shared[0] !== 0x04)
    throw new RangeError('Invalid SM2 shared point');
  return shared.subarray(1);
}

/**
 * SM2 encryption (GB/T 32918.4 section 6.1), output C1 || C3 || C2: C1 = 04 || x1 || y1 (65 bytes),
 * C3 = SM3(x2 || M || y2) (32 bytes), C2 = M xor KDF(x2 || y2, |M|). `ephemeral` fixes k (test vectors only).
 */
export function sm2Encrypt(recipient: KeyObject, message: Uint8Array, ephemeral?: KeyObject): Buffer {
  const point = sm2PublicPoint(recipient);
  for (;;) {
    const k = ephemeral ? sm2PrivateScalar(ephemeral) : sm2.generateKeyPairHex().privateKey;
    const c1 = Buffer.from(sm2.getPublicKeyFromPrivateKey(k), 'hex');
    const xy = sharedPoint(k, point);
    const t = sm2Kdf(xy, message.length);
    // An all-zero key stream must be rejected and k drawn again (step A5); astronomically rare.
    if (message.length > 0 && t.every((byte) => byte === 0)) {
      if (ephemeral) throw new RangeError('Fixed SM2 ephemeral key gives an all-zero key stream');
      continue;
    }
    const c2 = Buffer.from(message.map((byte, i) => byte ^ t[i]!));
    const c3 = sm3(xy.subarray(0, 32), message, xy.subarray(32));
    xy.fill(0);
    t.fill(0);
    return Buffer.concat([c1, c3, c2]);
  }
}

/** SM2 decryption of C1 || C3 || C2 (GB/T 32918.4 section 7.1); undefined if C1 is off the curve or C3 differs. */
export function sm2Decrypt(privateKey: KeyObject, ciphertext: Uint8Array): Buffer | undefined {
  if (ciphertext.length <= SM2_POINT_LENGTH + SM3_LENGTH || ciphertext[0] !== 0x04) return undefined;
  try {
    const c1 = ciphertext.subarray(0, SM2_POINT_LENGTH);
    const c3 = ciphertext.subarray(SM2_POINT_LENGTH, SM2_POINT_LENGTH + SM3_LENGTH);
    const c2 = ciphertext.subarray(SM2_POINT_LENGTH + SM3_LENGTH);
    const xy = sharedPoint(sm2PrivateScalar(privateKey), c1);
    const t = sm2Kdf(xy, c2.length);
    if (t.every((byte) => byte === 0)) return undefined;
    const message = Buffer.from(c2.map((byte, i) => byte ^ t[i]!));
    const check = sm3(xy.subarray(0, 32), message, xy.subarray(32));
    xy.fill(0);
    t.fill(0);
    if (!timingSafeEqual(check, c3)) {
      message.fill(0);
      return undefined;
    }
    return message;
  } catch {
    return undefined;
  }
}

/**
 * The same ciphertext in the ASN.1 form of GM/T 0009-2012 section 7.2 that `openssl pkeyutl -decrypt`
 * reads: SEQUENCE { x INTEGER, y INTEGER, hash OCTET STRING (C3), ciphertext OCTET STRING (C2) }.
 */
export function sm2CiphertextToDer(ciphertext: Uint8Array): Buffer {
  const c = Buffer.from(ciphertext);
  const x = BigInt(`0x${c.subarray(1, 33).toString('hex')}`);
  const y = BigInt(`0x${c.subarray(33, 65).toString('hex')}`);
  return tlv(
    0x30,
    Buffer.concat([derInteger(x), derInteger(y), tlv(0x04, c.subarray(65, 97)), tlv(0x04, c.subarray(97))]),
  );
}

// --- minimal strict DER for signatures --------------------------------------------------------------

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n >>= 8) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, value: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(value.length), value]);
}

function derInteger(value: bigint): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(0x02, bytes);
}

export function encodeSignatureDer(r: bigint, s: bigint): Buffer {
  return tlv(0x30, Buffer.concat([derInteger(r), derInteger(s)]));
}

/** Reads one DER TLV with the expected tag (short or long definite length); throws on anything else. */
export function readTlv(bytes: Uint8Array, at: number, tag: number): { start: number; end: number } {
  if (bytes[at] !== tag) throw new RangeError(`DER: expected tag ${tag} at ${at}`);
  let length = bytes[at + 1];
  let start = at + 2;
  if (length === undefined) throw new RangeError('DER: truncated');
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 3) throw new RangeError('DER: unsupported length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (bytes[start + i] ?? Number.NaN);
    if (Number.isNaN(length) || length < 0x80) throw new RangeError('DER: non-minimal length');
    start += count;
  }
  const end = start + length;
  if (end > bytes.length) throw new RangeError('DER: truncated');
  return { start, end };
}

/** Strict DER SEQUENCE { r, s }: minimal lengths and integers, positive, 1 <= r, s <= n-1, nothing after. */
export function decodeSignatureDer(signature: Uint8Array): { r: bigint; s: bigint } | undefined {
  try {
    const sequence = readTlv(signature, 0, 0x30);
    if (sequence.end !== signature.length) return undefined;
    const integers: bigint[] = [];
    let at = sequence.start;
    for (let i = 0; i < 2; i++) {
      const { start, end } = readTlv(signature, at, 0x02);
      const body = Buffer.from(signature.subarray(start, end));
      // Positive and minimal: no sign bit, and a leading zero only when the next byte needs it.
      if (body.length === 0 || body[0]! & 0x80 || (body[0] === 0 && body.length > 1 && !(body[1]! & 0x80)))
        return undefined;
      integers.push(BigInt(`0x${body.toString('hex')}`));
      at = end;
    }
    if (at !== sequence.end) return undefined;
    const [r, s] = integers as [bigint, bigint];
    if (r < 1n || r >= N || s < 1n || s >= N) return undefined;
    return { r, s };
  } catch {
    return undefined;
  }
}
