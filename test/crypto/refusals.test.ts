// Every refusal of a received bundle, each with its own code (design 4). Pre-decryption refusals must
// happen in openBundle itself; post-decryption ones while iterating the body, before it completes. The
// whole set runs for each suite (intl-v1 and the national sm-v1) against a key world issued for it, and
// again for intl-v1 with an ECDSA P-256 signer and with the receiving bank's keys in a SoftHSM2 token.
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCrl,
  importCertificates,
  importCrl,
  initCa,
  issueNodeKeys,
  loadIdentity,
  loadTrustStore,
  openBundle,
  readBundleHeader,
  recipientCertificates,
  revokeCertificate,
  sealBundle,
  type Identity,
  type OpenRequest,
  type PeerCertificate,
  type BundleHeader,
  type SuiteName,
} from '../../crypto/index.js';
import { encodeHeader, parseHeader } from '../../crypto/header.js';
import { identitySecrets } from '../../crypto/identity.js';
import { headerSignaturePreimage } from '../../crypto/preimage.js';
import { suiteNamed } from '../../crypto/suites.js';
import { VerificationError } from '../../shared/errors.js';
import {
  CA_PASSPHRASE,
  NODE_PASSPHRASE,
  chunks,
  collect,
  createWorld,
  description,
  SUITES,
  issueNode,
  seal,
  type World,
} from './fixtures.js';
import { SOFTHSM_MODULE, USER_PIN, createSoftHsm, softhsmMissing } from './softhsm.js';

/** Byte offsets of a bundle's parts, from its documented layout (docs/bundle-format.md). */
function layout(file: string) {
  const bytes = readFileSync(file);
  const headerLength = bytes.readUInt32BE(8);
  const signatureLength = bytes.readUInt16BE(12 + headerLength);
  const bodyOffset = 12 + headerLength + 2 + signatureLength;
  const segments: { offset: number; length: number }[] = [];
  let position = bodyOffset;
  for (;;) {
    const length = bytes.readUInt32BE(position + 1);
    segments.push({ offset: position, length: 5 + length });
    const last = bytes[position] === 1;
    position += 5 + length;
    if (last) break;
  }
  return { bytes, headerLength, bodyOffset, segments, trailerOffset: position };
}

/** The same bundle with other header bytes, re-signed with the sender's key: only what was edited differs. */
function withResignedHeader(file: string, sender: Identity, edit: (header: BundleHeader) => void): Buffer {
  const { bytes, headerLength, bodyOffset } = layout(file);
  const header = parseHeader(bytes.subarray(12, 12 + headerLength), file);
  edit(header);
  const headerBytes = encodeHeader(header);
  const suite = suiteNamed(header.suite);
  const signature = suite.sign(
    identitySecrets(sender).signKey,
    headerSignaturePreimage(headerBytes, header.suite),
  );
  const prefix = Buffer.from(bytes.subarray(0, 12));
  prefix.writeUInt32BE(headerBytes.length, 8);
  const signatureLength = Buffer.alloc(2);
  signatureLength.writeUInt16BE(signature.length, 0);
  return Buffer.concat([prefix, headerBytes, signatureLength, signature, bytes.subarray(bodyOffset)]);
}

/** The bundle's frames (flags, length, segment) in file order, and everything before and after them. */
function frames(file: string): { head: Buffer; frames: Buffer[]; tail: Buffer } {
  const { bytes, bodyOffset, segments, trailerOffset } = layout(file);
  return {
    head: bytes.subarray(0, bodyOffset),
    frames: segments.map((s) => Buffer.from(bytes.subarray(s.offset, s.offset + s.length))),
    tail: bytes.subarray(trailerOffset),
  };
}

// Under CI=true a missing SoftHSM2 fails the token world (softhsmMissing throws); elsewhere it is skipped.
let softhsmSkip: string | undefined;
let softhsmFailure: Error | undefined;
try {
  softhsmSkip = softhsmMissing();
} catch (error) {
  softhsmFailure = error instanceof Error ? error : new Error(String(error));
}
const PIN_ENV = 'GBB_TEST_REFUSALS_PIN';

/** intl-v1 world whose bank-a keeps both key pairs (P-256) in a SoftHSM2 token: ECDH in the token. */
async function createTokenWorld(): Promise<World> {
  if (softhsmFailure !== undefined) throw softhsmFailure;
  const root = mkdtempSync(join(tmpdir(), 'bridge-refusals-token-'));
  // The token exists before this process first loads the PKCS#11 module (SoftHSM reads slots once).
  createSoftHsm(root, ['refusals-bank-a']);
  process.env[PIN_ENV] = USER_PIN;
  const world = await createWorld('intl-v1', 'ed25519', {
    token: {
      nodes: ['bank-a'],
      options: { module: SOFTHSM_MODULE, label: 'refusals-bank-a', pinEnv: PIN_ENV },
    },
  });
  return {
    ...world,
    cleanup: () => {
      world.cleanup();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

interface WorldKind {
  title: string;
  suite: SuiteName;
  create(): Promise<World>;
  /** The sender's signing algorithm, and whether bank-a's keys are in a token: checked first. */
  signer: 'ed25519' | 'ecdsa-p256' | 'sm2';
  bankInToken: boolean;
  /** Why this world cannot be built here (the tests are then skipped); never set under CI=true. */
  skip?: string;
}

const WORLDS: WorldKind[] = [
  ...SUITES.map((suite) => ({
    title: `suite ${suite}, ${suite === 'sm-v1' ? 'SM2' : 'Ed25519'} signer, key files`,
    suite,
    create: () => createWorld(suite),
    signer: suite === 'sm-v1' ? ('sm2' as const) : ('ed25519' as const),
    bankInToken: false,
  })),
  {
    title: 'suite intl-v1, ECDSA P-256 signer, key files',
    suite: 'intl-v1',
    create: () => createWorld('intl-v1', 'ed25519', { signAlgorithm: 'ecdsa-p256' }),
    signer: 'ecdsa-p256',
    bankInToken: false,
  },
  {
    title: `suite intl-v1, bank keys in a SoftHSM2 token${softhsmSkip ? ` — skipped: ${softhsmSkip}` : ''}`,
    suite: 'intl-v1',
    create: createTokenWorld,
    signer: 'ed25519',
    bankInToken: true,
    ...(softhsmSkip ? { skip: softhsmSkip } : {}),
  },
];

for (const kind of WORLDS) describe.skipIf(kind.skip !== undefined)(kind.title, () => refusals(kind));

function refusals(kind: WorldKind): void {
  const suite = kind.suite;
  let world: World;
  let forBankA: PeerCertificate[];
  const SEGMENT = 1024;

  beforeAll(async () => {
    world = await kind.create();
    forBankA = recipientCertificates(world.trust['gov']!, 'bank-a', new Date());
  });
  afterAll(() => world?.cleanup());

  function openAs(path: string, overrides: Partial<OpenRequest> = {}) {
    return openBundle({
      path,
      identity: world.identities['bank-a']!,
      trust: world.trust['bank-a']!,
      now: new Date(),
      expectSenderRole: 'inner',
      ...overrides,
    });
  }

  async function sealAs(identity: Identity, file: string, body: Buffer = randomBytes(3000)) {
    return sealBundle({
      identity,
      recipients: forBankA,
      description: description(),
      body: chunks(body),
      outputPath: join(world.root, 'out', file),
      segmentSize: SEGMENT,
    });
  }

  async function expectRefusedWhileReading(path: string, code: string, message?: RegExp): Promise<Buffer[]> {
    const opened = await openAs(path);
    const seen: Buffer[] = [];
    const error = await (async () => {
      for await (const part of opened.body) seen.push(part);
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(VerificationError);
    expect(error).toMatchObject({ code });
    if (message) expect((error as VerificationError).message).toMatch(message);
    return seen;
  }

  /** A bundle of `body` in 1024-byte segments, rewritten with its frames edited. */
  async function withFrames(file: string, edit: (frames: Buffer[]) => Buffer[], body?: Buffer) {
    const sealed = await sealAs(world.identities['gov']!, file, body);
    const parts = frames(sealed.path);
    writeFileSync(sealed.path, Buffer.concat([parts.head, ...edit(parts.frames), parts.tail]));
    return sealed.path;
  }

  it('is the world its title says: the signer, and where the bank keeps its keys', async () => {
    expect(world.identities['gov']!.signAlgorithm).toBe(kind.signer);
    const bankKeys = world.keysDir('bank-a');
    expect(existsSync(join(bankKeys, 'token.yaml'))).toBe(kind.bankInToken);
    expect(existsSync(join(bankKeys, 'enc.key.pem'))).toBe(!kind.bankInToken);
    // and a bundle sealed in it opens
    const body = randomBytes(2500);
    const sealed = await sealAs(world.identities['gov']!, 'world.gbb', body);
    expect(await collect((await openAs(sealed.path)).body)).toEqual(body);
  });

  describe('refusals before decrypting anything', () => {
    it('bad magic', async () => {
      const path = join(world.root, 'out', 'magic.gbb');
      writeFileSync(path, 'PK\u0003\u0004 definitely a zip file');
      await expect(openAs(path)).rejects.toMatchObject({ code: 'VERIFY_BAD_MAGIC' });
      await expect(readBundleHeader(path)).rejects.toMatchObject({ code: 'VERIFY_BAD_MAGIC' });
    });

    it('an empty file or a bare magic prefix is truncated (still being written), not foreign', async () => {
      for (const [name, content] of [
        ['empty.gbb', ''],
        ['gbb.gbb', 'GBB'],
      ] as const) {
        const path = join(world.root, 'out', name);
        writeFileSync(path, content);
        await expect(openAs(path)).rejects.toMatchObject({ code: 'VERIFY_TRUNCATED' });
      }
      await expect(openAs(join(world.root, 'out', 'missing.gbb'))).rejects.toMatchObject({
        code: 'VERIFY_FILE_UNREADABLE',
      });
    });

    it('unsupported version', async () => {
      const sealed = await seal(world, 'gov', forBankA, randomBytes(10), 'version.gbb');
      const bytes = readFileSync(sealed.path);
      bytes.writeUInt16BE(2, 6);
      writeFileSync(sealed.path, bytes);
      await expect(openAs(sealed.path)).rejects.toMatchObject({ code: 'VERIFY_UNSUPPORTED_VERSION' });
    });

    it('header too large, refused from the length field alone', async () => {
      const path = join(world.root, 'out', 'huge-header.gbb');
      const prefix = Buffer.alloc(12);
      prefix.write('GBBNDL', 0, 'ascii');
      prefix.writeUInt16BE(1, 6);
      prefix.writeUInt32BE(0xfffffff0, 8);
      writeFileSync(path, prefix);
      await expect(openAs(path)).rejects.toMatchObject({ code: 'VERIFY_HEADER_TOO_LARGE' });
    });

    it('malformed header (not canonical JSON)', async () => {
      const sealed = await seal(world, 'gov', forBankA, randomBytes(10), 'malformed.gbb');
      const { bytes } = layout(sealed.path);
      const at = bytes.indexOf('{"bundleId"');
      bytes[at + 1] = 0x20; // a space where a quote was: no longer JSON
      writeFileSync(sealed.path, bytes);
      await expect(openAs(sealed.path)).rejects.toMatchObject({ code: 'VERIFY_HEADER_MALFORMED' });
    });

    it('unknown sender (same CA, not in the trust folder)', async () => {
      const dir = await issueNode(world, 'gov-unknown', 'inner');
      const stranger = await loadIdentity({ keysDir: dir, passphrase: NODE_PASSPHRASE });
      const sealed = await sealAs(stranger, 'unknown.gbb');
      await expect(openAs(sealed.path)).rejects.toMatchObject({ code: 'VERIFY_UNKNOWN_SENDER' });
    });

    it('certificate from an untrusted CA, even when planted in peers/', async () => {
      const rogueCa = join(world.root, 'rogue-ca');
      await initCa({ dir: rogueCa, passphrase: CA_PASSPHRASE, name: 'Rogue CA' });
      const dir = join(world.root, 'keys', 'rogue-gov');
      await issueNodeKeys({
        caDir: rogueCa,
        caPassphrase: CA_PASSPHRASE,
        role: 'inner',
        name: 'gov',
        outDir: dir,
        passphrase: NODE_PASSPHRASE,
        suite,
        ...(world.signAlgorithm ? { signAlgorithm: world.signAlgorithm } : {}),
      });
      const rogue = await loadIdentity({ keysDir: dir, passphrase: NODE_PASSPHRASE });
      const trustDir = join(world.root, 'trust', 'bank-a-planted');
      mkdirSync(join(trustDir, 'peers'), { recursive: true });
      copyFileSync(join(world.trustDir('bank-a'), 'ca.cert.pem'), join(trustDir, 'ca.cert.pem'));
      copyFileSync(join(dir, 'sign.cert.pem'), join(trustDir, 'peers', 'gov-sign-planted.cert.pem'));
      const trust = await loadTrustStore(trustDir);
      expect(trust.problems[0]?.reason).toMatch(/not issued by the trusted CA/);
      const sealed = await sealAs(rogue, 'rogue.gbb');
      await expect(openAs(sealed.path, { trust })).rejects.toMatchObject({
        code: 'VERIFY_UNTRUSTED_CERTIFICATE',
      });
      // and import-cert refuses to plant it in the first place
      await expect(
        importCertificates({ trustDir: world.trustDir('bank-a'), files: [join(dir, 'sign.cert.pem')] }),
      ).rejects.toMatchObject({ code: 'KEY_INVALID' });
    });

    it('revoked signing certificate (CRL honoured)', async () => {
      const dir = await issueNode(world, 'gov-revoked', 'inner');
      const revokedNode = await loadIdentity({ keysDir: dir, passphrase: NODE_PASSPHRASE });
      const trustDir = join(world.root, 'trust', 'bank-a-crl');
      await importCertificates({
        trustDir,
        caCertFile: join(world.caDir, 'ca.cert.pem'),
        files: [join(dir, 'trust-export', 'gov-revoked-sign.cert.pem')],
      });
      const sealed = await sealAs(revokedNode, 'revoked.gbb');
      const before = await loadTrustStore(trustDir);
      await collect((await openAs(sealed.path, { trust: before })).body);
      await revokeCertificate({
        caDir: world.caDir,
        caPassphrase: CA_PASSPHRASE,
        certFile: join(dir, 'sign.cert.pem'),
        reason: 'keyCompromise',
      });
      const crlFile = join(world.root, 'out', 'crl.pem');
      await createCrl({ caDir: world.caDir, caPassphrase: CA_PASSPHRASE, out: crlFile });
      await importCrl({ trustDir, crlFile });
      const after = await loadTrustStore(trustDir);
      await expect(openAs(sealed.path, { trust: after })).rejects.toMatchObject({
        code: 'VERIFY_CERTIFICATE_REVOKED',
      });
    });

    it('expired signing certificate', async () => {
      const longAgo = new Date(Date.now() - 10 * 86_400_000);
      const dir = await issueNode(world, 'gov-old', 'inner', { now: longAgo, days: 2 });
      const oldNode = await loadIdentity({ keysDir: dir, passphrase: NODE_PASSPHRASE });
      const trustDir = join(world.root, 'trust', 'bank-a-old');
      await importCertificates({
        trustDir,
        caCertFile: join(world.caDir, 'ca.cert.pem'),
        files: [join(dir, 'trust-export', 'gov-old-sign.cert.pem')],
        now: longAgo,
      });
      // Signed while the certificate was valid, received after it expired.
      const sealed = await sealBundle({
        identity: oldNode,
        recipients: forBankA,
        description: description({
          createdAt: new Date(longAgo.getTime() + 3_600_000),
          expiresAt: new Date(Date.now() + 3_600_000),
        }),
        body: chunks(randomBytes(100)),
        outputPath: join(world.root, 'out', 'expired-cert.gbb'),
      });
      const trust = await loadTrustStore(trustDir);
      await expect(openAs(sealed.path, { trust })).rejects.toMatchObject({
        code: 'VERIFY_CERTIFICATE_EXPIRED',
      });
      // Verification is pure in `now`: inside the validity window the same bundle opens.
      const opened = await openAs(sealed.path, { trust, now: new Date(longAgo.getTime() + 7_200_000) });
      expect((await collect(opened.body)).length).toBe(100);
      // and the sealer refuses to sign with the expired certificate today
      await expect(sealAs(oldNode, 'expired-now.gbb')).rejects.toMatchObject({ code: 'KEY_EXPIRED' });
    });

    it('wrong role: an outer node signing on the inner-to-outer lane', async () => {
      const sealed = await sealAs(world.identities['bank-b']!, 'wrong-role.gbb');
      await expect(openAs(sealed.path)).rejects.toMatchObject({ code: 'VERIFY_WRONG_ROLE' });
    });

    it('header signature does not verify after a header byte changed', async () => {
      const sealed = await seal(world, 'gov', forBankA, randomBytes(10), 'header-sig.gbb');
      const { bytes } = layout(sealed.path);
      const at = bytes.indexOf('"dataset":"residents"');
      bytes.write('"dataset":"residentz"', at, 'utf8');
      writeFileSync(sealed.path, bytes);
      await expect(openAs(sealed.path)).rejects.toMatchObject({ code: 'VERIFY_HEADER_SIGNATURE' });
    });

    it('seals with the suite of its keys, and keys of the other suite are refused', async () => {
      const sealed = await sealAs(world.identities['gov']!, 'suite.gbb');
      expect(sealed.header.suite).toBe(suite);
      await expect(readBundleHeader(sealed.path)).resolves.toMatchObject({ suite });
      const other = suite === 'intl-v1' ? 'sm-v1' : 'intl-v1';
      const dir = await issueNode(
        { root: world.root, caDir: world.caDir, suite: other },
        `gov-${other}`,
        'inner',
      );
      const foreign = await loadIdentity({ keysDir: dir, passphrase: NODE_PASSPHRASE });
      // its own suite cannot wrap for these recipients, and it cannot sign this suite
      await expect(sealAs(foreign, 'mixed.gbb')).rejects.toMatchObject({ code: 'BUNDLE_MALFORMED' });
      await expect(
        sealBundle({
          identity: foreign,
          suite,
          recipients: forBankA,
          description: description(),
          body: chunks(randomBytes(10)),
          outputPath: join(world.root, 'out', 'mixed-2.gbb'),
        }),
      ).rejects.toMatchObject({ code: 'KEY_INVALID' });
    });

    it('not for us', async () => {
      const forBankB = recipientCertificates(world.trust['gov']!, 'bank-b', new Date());
      const sealed = await seal(world, 'gov', forBankB, randomBytes(10), 'for-b.gbb');
      await expect(openAs(sealed.path)).rejects.toMatchObject({ code: 'VERIFY_NOT_FOR_US' });
    });

    it('expired bundle, and one created too far in the future', async () => {
      const now = Date.now();
      const sealed = await seal(world, 'gov', forBankA, randomBytes(10), 'expired.gbb', {
        description: { createdAt: new Date(now - 60_000), expiresAt: new Date(now - 30_000) },
      });
      await expect(openAs(sealed.path)).rejects.toMatchObject({ code: 'VERIFY_BUNDLE_EXPIRED' });
      const future = await seal(world, 'gov', forBankA, randomBytes(10), 'future.gbb', {
        description: { createdAt: new Date(now + 3_600_000), expiresAt: new Date(now + 7_200_000) },
      });
      await expect(openAs(future.path)).rejects.toMatchObject({ code: 'VERIFY_BUNDLE_NOT_YET_VALID' });
    });

    it('replay', async () => {
      const sealed = await seal(world, 'gov', forBankA, randomBytes(10), 'replay.gbb');
      const seen = new Set([sealed.header.bundleId]);
      await expect(openAs(sealed.path, { isReplay: (id) => seen.has(id) })).rejects.toMatchObject({
        code: 'VERIFY_REPLAYED',
      });
    });

    it('the data key does not unwrap: our entry damaged, the header re-signed by the sender', async () => {
      const gov = world.identities['gov']!;
      const ourKeys = new Set(world.identities['bank-a']!.encKeyIds);
      const sealed = await sealAs(gov, 'unwrap.gbb');
      // Control: a re-signed header passes every header check; only the body, bound to the old header
      // digest, fails. So in the forgery below nothing but the damaged entry can stop the bundle.
      const control = join(world.root, 'out', 'unwrap-control.gbb');
      writeFileSync(
        control,
        withResignedHeader(sealed.path, gov, (h) => {
          h.dataset = 'residentz';
        }),
      );
      await expectRefusedWhileReading(control, 'VERIFY_SEGMENT_TAMPERED');
      const forged = withResignedHeader(sealed.path, gov, (h) => {
        const entry = h.recipients.find((r) => ourKeys.has(r.keyId))!;
        const wrapped = Buffer.from(entry['wrappedKey']!, 'base64');
        wrapped[wrapped.length - 1]! ^= 0x01; // the last byte: the GCM tag (intl-v1), or C2 (sm-v1)
        entry['wrappedKey'] = wrapped.toString('base64');
      });
      writeFileSync(sealed.path, forged);
      const error = await openAs(sealed.path).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'VERIFY_UNWRAP_FAILED' });
      expect((error as VerificationError).message).toMatch(/does not unwrap with our decryption key/);
    });
  });

  describe('refusals while reading the body', () => {
    it('a bit flip in a segment', async () => {
      const sealed = await sealAs(world.identities['gov']!, 'flip.gbb');
      const { bytes, segments } = layout(sealed.path);
      bytes[segments[1]!.offset + 5 + 100]! ^= 0x01;
      writeFileSync(sealed.path, bytes);
      const seen = await expectRefusedWhileReading(
        sealed.path,
        'VERIFY_SEGMENT_TAMPERED',
        /^Segment 1 fails authentication: its bytes were altered, or it comes from another bundle/,
      );
      expect(seen).toHaveLength(1); // segment 0 was fine and released; nothing after it
    });

    it('a bit flip in the last segment tag: the segment before it is released, nothing else', async () => {
      const sealed = await sealAs(world.identities['gov']!, 'flip-tag.gbb');
      const { bytes, trailerOffset } = layout(sealed.path);
      bytes[trailerOffset - 1]! ^= 0x80;
      writeFileSync(sealed.path, bytes);
      const seen = await expectRefusedWhileReading(sealed.path, 'VERIFY_SEGMENT_TAMPERED', /^Segment 2 /);
      expect(seen).toHaveLength(2);
    });

    it('a truncated file: inside a segment, at a segment boundary, and without the trailer', async () => {
      const sealed = await sealAs(world.identities['gov']!, 'trunc.gbb');
      const { bytes, segments, trailerOffset } = layout(sealed.path);
      for (const cut of [
        segments[1]!.offset + 50,
        segments[1]!.offset + 2, // inside a frame
        segments[2]!.offset,
        trailerOffset,
        bytes.length - 1,
      ]) {
        const path = join(world.root, 'out', `trunc-${cut}.gbb`);
        writeFileSync(path, bytes.subarray(0, cut));
        await expectRefusedWhileReading(path, 'VERIFY_TRUNCATED');
      }
      const cutHeader = join(world.root, 'out', 'trunc-header.gbb');
      writeFileSync(cutHeader, bytes.subarray(0, 40));
      await expect(openAs(cutHeader)).rejects.toMatchObject({ code: 'VERIFY_TRUNCATED' });
    });

    it('dropping the last segment and flagging the previous one as last', async () => {
      const sealed = await sealAs(world.identities['gov']!, 'droplast.gbb');
      const { bytes, segments, trailerOffset } = layout(sealed.path);
      const lastSegment = segments.at(-1)!;
      const forged = Buffer.concat([bytes.subarray(0, lastSegment.offset), bytes.subarray(trailerOffset)]);
      forged[segments.at(-2)!.offset] = 1;
      const path = join(world.root, 'out', 'droplast-forged.gbb');
      writeFileSync(path, forged);
      const seen = await expectRefusedWhileReading(
        path,
        'VERIFY_SEGMENT_REFLAGGED',
        /^Segment 1 is flagged as the last segment but is not: .* cut short/,
      );
      expect(seen).toHaveLength(1);
    });

    it('the last flag set on a middle segment (re-flagged, cut short)', async () => {
      const path = await withFrames('reflag-middle.gbb', (f) => {
        f[1]![0] = 1;
        return f;
      });
      const seen = await expectRefusedWhileReading(
        path,
        'VERIFY_SEGMENT_REFLAGGED',
        /^Segment 1 is flagged as the last segment but is not/,
      );
      expect(seen).toHaveLength(1);
    });

    it('the last flag cleared on the last segment, short or full (re-flagged, extended)', async () => {
      // 3000 bytes: the last segment is short, so its frame is invalid for a "more" segment; 3072 bytes:
      // it is full, so the frame is valid and only authentication tells.
      for (const [file, size] of [
        ['reflag-last-short.gbb', 3000],
        ['reflag-last-full.gbb', 3072],
      ] as const) {
        const path = await withFrames(
          file,
          (f) => {
            f[2]![0] = 0;
            return f;
          },
          randomBytes(size),
        );
        const seen = await expectRefusedWhileReading(
          path,
          'VERIFY_SEGMENT_REFLAGGED',
          /^Segment 2 is the last segment but is flagged as followed by more/,
        );
        expect(seen).toHaveLength(2);
      }
    });

    it('two segments swapped', async () => {
      const path = await withFrames('swap.gbb', ([a, b, ...rest]) => [b!, a!, ...rest]);
      const seen = await expectRefusedWhileReading(
        path,
        'VERIFY_SEGMENT_REORDERED',
        /^Segments out of order: position 0 holds segment 1 of this bundle/,
      );
      expect(seen).toHaveLength(0);
    });

    it('the middle and last segments swapped, flags and all', async () => {
      const path = await withFrames('swap-last.gbb', ([a, b, c]) => [a!, c!, b!]);
      const seen = await expectRefusedWhileReading(
        path,
        'VERIFY_SEGMENT_REORDERED',
        /^Segments out of order: position 1 holds segment 2 of this bundle/,
      );
      expect(seen).toHaveLength(1);
    });

    it('a segment duplicated, and a segment dropped', async () => {
      const duplicated = await withFrames('duplicated.gbb', ([a, ...rest]) => [a!, a!, ...rest]);
      await expectRefusedWhileReading(
        duplicated,
        'VERIFY_SEGMENT_REORDERED',
        /position 1 holds segment 0 of this bundle/,
      );
      const dropped = await withFrames('dropped.gbb', ([a, , ...rest]) => [a!, ...rest]);
      await expectRefusedWhileReading(dropped, 'VERIFY_SEGMENT_REORDERED', /position 1 holds segment 2 /);
    });

    it('a segment moved far beyond the search window is reported as altered or foreign', async () => {
      // 70 segments; the last full one (68) moved to position 1: 67 positions away, beyond the 64 searched.
      const path = await withFrames(
        'moved-far.gbb',
        (f) => [f[0]!, f[68]!, ...f.slice(2, 68), f[1]!, f[69]!],
        randomBytes(70 * SEGMENT - 10),
      );
      await expectRefusedWhileReading(path, 'VERIFY_SEGMENT_TAMPERED', /^Segment 1 fails authentication/);
    });

    it('a segment spliced in from another bundle', async () => {
      const a = await sealAs(world.identities['gov']!, 'splice-a.gbb');
      const b = await sealAs(world.identities['gov']!, 'splice-b.gbb');
      const la = layout(a.path);
      const lb = layout(b.path);
      const s = la.segments[1]!;
      const t = lb.segments[1]!;
      const spliced = Buffer.concat([
        la.bytes.subarray(0, s.offset),
        lb.bytes.subarray(t.offset, t.offset + t.length),
        la.bytes.subarray(s.offset + s.length),
      ]);
      writeFileSync(a.path, spliced);
      const seen = await expectRefusedWhileReading(
        a.path,
        'VERIFY_SEGMENT_TAMPERED',
        /^Segment 1 fails authentication: .*comes from another bundle \(the two cannot be told apart/,
      );
      expect(seen).toHaveLength(1);
    });

    it('an altered final signature; the last segment is never released', async () => {
      const sealed = await sealAs(world.identities['gov']!, 'final.gbb', randomBytes(500));
      const { bytes, trailerOffset } = layout(sealed.path);
      bytes[trailerOffset + 2 + 10]! ^= 0x80;
      writeFileSync(sealed.path, bytes);
      const seen = await expectRefusedWhileReading(sealed.path, 'VERIFY_FINAL_SIGNATURE');
      expect(seen).toHaveLength(0);
    });

    it('bytes appended after the final signature', async () => {
      const sealed = await sealAs(world.identities['gov']!, 'trailing.gbb');
      writeFileSync(sealed.path, Buffer.concat([readFileSync(sealed.path), Buffer.from('x')]));
      await expectRefusedWhileReading(sealed.path, 'VERIFY_TRAILING_DATA');
    });
  });
}
