// Every refusal of a received bundle, each with its own code (design 4). Pre-decryption refusals must
// happen in openBundle itself; post-decryption ones while iterating the body, before it completes. The
// whole set runs for each suite (intl-v1 and the national sm-v1) against a key world issued for it.
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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
} from '../../crypto/index.js';
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

describe.each(SUITES)('suite %s', (suite) => {
  let world: World;
  let forBankA: PeerCertificate[];
  const SEGMENT = 1024;

  beforeAll(async () => {
    world = await createWorld(suite);
    forBankA = recipientCertificates(world.trust['gov']!, 'bank-a', new Date());
  });
  afterAll(() => world.cleanup());

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

  async function sealAs(identity: Identity, file: string, body = randomBytes(3000)) {
    return sealBundle({
      identity,
      recipients: forBankA,
      description: description(),
      body: chunks(body),
      outputPath: join(world.root, 'out', file),
      segmentSize: SEGMENT,
    });
  }

  async function expectRefusedWhileReading(path: string, code: string): Promise<Buffer[]> {
    const opened = await openAs(path);
    const seen: Buffer[] = [];
    await expect(
      (async () => {
        for await (const part of opened.body) seen.push(part);
      })(),
    ).rejects.toMatchObject({ code });
    return seen;
  }

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
      const dir = await issueNode({ ...world, suite: other }, `gov-${other}`, 'inner');
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
  });

  describe('refusals while reading the body', () => {
    it('a bit flip in a segment', async () => {
      const sealed = await sealAs(world.identities['gov']!, 'flip.gbb');
      const { bytes, segments } = layout(sealed.path);
      bytes[segments[1]!.offset + 5 + 100]! ^= 0x01;
      writeFileSync(sealed.path, bytes);
      const seen = await expectRefusedWhileReading(sealed.path, 'VERIFY_SEGMENT_TAMPERED');
      expect(seen).toHaveLength(1); // segment 0 was fine and released; nothing after it
    });

    it('a truncated file: inside a segment, at a segment boundary, and without the trailer', async () => {
      const sealed = await sealAs(world.identities['gov']!, 'trunc.gbb');
      const { bytes, segments, trailerOffset } = layout(sealed.path);
      for (const cut of [segments[1]!.offset + 50, segments[2]!.offset, trailerOffset, bytes.length - 1]) {
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
      await expectRefusedWhileReading(path, 'VERIFY_SEGMENT_TAMPERED');
    });

    it('two segments swapped', async () => {
      const sealed = await sealAs(world.identities['gov']!, 'swap.gbb');
      const { bytes, segments } = layout(sealed.path);
      const [s0, s1] = [segments[0]!, segments[1]!];
      const swapped = Buffer.concat([
        bytes.subarray(0, s0.offset),
        bytes.subarray(s1.offset, s1.offset + s1.length),
        bytes.subarray(s0.offset, s0.offset + s0.length),
        bytes.subarray(s1.offset + s1.length),
      ]);
      writeFileSync(sealed.path, swapped);
      const seen = await expectRefusedWhileReading(sealed.path, 'VERIFY_SEGMENT_TAMPERED');
      expect(seen).toHaveLength(0);
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
      await expectRefusedWhileReading(a.path, 'VERIFY_SEGMENT_TAMPERED');
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
});
