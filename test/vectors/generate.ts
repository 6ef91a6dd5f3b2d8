// Test vectors for bundle formats intl-v1 and sm-v1 (docs/bundle-format.md): fixed keys, fixed inputs, and the
// expected bytes and intermediate values, so an independent implementation can be checked byte for byte.
//
// Regenerate (only when the format deliberately changes; see test/vectors/README.md):
//   npm run vectors        (= GBB_WRITE_VECTORS=1 vitest run test/crypto/vectors.test.ts)
// The check itself runs in test/crypto/vectors.test.ts.
//
// Deterministic sealing uses the internal sealBundleWith(): a fixed data key, bundle id and ephemeral
// key. Ed25519 signatures are deterministic, so the whole file is reproducible.
import { createHash, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { identityFromKeys } from '../../crypto/identity.js';
import { rawX25519PublicKey } from '../../crypto/key-wrap.js';
import { finalSignaturePreimage, headerSignaturePreimage, keyWrapInfo, segmentNonce } from '../../crypto/preimage.js';
import { keyIdOf } from '../../crypto/primitives.js';
import { sealBundleWith } from '../../crypto/seal.js';
import { smSegmentKeys } from '../../crypto/sm-suite.js';
import {
  sm2CiphertextToDer,
  sm2PrivateKeyFromScalar,
  sm2PublicPoint,
  sm2SignatureDigest,
  sm2Verify,
  sm2Z,
} from '../../crypto/sm2.js';
import type { BundleDescription, PeerCertificate } from '../../crypto/types.js';

const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

export const VECTOR_INPUTS = {
  note:
    'senderSeed is the Ed25519 secret key of RFC 8032 test 1; recipientPrivate and ephemeralPrivate are the ' +
    'X25519 private keys of RFC 7748 section 6.1 (Alice and Bob). All keys are public test keys: never use them.',
  senderName: 'vector-county',
  senderSeed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
  recipientName: 'vector-bank',
  recipientPrivate: '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a',
  ephemeralPrivate: '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb',
  dataKey: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
  bundleId: '0123456789abcdef0123456789abcdef',
  segmentSize: 1024,
  plaintextLength: 2500,
  description: {
    dataset: 'residents',
    contract: 'sha256:' + '00'.repeat(32),
    stream: 'residents-vector-bank',
    sequence: 7,
    rowCount: 3,
    kind: 'rows',
    createdAt: '2026-01-01T00:00:00.000Z',
    expiresAt: '2026-01-02T00:00:00.000Z',
  },
} as const;

/** Plaintext byte i = i mod 251 (a prime, so segment boundaries never line up with the pattern). */
export function vectorPlaintext(): Buffer {
  return Buffer.from(Array.from({ length: VECTOR_INPUTS.plaintextLength }, (_, i) => i % 251));
}

export function privateKeyFromSeed(prefix: Buffer, hex: string): KeyObject {
  return createPrivateKey({ key: Buffer.concat([prefix, Buffer.from(hex, 'hex')]), format: 'der', type: 'pkcs8' });
}

function pseudoCertificate(name: string, usage: 'sign' | 'encrypt', key: KeyObject): PeerCertificate {
  // The sealer reads only the public key and metadata; an SPKI PEM stands in for a certificate here.
  const pem = createPublicKey(key).export({ type: 'spki', format: 'pem' }) as string;
  return {
    name,
    role: usage === 'sign' ? 'inner' : 'outer',
    usage,
    keyId: keyIdOf(key),
    notBefore: new Date('2000-01-01T00:00:00.000Z'),
    notAfter: new Date('2100-01-01T00:00:00.000Z'),
    serial: '0',
    pem,
    file: '-',
  };
}

const sha256 = (data: Uint8Array): Buffer => createHash('sha256').update(data).digest();

/** Builds every vector file in memory: name -> bytes. */
export async function buildVectors(workDir: string): Promise<Map<string, Buffer>> {
  const v = VECTOR_INPUTS;
  const signKey = privateKeyFromSeed(ED25519_PKCS8_PREFIX, v.senderSeed);
  const recipientKey = privateKeyFromSeed(X25519_PKCS8_PREFIX, v.recipientPrivate);
  const ephemeralKey = privateKeyFromSeed(X25519_PKCS8_PREFIX, v.ephemeralPrivate);
  const identity = identityFromKeys({
    name: v.senderName,
    role: 'inner',
    keysDir: '-',
    signKey,
    signCertificate: pseudoCertificate(v.senderName, 'sign', signKey),
    encKeys: [],
  });
  const plaintext = vectorPlaintext();
  const description: BundleDescription = {
    ...v.description,
    createdAt: new Date(v.description.createdAt),
    expiresAt: new Date(v.description.expiresAt),
  };
  mkdirSync(workDir, { recursive: true });
  const outputPath = join(workDir, 'bundle.gbb');
  const sealed = await sealBundleWith(
    {
      identity,
      recipients: [pseudoCertificate(v.recipientName, 'encrypt', recipientKey)],
      description,
      body: (async function* () {
        await Promise.resolve();
        yield plaintext;
      })(),
      outputPath,
      segmentSize: v.segmentSize,
    },
    { bundleId: v.bundleId, dataKey: Buffer.from(v.dataKey, 'hex'), ephemeralKeys: [ephemeralKey] },
  );
  const bundle = readFileSync(outputPath);

  // Intermediate values, recomputed step by step from the specification.
  const headerLength = bundle.readUInt32BE(8);
  const headerBytes = bundle.subarray(12, 12 + headerLength);
  const signatureLength = bundle.readUInt16BE(12 + headerLength);
  const headerSignature = bundle.subarray(14 + headerLength, 14 + headerLength + signatureLength);
  const epk = rawX25519PublicKey(ephemeralKey);
  const recipientPublic = rawX25519PublicKey(recipientKey);
  const shared = diffieHellman({ privateKey: ephemeralKey, publicKey: createPublicKey(recipientKey) });
  const info = keyWrapInfo(v.bundleId, epk, recipientPublic);
  const kek = Buffer.from(hkdfSync('sha256', shared, Buffer.alloc(0), info, 32));
  const segmentCount = Math.max(1, Math.ceil(plaintext.length / v.segmentSize));
  const finalPreimage = finalSignaturePreimage({
    headerDigest: sha256(headerBytes),
    plaintextDigest: sha256(plaintext),
    segmentCount,
    plaintextLength: plaintext.length,
  });
  const finalSignatureLength = bundle.readUInt16BE(bundle.length - 64 - 2);
  const expected = {
    note: 'All hex. Recomputed by test/crypto/vectors.test.ts with an independent reader.',
    senderPublicKeySpki: createPublicKey(signKey).export({ type: 'spki', format: 'der' }).toString('hex'),
    senderKeyId: keyIdOf(signKey),
    recipientPublicKeyRaw: recipientPublic.toString('hex'),
    recipientKeyId: keyIdOf(recipientKey),
    ephemeralPublicKeyRaw: epk.toString('hex'),
    x25519SharedSecret: shared.toString('hex'),
    hkdfInfo: info.toString('hex'),
    keyEncryptionKey: kek.toString('hex'),
    wrappedKey: Buffer.from(sealed.header.recipients[0]!['wrappedKey']!, 'base64').toString('hex'),
    headerLength,
    headerSha256: sha256(headerBytes).toString('hex'),
    headerSignaturePreimage: headerSignaturePreimage(headerBytes).toString('hex'),
    headerSignature: headerSignature.toString('hex'),
    segmentNonces: Array.from({ length: segmentCount }, (_, i) =>
      segmentNonce(i, i === segmentCount - 1).toString('hex'),
    ),
    segmentCount,
    plaintextSha256: sha256(plaintext).toString('hex'),
    finalSignaturePreimage: finalPreimage.toString('hex'),
    finalSignatureLength,
    finalSignature: bundle.subarray(bundle.length - 64).toString('hex'),
    bundleLength: bundle.length,
    bundleSha256: sha256(bundle).toString('hex'),
  };
  const files = new Map<string, Buffer>();
  files.set('inputs.json', Buffer.from(JSON.stringify(v, null, 2) + '\n'));
  files.set('plaintext.bin', plaintext);
  files.set('header.json', Buffer.from(headerBytes));
  files.set('bundle.gbb', bundle);
  files.set('expected.json', Buffer.from(JSON.stringify(expected, null, 2) + '\n'));
  files.set('sender.key.pem', Buffer.from(signKey.export({ type: 'pkcs8', format: 'pem' })));
  files.set('sender.pub.pem', Buffer.from(createPublicKey(signKey).export({ type: 'spki', format: 'pem' })));
  files.set('recipient.key.pem', Buffer.from(recipientKey.export({ type: 'pkcs8', format: 'pem' })));
  files.set('ephemeral.key.pem', Buffer.from(ephemeralKey.export({ type: 'pkcs8', format: 'pem' })));
  return files;
}

export async function writeVectors(targetDir: string, workDir: string): Promise<void> {
  mkdirSync(targetDir, { recursive: true });
  for (const [name, bytes] of await buildVectors(workDir)) writeFileSync(join(targetDir, name), bytes);
}

// --- sm-v1 (national suite) -------------------------------------------------------------------------
//
// Regenerate with: npm run vectors
//
// Everything is fixed except the two SM2 signatures: SM2 signing draws a fresh random k every time (and
// the sealer offers no way to fix it), so a re-seal gives different signature bytes, of 70..72 bytes.
// The check therefore compares every other part of the file byte for byte (prefix, header, every
// segment frame, ciphertext and tag, the wrapped key, which uses a fixed ephemeral key) and verifies
// the signatures of both the stored and the re-sealed bundle.

export const SM_VECTOR_INPUTS = {
  note:
    'Fixed SM2 scalars for test vectors only (sender signing key, recipient encryption key, the ephemeral k of ' +
    'the SM2 encryption that wraps the data key). Public test keys: never use them for anything else.',
  senderName: 'vector-county',
  senderScalar: '3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8',
  recipientName: 'vector-bank',
  recipientScalar: '1649ab77a00637bd5e2efe283fbf353534aa7f7cb89463f208ddbc2920bb0da0',
  ephemeralScalar: '59276e27d506861a16680f3ad9c02dccef3cc1fa3cdbe4ce6d54b80deac1bc21',
  signerId: '1234567812345678',
  dataKey: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
  bundleId: 'fedcba9876543210fedcba9876543210',
  segmentSize: 1024,
  plaintextLength: 2500,
  description: VECTOR_INPUTS.description,
} as const;

/** The parts of a bundle by the documented layout; signatures separate from everything else. */
export function splitBundle(bundle: Buffer): {
  headerBytes: Buffer;
  headerSignature: Buffer;
  segments: { flags: number; sealed: Buffer }[];
  finalSignature: Buffer;
  unsigned: Buffer;
} {
  const h = bundle.readUInt32BE(8);
  const headerBytes = bundle.subarray(12, 12 + h);
  const s = bundle.readUInt16BE(12 + h);
  const headerSignature = bundle.subarray(14 + h, 14 + h + s);
  const segments: { flags: number; sealed: Buffer }[] = [];
  let at = 14 + h + s;
  for (;;) {
    const flags = bundle[at]!;
    const length = bundle.readUInt32BE(at + 1);
    segments.push({ flags, sealed: bundle.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
    if (flags === 1) break;
  }
  const f = bundle.readUInt16BE(at);
  const finalSignature = bundle.subarray(at + 2, at + 2 + f);
  // The file with both signatures (and their lengths) cut out: deterministic for fixed inputs.
  const unsigned = Buffer.concat([bundle.subarray(0, 12 + h), bundle.subarray(14 + h + s, at)]);
  return { headerBytes, headerSignature, segments, finalSignature, unsigned };
}

export async function buildSmVectors(workDir: string): Promise<Map<string, Buffer>> {
  const v = SM_VECTOR_INPUTS;
  const signKey = sm2PrivateKeyFromScalar(v.senderScalar);
  const recipientKey = sm2PrivateKeyFromScalar(v.recipientScalar);
  const ephemeralKey = sm2PrivateKeyFromScalar(v.ephemeralScalar);
  const identity = identityFromKeys({
    name: v.senderName,
    role: 'inner',
    keysDir: '-',
    signKey,
    signCertificate: pseudoCertificate(v.senderName, 'sign', signKey),
    encKeys: [],
  });
  const plaintext = vectorPlaintext();
  mkdirSync(workDir, { recursive: true });
  const outputPath = join(workDir, 'bundle.gbb');
  const sealed = await sealBundleWith(
    {
      identity,
      suite: 'sm-v1',
      recipients: [pseudoCertificate(v.recipientName, 'encrypt', recipientKey)],
      description: {
        ...v.description,
        createdAt: new Date(v.description.createdAt),
        expiresAt: new Date(v.description.expiresAt),
      },
      body: (async function* () {
        await Promise.resolve();
        yield plaintext;
      })(),
      outputPath,
      segmentSize: v.segmentSize,
    },
    { bundleId: v.bundleId, dataKey: Buffer.from(v.dataKey, 'hex'), ephemeralKeys: [ephemeralKey] },
  );
  const bundle = readFileSync(outputPath);
  const parts = splitBundle(bundle);
  const sm3 = (data: Uint8Array): Buffer => createHash('sm3').update(data).digest();
  const headerDigest = sm3(parts.headerBytes);
  const keys = smSegmentKeys(Buffer.from(v.dataKey, 'hex'));
  const segmentCount = parts.segments.length;
  const senderPoint = sm2PublicPoint(signKey);
  const wrapped = Buffer.from(sealed.header.recipients[0]!['wrappedKey']!, 'base64');
  const expected = {
    note:
      'All hex. SM2 signatures are randomised: headerSignature and finalSignature are one valid instance; ' +
      'unsignedSm3 is the SM3 of the file without both signatures and their u16 lengths, which is fixed.',
    signerId: v.signerId,
    senderPublicPoint: senderPoint.toString('hex'),
    senderKeyId: keyIdOf(signKey),
    senderZ: sm2Z(senderPoint).toString('hex'),
    recipientPublicPoint: sm2PublicPoint(recipientKey).toString('hex'),
    recipientKeyId: keyIdOf(recipientKey),
    ephemeralPublicPoint: sm2PublicPoint(ephemeralKey).toString('hex'),
    wrappedKey: wrapped.toString('hex'),
    wrappedKeyGmt0009Der: sm2CiphertextToDer(wrapped).toString('hex'),
    headerLength: parts.headerBytes.length,
    headerSm3: headerDigest.toString('hex'),
    headerSignaturePreimage: headerSignaturePreimage(parts.headerBytes, 'sm-v1').toString('hex'),
    headerSignatureDigestE: sm2SignatureDigest(
      senderPoint,
      headerSignaturePreimage(parts.headerBytes, 'sm-v1'),
    ).toString('hex'),
    headerSignature: parts.headerSignature.toString('hex'),
    segmentEncKey: keys.encKey.toString('hex'),
    segmentMacKey: keys.macKey.toString('hex'),
    segmentNonces: parts.segments.map((_, i) => segmentNonce(i, i === segmentCount - 1).toString('hex')),
    segmentTags: parts.segments.map((seg) => seg.sealed.subarray(seg.sealed.length - 16).toString('hex')),
    segmentCount,
    plaintextSm3: sm3(plaintext).toString('hex'),
    finalSignaturePreimage: finalSignaturePreimage(
      { headerDigest, plaintextDigest: sm3(plaintext), segmentCount, plaintextLength: plaintext.length },
      'sm-v1',
    ).toString('hex'),
    finalSignature: parts.finalSignature.toString('hex'),
    unsignedSm3: sm3(parts.unsigned).toString('hex'),
  };
  const files = new Map<string, Buffer>();
  files.set('inputs.json', Buffer.from(JSON.stringify(v, null, 2) + '\n'));
  files.set('plaintext.bin', plaintext);
  files.set('header.json', Buffer.from(parts.headerBytes));
  files.set('bundle.gbb', bundle);
  files.set('expected.json', Buffer.from(JSON.stringify(expected, null, 2) + '\n'));
  files.set('sender.key.pem', Buffer.from(signKey.export({ type: 'pkcs8', format: 'pem' })));
  files.set('sender.pub.pem', Buffer.from(createPublicKey(signKey).export({ type: 'spki', format: 'pem' })));
  files.set('recipient.key.pem', Buffer.from(recipientKey.export({ type: 'pkcs8', format: 'pem' })));
  files.set('ephemeral.key.pem', Buffer.from(ephemeralKey.export({ type: 'pkcs8', format: 'pem' })));
  return files;
}

/** Files whose bytes are fixed for fixed inputs (bundle.gbb and expected.json carry random signatures). */
export const SM_DETERMINISTIC_FILES = [
  'inputs.json',
  'plaintext.bin',
  'header.json',
  'sender.key.pem',
  'sender.pub.pem',
  'recipient.key.pem',
  'ephemeral.key.pem',
];

/**
 * Writes the sm-v1 vectors. bundle.gbb and expected.json carry the randomised SM2 signatures: when the
 * stored pair still fits the fresh build (every byte but the signatures unchanged, and both stored
 * signatures verify), it is kept, so that regenerating without a format change leaves every file as it was.
 */
export async function writeSmVectors(targetDir: string, workDir: string): Promise<void> {
  mkdirSync(targetDir, { recursive: true });
  const built = await buildSmVectors(workDir);
  if (storedSmSignaturesFit(targetDir, built)) {
    built.delete('bundle.gbb');
    built.delete('expected.json');
  }
  for (const [name, bytes] of built) writeFileSync(join(targetDir, name), bytes);
}

function storedSmSignaturesFit(targetDir: string, built: Map<string, Buffer>): boolean {
  const bundleFile = join(targetDir, 'bundle.gbb');
  const expectedFile = join(targetDir, 'expected.json');
  if (!existsSync(bundleFile) || !existsSync(expectedFile)) return false;
  try {
    const stored = splitBundle(readFileSync(bundleFile));
    const fresh = splitBundle(built.get('bundle.gbb')!);
    if (!stored.unsigned.equals(fresh.unsigned)) return false;
    const storedExpected = JSON.parse(readFileSync(expectedFile, 'utf8')) as Record<string, unknown>;
    const freshExpected = JSON.parse(built.get('expected.json')!.toString('utf8')) as Record<string, unknown>;
    const unsignedPart = (o: Record<string, unknown>): string =>
      JSON.stringify({ ...o, headerSignature: undefined, finalSignature: undefined });
    if (unsignedPart(storedExpected) !== unsignedPart(freshExpected)) return false;
    if (
      storedExpected['headerSignature'] !== stored.headerSignature.toString('hex') ||
      storedExpected['finalSignature'] !== stored.finalSignature.toString('hex')
    )
      return false;
    const sender = createPublicKey(built.get('sender.pub.pem')!);
    return (
      sm2Verify(sender, headerSignaturePreimage(stored.headerBytes, 'sm-v1'), stored.headerSignature) &&
      sm2Verify(sender, Buffer.from(String(storedExpected['finalSignaturePreimage']), 'hex'), stored.finalSignature)
    );
  } catch {
    return false;
  }
}
