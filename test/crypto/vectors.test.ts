// Test vectors for intl-v1: (1) sealing the fixed inputs reproduces the stored bytes exactly;
// (2) an independent reader written from docs/bundle-format.md alone (node:crypto primitives only, no
// code from crypto/) opens the stored bundle and reproduces every intermediate value.
import {
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  verify,
} from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildVectors, writeVectors } from '../vectors/generate.js';

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
