// Property tests of the bundle reader (issue 9, docs/bundle-format.md section 7): whatever bytes arrive,
// readBundleHeader and openBundle either succeed (only for the unmodified file) or refuse with a
// VerificationError or BundleError whose code is in the documented union; never a TypeError or
// RangeError, never a hang, and never an allocation beyond the format's limits.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { bundleLimits, openBundle, readBundleHeader, recipientCertificates } from '../../crypto/index.js';
import {
  BundleError,
  VerificationError,
  type BundleErrorCode,
  type VerificationErrorCode,
} from '../../shared/errors.js';
import { bundleLayout } from '../support/adversarial.js';
import { collect, createWorld, seal, type World } from '../crypto/fixtures.js';

const VERIFICATION_CODES = [
  'VERIFY_BAD_MAGIC',
  'VERIFY_HEADER_TOO_LARGE',
  'VERIFY_HEADER_MALFORMED',
  'VERIFY_UNSUPPORTED_VERSION',
  'VERIFY_UNSUPPORTED_SUITE',
  'VERIFY_LIMIT_EXCEEDED',
  'VERIFY_UNKNOWN_SENDER',
  'VERIFY_UNTRUSTED_CERTIFICATE',
  'VERIFY_CERTIFICATE_REVOKED',
  'VERIFY_CERTIFICATE_EXPIRED',
  'VERIFY_WRONG_ROLE',
  'VERIFY_HEADER_SIGNATURE',
  'VERIFY_NOT_FOR_US',
  'VERIFY_BUNDLE_EXPIRED',
  'VERIFY_BUNDLE_NOT_YET_VALID',
  'VERIFY_REPLAYED',
  'VERIFY_UNWRAP_FAILED',
  'VERIFY_SEGMENT_TAMPERED',
  'VERIFY_SEGMENT_REORDERED',
  'VERIFY_SEGMENT_REFLAGGED',
  'VERIFY_TRUNCATED',
  'VERIFY_TRAILING_DATA',
  'VERIFY_FINAL_SIGNATURE',
  'VERIFY_FILE_UNREADABLE',
] as const satisfies readonly VerificationErrorCode[];
const BUNDLE_CODES = [
  'BUNDLE_TOO_LARGE',
  'BUNDLE_MALFORMED',
  'BUNDLE_WRITE_FAILED',
  'BUNDLE_PAYLOAD_INVALID',
] as const satisfies readonly BundleErrorCode[];
// Compile-time check that the lists above are the whole documented unions (shared/errors.ts).
const everyVerificationCode: Exclude<VerificationErrorCode, (typeof VERIFICATION_CODES)[number]> extends never
  ? true
  : never = true;
const everyBundleCode: Exclude<BundleErrorCode, (typeof BUNDLE_CODES)[number]> extends never ? true : never =
  true;
const DOCUMENTED = new Set<string>([...VERIFICATION_CODES, ...BUNDLE_CODES]);

const RUNS = 1000;
const CASE_TIMEOUT_MS = 3000;

type Mutation =
  | { op: 'flip'; offset: number; bit: number }
  | { op: 'truncate'; at: number }
  | { op: 'insert'; offset: number; bytes: Uint8Array }
  | { op: 'delete'; offset: number; count: number }
  | { op: 'length'; field: number; value: number };

const lengthValue = fc.oneof(
  fc.constantFrom(
    0,
    1,
    15,
    16,
    17,
    511,
    512,
    513,
    1040,
    65_535,
    65_536,
    65_537,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
  ),
  fc.nat(),
  fc.integer({ min: -4, max: 4 }), // relative to the current value
);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), offset: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    op: fc.constant('insert' as const),
    offset: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }),
  }),
  fc.record({ op: fc.constant('delete' as const), offset: fc.nat(), count: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ op: fc.constant('length' as const), field: fc.nat(), value: lengthValue }),
);

/** Every length-like field of the original file: [offset, width in bytes]; flags count as width 1. */
function lengthFields(bytes: Buffer): [number, 1 | 2 | 4][] {
  const layout = bundleLayout(bytes);
  return [
    [6, 2],
    [8, 4],
    [layout.signatureLengthOffset, 2],
    ...layout.segments.flatMap((s): [number, 1 | 2 | 4][] => [
      [s.offset, 1],
      [s.offset + 1, 4],
    ]),
    [layout.finalLengthOffset, 2],
  ];
}

function applyMutation(bytes: Buffer, m: Mutation, fields: [number, 1 | 2 | 4][]): Buffer {
  const n = bytes.length;
  switch (m.op) {
    case 'flip': {
      if (n === 0) return bytes;
      const copy = Buffer.from(bytes);
      const at = m.offset % n;
      copy[at] = (copy[at] ?? 0) ^ (1 << m.bit);
      return copy;
    }
    case 'truncate':
      return bytes.subarray(0, m.at % (n + 1));
    case 'insert': {
      const at = m.offset % (n + 1);
      return Buffer.concat([bytes.subarray(0, at), m.bytes, bytes.subarray(at)]);
    }
    case 'delete': {
      const at = m.offset % (n + 1);
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + m.count)]);
    }
    case 'length': {
      const [offset, width] = fields[m.field % fields.length]!;
      if (offset + width > n) return bytes;
      const copy = Buffer.from(bytes);
      const max = 2 ** (8 * width) - 1;
      const current = copy.readUIntBE(offset, width);
      const value = m.value >= -4 && m.value <= 4 ? current + m.value : m.value;
      copy.writeUIntBE(((value % (max + 1)) + max + 1) % (max + 1), offset, width);
      return copy;
    }
  }
}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not finish within ${CASE_TIMEOUT_MS} ms`)),
      CASE_TIMEOUT_MS,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The error must be one of ours with a documented code; anything else (TypeError, RangeError...) fails. */
function assertDocumentedRefusal(error: unknown, context: string): void {
  if (!(error instanceof VerificationError || error instanceof BundleError)) {
    throw new Error(
      `${context}: raw exception instead of a refusal: ${String((error as Error)?.stack ?? error)}`,
    );
  }
  if (!DOCUMENTED.has(error.code)) throw new Error(`${context}: undocumented code ${error.code}`);
}

describe('bundle reader properties', () => {
  let world: World;
  let original: Buffer;
  let dir: string;
  let largestAllocation = 0;
  let caseNo = 0;

  beforeAll(async () => {
    world = await createWorld();
    dir = mkdtempSync(join(tmpdir(), 'gbb-prop-reader-'));
    const body = Buffer.alloc(2500);
    for (let i = 0; i < body.length; i++) body[i] = i % 251;
    const recipients = recipientCertificates(world.trust['gov']!, 'bank-a', new Date());
    const sealed = await seal(world, 'gov', recipients, body, 'property.gbb', { segmentSize: 1024 });
    original = readFileSync(sealed.path);
    // Every Buffer the reader allocates is measured: none may exceed a header or one segment.
    for (const method of ['alloc', 'allocUnsafe', 'allocUnsafeSlow'] as const) {
      const real = Buffer[method].bind(Buffer) as (size: number, ...rest: unknown[]) => Buffer;
      vi.spyOn(Buffer, method).mockImplementation(((size: number, ...rest: unknown[]) => {
        largestAllocation = Math.max(largestAllocation, size);
        return real(size, ...rest);
      }) as typeof Buffer.alloc);
    }
  }, 60_000);
  afterAll(() => {
    vi.restoreAllMocks();
    world?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const allocationLimit = (): number =>
    Math.max(bundleLimits.MAX_HEADER_BYTES, 1024 + bundleLimits.GCM_TAG_LENGTH);

  /** Opens and reads the whole file as bank-a would; returns normally only if every check passed. */
  async function openFully(bytes: Buffer): Promise<void> {
    const path = join(dir, `case-${caseNo++ % 8}.gbb`);
    writeFileSync(path, bytes);
    largestAllocation = 0;
    try {
      await withTimeout(readBundleHeader(path), 'readBundleHeader').catch((error: unknown) => {
        assertDocumentedRefusal(error, 'readBundleHeader');
      });
      const opened = await withTimeout(
        openBundle({
          path,
          identity: world.identities['bank-a']!,
          trust: world.trust['bank-a']!,
          now: new Date(),
          expectSenderRole: 'inner',
        }),
        'openBundle',
      );
      await withTimeout(collect(opened.body), 'reading the body');
    } finally {
      expect(largestAllocation, 'largest Buffer allocated while reading').toBeLessThanOrEqual(
        allocationLimit(),
      );
    }
  }

  it('the lists of codes cover the documented unions', () => {
    expect(everyVerificationCode && everyBundleCode).toBe(true);
  });

  it('the unmodified bundle opens (control), and the allocation probe sees its buffers', async () => {
    await openFully(original);
    expect(largestAllocation).toBeGreaterThanOrEqual(1024);
  });

  it('mutations of a valid bundle are refused with a documented code, or open only when unchanged', async () => {
    const fields = lengthFields(original);
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 0, maxLength: 4 }), async (mutations) => {
        const bytes = mutations.reduce((b, m) => applyMutation(b, m, fields), original);
        let refusal: unknown;
        try {
          await openFully(bytes);
        } catch (error) {
          refusal = error;
        }
        if (bytes.equals(original)) {
          if (refusal !== undefined)
            throw new Error(`the unmodified bundle was refused: ${(refusal as Error).message}`);
          return;
        }
        if (refusal === undefined) throw new Error('a modified bundle opened and read without a refusal');
        assertDocumentedRefusal(refusal, 'openBundle');
      }),
      { numRuns: RUNS, plugins: [fc.timeout(4 * CASE_TIMEOUT_MS)] },
    );
  }, 120_000);

  it('random bytes, with or without a valid prefix, are refused with a documented code', async () => {
    const prefix = original.subarray(0, 12);
    const file = fc.oneof(
      fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)),
      fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.concat([prefix.subarray(0, 8), Buffer.from(b)])),
      fc.tuple(fc.nat({ max: 70_000 }), fc.uint8Array({ maxLength: 2048 })).map(([length, b]) => {
        const head = Buffer.from(prefix);
        head.writeUInt32BE(length, 8);
        return Buffer.concat([head, Buffer.from(b)]);
      }),
      // A real header and signature followed by random bytes as the body.
      fc
        .uint8Array({ maxLength: 4096 })
        .map((b) => Buffer.concat([original.subarray(0, bundleLayout(original).bodyOffset), Buffer.from(b)])),
    );
    await fc.assert(
      fc.asyncProperty(file, async (bytes) => {
        let refusal: unknown;
        try {
          await openFully(bytes);
        } catch (error) {
          refusal = error;
        }
        if (refusal === undefined) throw new Error('random bytes opened without a refusal');
        assertDocumentedRefusal(refusal, 'openBundle');
      }),
      { numRuns: RUNS, plugins: [fc.timeout(4 * CASE_TIMEOUT_MS)] },
    );
  }, 120_000);
});
