// Test vectors for intl-v1: (1) sealing the fixed inputs reproduces the stored bytes exactly;
// (2) an independent reader written from docs/bundle-format.md alone (node:crypto primitives only, no
// code from crypto/) opens the stored bundle and reproduces every intermediate value. For sm-v1 the same
// two checks, except that SM2 signatures are randomised: (1) compares everything but the signatures and
// verifies them, (2) uses the openssl binary for every SM2 step (signatures, unwrapping the data key).
import {
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  verify,
} from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { headerSignaturePreimage } from '../../crypto/preimage.js';
import { sm2Verify } from '../../crypto/sm2.js';
import {
  SM_DETERMINISTIC_FILES,
  buildSmVectors,
  buildVectors,
  splitBundle,
  writeSmVectors,
  writeVectors,
} from '../vectors/generate.js';

const VECTOR_DIR = join(import.meta.dirname, '..', 'vectors', 'intl-v1');
const read = (name: string): Buffer => readFileSync(join(VECTOR_DIR, name));
const sha256 = (data: Uint8Array): Buffer => createHash('sha256').update(data).digest();
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

interface Expected {
  [key: string]: string | number | string[];
  segmentNonces: string[];
}

describe('intl-v1 test vectors', () => {
  it('sealing the fixed inputs reproduces the stored files byte for byte', async () => {
    const work = mkdtempSync(join(tmpdir(), 'bridge-vectors-'));
    try {
      if (process.env['GBB_WRITE_VECTORS'] === '1') await writeVectors(VECTOR_DIR, work);
      const built = await buildVectors(join(work, 'check'));
      for (const [name, bytes] of built) expect(bytes.equals(read(name)), name).toBe(true);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('an independent reader following docs/bundle-format.md opens the stored bundle', () => {
    const bundle = read('bundle.gbb');
    const expected = JSON.parse(read('expected.json').toString('utf8')) as Expected;
    const recipientKey = createPrivateKey(read('recipient.key.pem'));
    const senderPublic = createPublicKey(read('sender.pub.pem'));

    expect(bundle.subarray(0, 6).toString('ascii')).toBe('GBBNDL');
    expect(bundle.readUInt16BE(6)).toBe(1);
    const h = bundle.readUInt32BE(8);
    const header = bundle.subarray(12, 12 + h);
    expect(header.equals(read('header.json'))).toBe(true);
    const s = bundle.readUInt16BE(12 + h);
    const headerSig = bundle.subarray(14 + h, 14 + h + s);
    const headerPreimage = Buffer.concat([
      Buffer.from('govbank-bridge/intl-v1/header-signature\0', 'ascii'),
      header,
    ]);
    expect(headerPreimage.toString('hex')).toBe(expected['headerSignaturePreimage']);
    expect(verify(null, headerPreimage, senderPublic, headerSig)).toBe(true);

    const parsed = JSON.parse(header.toString('utf8')) as {
      bundleId: string;
      segmentSize: number;
      recipients: { epk: string; wrappedKey: string; keyId: string }[];
    };
    const entry = parsed.recipients[0]!;
    const epk = Buffer.from(entry.epk, 'base64');
    const recipientRaw = createPublicKey(recipientKey).export({ type: 'spki', format: 'der' }).subarray(12);
    const spki = (raw: Buffer) =>
      createPublicKey({
        key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), raw]),
        format: 'der',
        type: 'spki',
      });
    const shared = diffieHellman({ privateKey: recipientKey, publicKey: spki(epk) });
    expect(shared.toString('hex')).toBe(expected['x25519SharedSecret']);
    const info = Buffer.concat([
      Buffer.from('govbank-bridge/intl-v1/key-wrap\0', 'ascii'),
      Buffer.from(parsed.bundleId, 'ascii'),
      epk,
      recipientRaw,
    ]);
    expect(info.toString('hex')).toBe(expected['hkdfInfo']);
    const kek = Buffer.from(hkdfSync('sha256', shared, Buffer.alloc(0), info, 32));
    expect(kek.toString('hex')).toBe(expected['keyEncryptionKey']);
    const wrapped = Buffer.from(entry.wrappedKey, 'base64');
    const unwrap = createDecipheriv('aes-256-gcm', kek, Buffer.alloc(12));
    unwrap.setAuthTag(wrapped.subarray(32));
    const dataKey = Buffer.concat([unwrap.update(wrapped.subarray(0, 32)), unwrap.final()]);
    expect(dataKey.toString('hex')).toBe(
      (JSON.parse(read('inputs.json').toString('utf8')) as { dataKey: string }).dataKey,
    );

    const aad = sha256(header);
    let position = 14 + h + s;
    const parts: Buffer[] = [];
    let counter = 0;
    for (;;) {
      const flags = bundle[position]!;
      const length = bundle.readUInt32BE(position + 1);
      const nonce = Buffer.concat([Buffer.alloc(7), u32(counter), Buffer.from([flags])]);
      expect(nonce.toString('hex')).toBe(expected.segmentNonces[counter]);
      const sealed = bundle.subarray(position + 5, position + 5 + length);
      const d = createDecipheriv('aes-256-gcm', dataKey, nonce);
      d.setAAD(aad);
      d.setAuthTag(sealed.subarray(length - 16));
      parts.push(Buffer.concat([d.update(sealed.subarray(0, length - 16)), d.final()]));
      position += 5 + length;
      counter += 1;
      if (flags === 1) break;
      expect(length).toBe(parsed.segmentSize + 16);
    }
    const plaintext = Buffer.concat(parts);
    expect(plaintext.equals(read('plaintext.bin'))).toBe(true);
    const f = bundle.readUInt16BE(position);
    const finalSig = bundle.subarray(position + 2, position + 2 + f);
    expect(position + 2 + f).toBe(bundle.length);
    const total = Buffer.alloc(8);
    total.writeBigUInt64BE(BigInt(plaintext.length));
    const finalPreimage = Buffer.concat([
      Buffer.from('govbank-bridge/intl-v1/final-signature\0', 'ascii'),
      aad,
      sha256(plaintext),
      u32(counter),
      total,
    ]);
    expect(finalPreimage.toString('hex')).toBe(expected['finalSignaturePreimage']);
    expect(verify(null, finalPreimage, senderPublic, finalSig)).toBe(true);
  });
});

const SM_VECTOR_DIR = join(import.meta.dirname, '..', 'vectors', 'sm-v1');
const readSm = (name: string): Buffer => readFileSync(join(SM_VECTOR_DIR, name));
const sm3 = (data: Uint8Array): Buffer => createHash('sm3').update(data).digest();

/** SM2 with the stock openssl binary: the independent implementation for the national suite. */
function opensslSm2(args: string[], cwd: string): { ok: boolean; stdout: Buffer; out: string } {
  const result = spawnSync('openssl', args, { cwd });
  return {
    ok: result.status === 0,
    stdout: result.stdout,
    out: `${result.stdout.toString()}${result.stderr.toString()}`,
  };
}

describe('sm-v1 test vectors', () => {
  it('sealing the fixed inputs reproduces every byte except the randomised SM2 signatures', async () => {
    const work = mkdtempSync(join(tmpdir(), 'bridge-sm-vectors-'));
    try {
      if (process.env['GBB_WRITE_VECTORS'] === '1') await writeSmVectors(SM_VECTOR_DIR, work);
      const built = await buildSmVectors(join(work, 'check'));
      for (const name of SM_DETERMINISTIC_FILES)
        expect(built.get(name)!.equals(readSm(name)), name).toBe(true);
      const stored = splitBundle(readSm('bundle.gbb'));
      const fresh = splitBundle(built.get('bundle.gbb')!);
      expect(fresh.unsigned.equals(stored.unsigned)).toBe(true);
      const expected = JSON.parse(readSm('expected.json').toString('utf8')) as Record<string, unknown>;
      const rebuilt = JSON.parse(built.get('expected.json')!.toString('utf8')) as Record<string, unknown>;
      for (const key of ['headerSignature', 'finalSignature']) {
        delete expected[key];
        delete rebuilt[key];
      }
      expect(rebuilt).toEqual(expected);
      // Both the stored and the fresh signatures verify with the sender key.
      const sender = createPublicKey(readSm('sender.pub.pem'));
      for (const parts of [stored, fresh]) {
        expect(
          sm2Verify(sender, headerSignaturePreimage(parts.headerBytes, 'sm-v1'), parts.headerSignature),
        ).toBe(true);
        const finalPreimage = Buffer.from(expected['finalSignaturePreimage'] as string, 'hex');
        expect(sm2Verify(sender, finalPreimage, parts.finalSignature)).toBe(true);
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('an independent reader (node:crypto SM3/SM4 and the openssl binary for SM2) opens the stored bundle', () => {
    const work = mkdtempSync(join(tmpdir(), 'bridge-sm-reader-'));
    try {
      const bundle = readSm('bundle.gbb');
      const expected = JSON.parse(readSm('expected.json').toString('utf8')) as Expected;
      const inputs = JSON.parse(readSm('inputs.json').toString('utf8')) as {
        dataKey: string;
        signerId: string;
      };
      writeFileSync(join(work, 'sender.pub.pem'), readSm('sender.pub.pem'));
      writeFileSync(join(work, 'recipient.key.pem'), readSm('recipient.key.pem'));
      const sm2VerifyWithOpenssl = (preimage: Buffer, signature: Buffer): boolean => {
        writeFileSync(join(work, 'preimage.bin'), preimage);
        writeFileSync(join(work, 'signature.der'), signature);
        return opensslSm2(
          [
            'pkeyutl',
            '-verify',
            '-rawin',
            '-digest',
            'sm3',
            '-pubin',
            '-inkey',
            'sender.pub.pem',
            '-pkeyopt',
            `distid:${inputs.signerId}`,
            '-in',
            'preimage.bin',
            '-sigfile',
            'signature.der',
          ],
          work,
        ).out.includes('Signature Verified Successfully');
      };

      expect(bundle.subarray(0, 6).toString('ascii')).toBe('GBBNDL');
      const h = bundle.readUInt32BE(8);
      const header = bundle.subarray(12, 12 + h);
      expect(header.equals(readSm('header.json'))).toBe(true);
      const s = bundle.readUInt16BE(12 + h);
      const headerPreimage = Buffer.concat([
        Buffer.from('govbank-bridge/sm-v1/header-signature\0', 'ascii'),
        header,
      ]);
      expect(headerPreimage.toString('hex')).toBe(expected['headerSignaturePreimage']);
      expect(sm2VerifyWithOpenssl(headerPreimage, bundle.subarray(14 + h, 14 + h + s))).toBe(true);

      // The wrapped key is C1 (65) || C3 (32) || C2 (32); openssl reads GM/T 0009 ASN.1, so re-encode it.
      const parsed = JSON.parse(header.toString('utf8')) as {
        suite: string;
        recipients: { alg: string; wrappedKey: string }[];
      };
      expect(parsed.suite).toBe('sm-v1');
      expect(parsed.recipients[0]!.alg).toBe('sm2-encrypt-c1c3c2');
      const c = Buffer.from(parsed.recipients[0]!.wrappedKey, 'base64');
      expect(c.length).toBe(129);
      expect(c[0]).toBe(0x04);
      // DER lengths: short form below 128, else 0x81 and one length byte (enough here).
      const der = (tag: number, body: Buffer): Buffer =>
        Buffer.concat([
          Buffer.from(body.length < 0x80 ? [tag, body.length] : [tag, 0x81, body.length]),
          body,
        ]);
      const integer = (b: Buffer): Buffer => {
        let v = b;
        while (v.length > 1 && v[0] === 0 && !(v[1]! & 0x80)) v = v.subarray(1);
        return der(0x02, v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
      };
      const asn1 = der(
        0x30,
        Buffer.concat([
          integer(c.subarray(1, 33)),
          integer(c.subarray(33, 65)),
          der(0x04, c.subarray(65, 97)),
          der(0x04, c.subarray(97)),
        ]),
      );
      expect(asn1.toString('hex')).toBe(expected['wrappedKeyGmt0009Der']);
      writeFileSync(join(work, 'wrapped.der'), asn1);
      const unwrapped = opensslSm2(
        ['pkeyutl', '-decrypt', '-inkey', 'recipient.key.pem', '-in', 'wrapped.der'],
        work,
      );
      expect(unwrapped.ok, unwrapped.out).toBe(true);
      const dataKey = unwrapped.stdout;
      expect(dataKey.toString('hex')).toBe(inputs.dataKey);

      // Segment keys: HKDF-SM3(K, empty salt, "govbank-bridge/sm-v1/segment-keys\0", 48) = Ke (16) || Km (32).
      const okm = Buffer.from(
        hkdfSync(
          'sm3',
          dataKey,
          Buffer.alloc(0),
          Buffer.from('govbank-bridge/sm-v1/segment-keys\0', 'ascii'),
          48,
        ),
      );
      const [ke, km] = [okm.subarray(0, 16), okm.subarray(16)];
      expect(ke.toString('hex')).toBe(expected['segmentEncKey']);
      const aad = sm3(header);
      expect(aad.toString('hex')).toBe(expected['headerSm3']);
      let position = 14 + h + s;
      const parts: Buffer[] = [];
      let counter = 0;
      for (;;) {
        const flags = bundle[position]!;
        const length = bundle.readUInt32BE(position + 1);
        const nonce = Buffer.concat([Buffer.alloc(7), u32(counter), Buffer.from([flags])]);
        expect(nonce.toString('hex')).toBe(expected.segmentNonces[counter]);
        const sealed = bundle.subarray(position + 5, position + 5 + length);
        const ciphertext = sealed.subarray(0, length - 16);
        const tag = createHmac('sm3', km)
          .update(aad)
          .update(nonce)
          .update(ciphertext)
          .digest()
          .subarray(0, 16);
        expect(tag.equals(sealed.subarray(length - 16))).toBe(true);
        const d = createDecipheriv('sm4-ctr', ke, Buffer.concat([nonce, Buffer.alloc(4)]));
        parts.push(Buffer.concat([d.update(ciphertext), d.final()]));
        position += 5 + length;
        counter += 1;
        if (flags === 1) break;
      }
      const plaintext = Buffer.concat(parts);
      expect(plaintext.equals(readSm('plaintext.bin'))).toBe(true);
      const f = bundle.readUInt16BE(position);
      expect(position + 2 + f).toBe(bundle.length);
      const total = Buffer.alloc(8);
      total.writeBigUInt64BE(BigInt(plaintext.length));
      const finalPreimage = Buffer.concat([
        Buffer.from('govbank-bridge/sm-v1/final-signature\0', 'ascii'),
        aad,
        sm3(plaintext),
        u32(counter),
        total,
      ]);
      expect(finalPreimage.toString('hex')).toBe(expected['finalSignaturePreimage']);
      expect(sm2VerifyWithOpenssl(finalPreimage, bundle.subarray(position + 2, position + 2 + f))).toBe(true);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
