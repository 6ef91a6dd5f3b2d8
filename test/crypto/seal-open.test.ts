import { randomBytes, createHash } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBundle, readBundleHeader, recipientCertificates, sealBundle } from '../../crypto/index.js';
import { SUITES, collect, createWorld, description, seal, type World } from './fixtures.js';

describe.each(SUITES)('suite %s', (suite) => {
  let world: World;
  const hashName = suite === 'sm-v1' ? 'sm3' : 'sha256';
  beforeAll(async () => {
    world = await createWorld(suite);
  });
  afterAll(() => world.cleanup());

  function open(path: string, as = 'bank-a') {
    return openBundle({
      path,
      identity: world.identities[as]!,
      trust: world.trust[as]!,
      now: new Date(),
      expectSenderRole: 'inner',
    });
  }

  describe('seal and open round trip', () => {
    const cases: [string, number, number | undefined][] = [
      ['empty body', 0, undefined],
      ['one segment', 1000, undefined],
      ['exactly one full segment', 4096, 4096],
      ['many segments', 100_000, 4096],
      ['10 MiB random, default segments', 10 * 1024 * 1024, undefined],
    ];
    it.each(cases)('%s', async (_label, size, segmentSize) => {
      const body = randomBytes(size);
      const recipients = recipientCertificates(world.trust['gov']!, 'bank-a', new Date());
      const sealed = await seal(world, 'gov', recipients, body, `rt-${size}-${segmentSize ?? 0}.gbb`, {
        ...(segmentSize ? { segmentSize } : {}),
      });
      expect(statSync(sealed.path).size).toBe(sealed.bytes);
      const digest = `${hashName}:${createHash(hashName).update(body).digest('hex')}`;
      expect(sealed.header.suite).toBe(suite);
      expect(sealed.plaintextDigest).toBe(digest);
      const opened = await open(sealed.path);
      expect(opened.header).toEqual(sealed.header);
      expect(opened.signer.name).toBe('gov');
      expect(() => opened.plaintextDigest()).toThrow(/only after/);
      const plain = await collect(opened.body);
      expect(plain.equals(body)).toBe(true);
      expect(opened.plaintextDigest()).toBe(digest);
      expect(await readBundleHeader(sealed.path)).toEqual(sealed.header);
    });

    it('two recipients each open it; a third bank cannot', async () => {
      const now = new Date();
      const recipients = [
        ...recipientCertificates(world.trust['gov']!, 'bank-a', now),
        ...recipientCertificates(world.trust['gov']!, 'bank-b', now),
      ];
      const body = randomBytes(5000);
      const sealed = await seal(world, 'gov', recipients, body, 'two.gbb');
      expect(sealed.header.recipients).toHaveLength(2);
      for (const bank of ['bank-a', 'bank-b']) {
        expect((await collect((await open(sealed.path, bank)).body)).equals(body)).toBe(true);
      }
      await expect(open(sealed.path, 'bank-c')).rejects.toMatchObject({ code: 'VERIFY_NOT_FOR_US' });
    });

    it('writes no plaintext into the file and leaves no temporary file behind', async () => {
      const body = Buffer.from('SECRET-ROW-CONTENT '.repeat(100));
      const sealed = await seal(
        world,
        'gov',
        recipientCertificates(world.trust['gov']!, 'bank-a', new Date()),
        body,
        'plain.gbb',
      );
      expect(readFileSync(sealed.path).includes('SECRET-ROW-CONTENT')).toBe(false);
      expect(readdirSync(dirname(sealed.path)).filter((f) => f.endsWith('.part'))).toEqual([]);
    });

    // SM4 runs at tens of MiB/s in OpenSSL 3.0, so the national suite streams a smaller body here.
    const boundedMiB = suite === 'sm-v1' ? 32 : 256;
    it(`keeps memory bounded: ${boundedMiB} MiB through seal and open`, async () => {
      const MiB = 1024 * 1024;
      const chunk = Buffer.alloc(256 * 1024, 0x5a);
      const total = boundedMiB * MiB;
      const base = process.memoryUsage().arrayBuffers;
      let peak = 0;
      const sample = (): void => {
        peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
      };
      async function* body(): AsyncGenerator<Uint8Array> {
        await Promise.resolve();
        for (let n = 0; n < total; n += chunk.length) {
          sample();
          yield chunk;
        }
      }
      const sealed = await sealBundle({
        identity: world.identities['gov']!,
        recipients: recipientCertificates(world.trust['gov']!, 'bank-a', new Date()),
        description: description(),
        body: body(),
        outputPath: join(world.root, 'out', 'big.gbb'),
      });
      const opened = await open(sealed.path);
      let seen = 0;
      for await (const part of opened.body) {
        sample();
        seen += part.length;
      }
      rmSync(sealed.path);
      expect(seen).toBe(total);
      // A whole-file implementation would hold hundreds of MiB; one segment at a time stays far below.
      expect(peak).toBeLessThan(64 * MiB);
    });

    it('the body can be read only once', async () => {
      const sealed = await seal(
        world,
        'gov',
        recipientCertificates(world.trust['gov']!, 'bank-a', new Date()),
        randomBytes(10),
        'once.gbb',
      );
      const opened = await open(sealed.path);
      await collect(opened.body);
      await expect(collect(opened.body)).rejects.toThrow(/only once/);
    });
  });
});
