// SM2/SM3 of the national suite against the stock openssl command (OpenSSL 3.0): our signatures verify
// with `openssl pkeyutl -verify ... -pkeyopt distid:1234567812345678`, openssl's signatures verify with
// our code, our SM2 ciphertexts decrypt with `openssl pkeyutl -decrypt`, and SM3 digests agree.
import { createHash, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  SM2_CURVE,
  SM2_SIGNER_ID,
  decodeSignatureDer,
  encodeSignatureDer,
  generateSm2PrivateKey,
  isSm2Key,
  sm2CiphertextToDer,
  sm2Decrypt,
  sm2Encrypt,
  sm2PrivateKeyFromScalar,
  sm2PrivateScalar,
  sm2PublicPoint,
  sm2Sign,
  sm2Verify,
} from '../../crypto/sm2.js';

const dir = mkdtempSync(join(tmpdir(), 'bridge-sm2-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function openssl(args: string[]): { ok: boolean; out: string; stdout: Buffer } {
  const result = spawnSync('openssl', args, { cwd: dir });
  return {
    ok: result.status === 0,
    out: `${result.stdout.toString()}${result.stderr.toString()}`,
    stdout: result.stdout,
  };
}

const file = (name: string, data?: Uint8Array | string): string => {
  const path = join(dir, name);
  if (data !== undefined) writeFileSync(path, data);
  return path;
};

describe('SM2 and SM3 interoperate with stock openssl', () => {
  const key = generateSm2PrivateKey();
  file('ours.pub.pem', createPublicKey(key).export({ type: 'spki', format: 'pem' }));
  file('ours.key.pem', key.export({ type: 'pkcs8', format: 'pem' }));

  it('the curve constants are those of GB/T 32918.5 (checked against openssl)', () => {
    const params = openssl(['ecparam', '-name', 'SM2', '-param_enc', 'explicit', '-text', '-noout']).out;
    const hexOf = (label: string): string => {
      const block = new RegExp(`${label}:\\s*\\n?((?:\\s+[0-9a-f:]+\\n)+)`).exec(params)?.[1] ?? '';
      return block.replace(/[\s:]/g, '').replace(/^00/, '');
    };
    expect(hexOf('Prime')).toBe(SM2_CURVE.p);
    expect(hexOf('A')).toBe(SM2_CURVE.a);
    expect(hexOf('B')).toBe(SM2_CURVE.b);
    expect(hexOf('Order')).toBe(SM2_CURVE.n);
    expect(hexOf('Generator \\(uncompressed\\)')).toBe(`04${SM2_CURVE.gx}${SM2_CURVE.gy}`);
  });

  it('a signature made by our code verifies with openssl pkeyutl (distid 1234567812345678)', () => {
    const message = Buffer.from('govbank-bridge/sm-v1/header-signature\0{"a":1}');
    file('msg.bin', message);
    file('ours.sig', sm2Sign(key, message));
    const verify = (extra: string[]) =>
      openssl([
        'pkeyutl',
        '-verify',
        '-rawin',
        '-digest',
        'sm3',
        '-pubin',
        '-inkey',
        'ours.pub.pem',
        ...extra,
        '-in',
        'msg.bin',
        '-sigfile',
        'ours.sig',
      ]);
    expect(verify(['-pkeyopt', `distid:${SM2_SIGNER_ID}`]).out).toMatch(/Signature Verified Successfully/);
    // and with a different id it does not: the id really is part of what is signed
    expect(verify(['-pkeyopt', 'distid:another-id']).ok).toBe(false);
    // the dgst route gives the same verdict
    expect(
      openssl([
        'dgst',
        '-sm3',
        '-verify',
        'ours.pub.pem',
        '-sigopt',
        `distid:${SM2_SIGNER_ID}`,
        '-signature',
        'ours.sig',
        'msg.bin',
      ]).out,
    ).toMatch(/Verified OK/);
  });

  it('a signature made by openssl genpkey/pkeyutl verifies with our code', () => {
    expect(openssl(['genpkey', '-algorithm', 'SM2', '-out', 'theirs.key.pem']).ok).toBe(true);
    expect(openssl(['pkey', '-in', 'theirs.key.pem', '-pubout', '-out', 'theirs.pub.pem']).ok).toBe(true);
    const message = randomBytes(300);
    file('msg2.bin', message);
    const signed = openssl([
      'pkeyutl',
      '-sign',
      '-rawin',
      '-digest',
      'sm3',
      '-inkey',
      'theirs.key.pem',
      '-pkeyopt',
      `distid:${SM2_SIGNER_ID}`,
      '-in',
      'msg2.bin',
      '-out',
      'theirs.sig',
    ]);
    expect(signed.ok, signed.out).toBe(true);
    const publicKey = createPublicKey(readFileSync(file('theirs.pub.pem')));
    expect(isSm2Key(publicKey)).toBe(true);
    const signature = readFileSync(file('theirs.sig'));
    expect(sm2Verify(publicKey, message, signature)).toBe(true);
    expect(sm2Verify(publicKey, Buffer.concat([message, Buffer.from([0])]), signature)).toBe(false);
    // the key openssl wrote is usable by our code as a private key too
    const theirs = createPrivateKey(readFileSync(file('theirs.key.pem')));
    expect(sm2PublicPoint(theirs).equals(sm2PublicPoint(publicKey))).toBe(true);
    expect(sm2Verify(publicKey, message, sm2Sign(theirs, message))).toBe(true);
  });

  it('our SM2 ciphertext (C1C3C2) decrypts with openssl pkeyutl, once put in GM/T 0009 ASN.1', () => {
    const dataKey = randomBytes(32);
    const ciphertext = sm2Encrypt(createPublicKey(key), dataKey);
    expect(ciphertext.length).toBe(65 + 32 + 32);
    expect(ciphertext[0]).toBe(0x04);
    expect(sm2Decrypt(key, ciphertext)?.equals(dataKey)).toBe(true);
    file('wrapped.der', sm2CiphertextToDer(ciphertext));
    const decrypted = openssl(['pkeyutl', '-decrypt', '-inkey', 'ours.key.pem', '-in', 'wrapped.der']);
    expect(decrypted.ok, decrypted.out).toBe(true);
    expect(decrypted.stdout.equals(dataKey)).toBe(true);
  });

  it('an SM2 ciphertext made by openssl decrypts with our code after conversion to C1C3C2', () => {
    const message = randomBytes(32);
    file('plain.bin', message);
    const enc = openssl(['pkeyutl', '-encrypt', '-pubin', '-inkey', 'ours.pub.pem', '-in', 'plain.bin']);
    expect(enc.ok, enc.out).toBe(true);
    // SEQUENCE { INTEGER x, INTEGER y, OCTET STRING C3, OCTET STRING C2 } -> 04 || x || y || C3 || C2
    const der = enc.stdout;
    const fields: Buffer[] = [];
    let at = der[1]! & 0x80 ? 2 + (der[1]! & 0x7f) : 2;
    while (at < der.length) {
      const length = der[at + 1]!;
      fields.push(der.subarray(at + 2, at + 2 + length));
      at += 2 + length;
    }
    expect(fields).toHaveLength(4);
    const coordinate = (b: Buffer) => b.toString('hex').padStart(64, '0').slice(-64);
    const c1c3c2 = Buffer.from(
      `04${coordinate(fields[0]!)}${coordinate(fields[1]!)}${fields[2]!.toString('hex')}${fields[3]!.toString('hex')}`,
      'hex',
    );
    expect(sm2Decrypt(key, c1c3c2)?.equals(message)).toBe(true);
  });

  it('SM3 digests match openssl dgst -sm3', () => {
    for (const data of [Buffer.alloc(0), Buffer.from('abc'), randomBytes(100_000)]) {
      const out = openssl(['dgst', '-sm3', '-r', file('sm3.bin', data)]).out.slice(0, 64);
      expect(createHash('sm3').update(data).digest('hex')).toBe(out);
    }
    // GB/T 32905 example 1
    expect(createHash('sm3').update('abc').digest('hex')).toBe(
      '66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0',
    );
  });
});

describe('SM2 refusals and encodings', () => {
  const key = generateSm2PrivateKey();
  const publicKey = createPublicKey(key);
  const message = Buffer.from('m');

  it('refuses non-canonical DER, r or s out of range, and trailing bytes', () => {
    const signature = sm2Sign(key, message);
    const rs = decodeSignatureDer(signature)!;
    expect(encodeSignatureDer(rs.r, rs.s).equals(signature)).toBe(true);
    const n = BigInt(`0x${SM2_CURVE.n}`);
    expect(sm2Verify(publicKey, message, encodeSignatureDer(rs.r, rs.s + n))).toBe(false);
    expect(sm2Verify(publicKey, message, encodeSignatureDer(rs.r + n, rs.s))).toBe(false);
    expect(sm2Verify(publicKey, message, encodeSignatureDer(0n, rs.s))).toBe(false);
    expect(sm2Verify(publicKey, message, Buffer.concat([signature, Buffer.from([0])]))).toBe(false);
    // zero, and an integer with a superfluous leading zero byte
    expect(decodeSignatureDer(Buffer.from('3006020100020101', 'hex'))).toBeUndefined();
    expect(decodeSignatureDer(Buffer.from('300702020001020101', 'hex'))).toBeUndefined();
    expect(decodeSignatureDer(Buffer.from('3006020101020101', 'hex'))).toEqual({ r: 1n, s: 1n });
  });

  it('refuses a tampered ciphertext and a point off the curve', () => {
    const ciphertext = sm2Encrypt(publicKey, randomBytes(32));
    for (const at of [1, 70, 100, 128]) {
      const bad = Buffer.from(ciphertext);
      bad[at]! ^= 0x01;
      expect(sm2Decrypt(key, bad)).toBeUndefined();
    }
    expect(sm2Decrypt(key, ciphertext.subarray(0, 97))).toBeUndefined();
    expect(sm2Decrypt(generateSm2PrivateKey(), ciphertext)).toBeUndefined();
  });

  it('a fixed scalar gives the same key as OpenSSL and fixed ephemeral keys reproduce ciphertexts', () => {
    const scalar = sm2PrivateScalar(key);
    const rebuilt = sm2PrivateKeyFromScalar(scalar);
    expect(sm2PublicPoint(rebuilt).equals(sm2PublicPoint(key))).toBe(true);
    const ephemeral = sm2PrivateKeyFromScalar('11'.repeat(32));
    const m = Buffer.alloc(32, 7);
    expect(sm2Encrypt(publicKey, m, ephemeral).equals(sm2Encrypt(publicKey, m, ephemeral))).toBe(true);
  });
});
