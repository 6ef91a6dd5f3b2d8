// The segment worker (crypto/segment-worker.ts) seals segments with the construction's source text
// (crypto/segment-construction.ts), so these tests hold both threads to the stored test vectors: every
// segment of the intl-v1 and sm-v1 vector bundles is sealed again on the worker and on this thread and
// must equal the stored bytes, and the worker's plaintext digest must equal the one in the vectors.
// A real worker thread, no mocks.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as nodeCrypto from 'node:crypto';
import { segmentCodec } from '../../crypto/segment-construction.js';
import { SegmentRefused, startSegmentSession, workerBacklog } from '../../crypto/segment-worker.js';
import { suiteNamed } from '../../crypto/suites.js';
import type { SuiteName } from '../../crypto/types.js';
import { splitBundle } from '../vectors/generate.js';

const VECTORS = join(import.meta.dirname, '..', 'vectors');

function vector(dir: string): {
  dataKey: Buffer;
  segmentSize: number;
  plaintext: Buffer;
  headerBytes: Buffer;
  sealed: Buffer[];
} {
  const inputs = JSON.parse(readFileSync(join(VECTORS, dir, 'inputs.json'), 'utf8')) as {
    dataKey: string;
    segmentSize: number;
  };
  const parts = splitBundle(readFileSync(join(VECTORS, dir, 'bundle.gbb')));
  return {
    dataKey: Buffer.from(inputs.dataKey, 'hex'),
    segmentSize: inputs.segmentSize,
    plaintext: readFileSync(join(VECTORS, dir, 'plaintext.bin')),
    headerBytes: parts.headerBytes,
    sealed: parts.segments.map((s) => s.sealed),
  };
}

/** The plaintext of segment i in a SharedArrayBuffer, as the sealer hands it to the worker. */
function sharedSegment(plaintext: Buffer, size: number, i: number): Buffer {
  const part = plaintext.subarray(i * size, (i + 1) * size);
  const shared = Buffer.from(new SharedArrayBuffer(size));
  part.copy(shared);
  return shared.subarray(0, part.length);
}

describe.each([
  ['intl-v1', 'sha256'],
  ['sm-v1', 'sm3'],
] as const)('segment worker, %s', (suiteName: SuiteName, hash) => {
  it('seals every vector segment byte for byte as this thread does, and hashes the plaintext in order', async () => {
    const v = vector(suiteName);
    const suite = suiteNamed(suiteName);
    const headerDigest = createHash(hash).update(v.headerBytes).digest();
    const recipe = suite.segmentRecipe(Buffer.from(v.dataKey), headerDigest);
    const here = segmentCodec(nodeCrypto, recipe);
    const session = startSegmentSession(hash, suite.segmentRecipe(Buffer.from(v.dataKey), headerDigest));
    expect(v.sealed.length).toBeGreaterThan(1);
    for (const [i, expected] of v.sealed.entries()) {
      const last = i === v.sealed.length - 1;
      const segment = sharedSegment(v.plaintext, v.segmentSize, i);
      const { sealed, plaintext } = await session.seal(i, last, segment);
      expect(Buffer.concat(sealed).equals(expected), `segment ${i} on the worker`).toBe(true);
      expect(Buffer.concat(here.seal(i, last, segment)).equals(expected), `segment ${i} here`).toBe(true);
      // The shared buffer comes back untouched, and opens again on this thread.
      expect(plaintext.equals(segment)).toBe(true);
      expect(here.open(i, last, expected).equals(segment)).toBe(true);
    }
    expect((await session.digest()).equals(createHash(hash).update(v.plaintext).digest())).toBe(true);
    expect(workerBacklog()).toBe(0);
  });

  it('opens every vector segment on the worker, hashes the plaintext in order, and refuses a damaged one', async () => {
    const v = vector(suiteName);
    const suite = suiteNamed(suiteName);
    const headerDigest = createHash(hash).update(v.headerBytes).digest();
    const session = startSegmentSession(hash, suite.segmentRecipe(Buffer.from(v.dataKey), headerDigest));
    for (const [i, expected] of v.sealed.entries()) {
      const last = i === v.sealed.length - 1;
      const { plaintext, sealed } = await session.open(i, last, Buffer.from(expected));
      expect(plaintext.equals(v.plaintext.subarray(i * v.segmentSize, (i + 1) * v.segmentSize))).toBe(true);
      expect(sealed.equals(expected), 'the sealed bytes come back').toBe(true);
    }
    expect((await session.digest()).equals(createHash(hash).update(v.plaintext).digest())).toBe(true);

    // A flipped bit, or the right segment under the wrong counter: refused, bytes given back, nothing hashed.
    const refusing = startSegmentSession(hash, suite.segmentRecipe(Buffer.from(v.dataKey), headerDigest));
    const damaged = Buffer.from(v.sealed[0]!);
    damaged[3]! ^= 1;
    const refused = await refusing.open(0, false, Buffer.from(damaged)).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(SegmentRefused);
    expect((refused as SegmentRefused).sealed.equals(damaged)).toBe(true);
    await expect(refusing.open(1, false, Buffer.from(v.sealed[0]!))).rejects.toBeInstanceOf(SegmentRefused);
    const first = await refusing.open(0, false, Buffer.from(v.sealed[0]!));
    expect(first.plaintext.length).toBe(v.segmentSize);
    const onlyFirst = createHash(hash).update(v.plaintext.subarray(0, v.segmentSize)).digest();
    expect((await refusing.digest()).equals(onlyFirst)).toBe(true);
  });

  it('mixes worker-sealed and hashed-only segments into one digest, in call order', async () => {
    const v = vector(suiteName);
    const suite = suiteNamed(suiteName);
    const headerDigest = createHash(hash).update(v.headerBytes).digest();
    const session = startSegmentSession(hash, suite.segmentRecipe(Buffer.from(v.dataKey), headerDigest));
    const calls = v.sealed.map((_, i) => {
      const segment = sharedSegment(v.plaintext, v.segmentSize, i);
      return i % 2 === 0
        ? session.seal(i, i === v.sealed.length - 1, segment).then((r) => r.plaintext)
        : session.update(segment);
    });
    await Promise.all(calls);
    expect((await session.digest()).equals(createHash(hash).update(v.plaintext).digest())).toBe(true);
  });
});

describe('segment worker sessions', () => {
  it('rejects what is still pending when a session is abandoned, and keeps serving others', async () => {
    const size = 64 * 1024;
    const body = Buffer.from(new SharedArrayBuffer(size)).fill(7);
    const abandoned = startSegmentSession('sha256');
    const pending = abandoned.update(body);
    abandoned.abort();
    await expect(pending).rejects.toThrow(/abandoned/);
    const other = startSegmentSession('sha256');
    await other.update(body);
    expect((await other.digest()).equals(createHash('sha256').update(body).digest())).toBe(true);
  });

  it('transfers a plain (non-shared) buffer and hands the same bytes back', async () => {
    const plain = Buffer.alloc(256 * 1024, 3);
    const session = startSegmentSession('sha256');
    const back = await session.update(plain);
    expect(plain.length).toBe(0); // moved to the worker, not copied
    expect(back.length).toBe(256 * 1024);
    expect(back.every((b) => b === 3)).toBe(true);
    expect((await session.digest()).equals(createHash('sha256').update(back).digest())).toBe(true);
  });
});
