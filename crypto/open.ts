// Opening a received bundle (design 4): every refusal that can be decided from the header happens before
// a single byte is decrypted, each with its own VerificationError code; the body is then streamed
// segment by segment, and the final signature is checked before the last plaintext is released. When a
// segment fails authentication, and only then, the reader finds out why (re-flagged, reordered, or
// altered / from another bundle) so that each of these refusals has its own code.
import { open, type FileHandle } from 'node:fs/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { VerificationError } from '../shared/errors.js';
import { parseHeader } from './header.js';
import { identitySecrets, type DecryptionKey } from './identity.js';
import {
  FLAG_LAST,
  FLAG_MORE,
  FORMAT_VERSION,
  FRAME_HEADER_LENGTH,
  SEGMENT_TAG_LENGTH,
  MAGIC,
  MAX_CLOCK_SKEW_MS,
  MAX_HEADER_BYTES,
  MAX_PLAINTEXT_BYTES,
  MAX_SEGMENTS,
  MAX_SIGNATURE_BYTES,
  PREFIX_LENGTH,
} from './limits.js';
import { finalSignaturePreimage, headerSignaturePreimage } from './preimage.js';
import * as nodeCrypto from 'node:crypto';
import { forgetRecipe, segmentCodec, type SegmentCodec } from './segment-construction.js';
import { SegmentRefused, startSegmentSession, workerBacklog } from './segment-worker.js';
import { createSuiteHash, labelledDigest, suiteNamed } from './suites.js';
import { publicKeyOf, resolveSigner } from './trust-store.js';
import type { BundleHeader, Identity, NodeRole, PeerCertificate, TrustStore } from './types.js';

export interface OpenRequest {
  path: string;
  identity: Identity;
  trust: TrustStore;
  now: Date;
  expectSenderRole: NodeRole;
  isReplay?: (bundleId: string) => boolean;
}

export interface OpenedBundle {
  header: BundleHeader;
  signer: PeerCertificate;
  /**
   * Plaintext in order. Throws VerificationError (tampered, reordered, re-flagged or truncated segment,
   * bad final signature) while iterating. The final signature is checked before the last segment is
   * released and before the iterator completes, so a consumer that only commits after a clean, complete
   * iteration never commits unverified data. Can be iterated once.
   */
  body: AsyncIterable<Buffer>;
  /** Available after body was fully consumed: 'sha256:<hex>' (intl-v1) or 'sm3:<hex>' (sm-v1) of the plaintext. */
  plaintextDigest(): string;
}

/** The parts of a bundle before its body: everything needed to decide on it without decrypting. */
export interface BundleEnvelope {
  header: BundleHeader;
  headerBytes: Buffer;
  headerSignature: Buffer;
  /** File offset of the first segment frame. */
  bodyOffset: number;
}

/** Reads exact byte counts at increasing positions; a short read is a truncated bundle. */
class SequentialReader {
  constructor(
    private readonly handle: FileHandle,
    public position: number,
    private readonly where: string,
  ) {}

  /** Reads `length` bytes, into the front of `into` when given (a reused buffer at least that long). */
  async read(length: number, what: string, into?: Buffer): Promise<Buffer> {
    // Not zero-filled: the buffer is either filled completely or dropped with the error below.
    const buffer = into ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await this.handle.read(buffer, filled, length - filled, this.position + filled);
      if (bytesRead === 0) {
        throw new VerificationError('VERIFY_TRUNCATED', `Bundle ends inside the ${what}`, {
          where: this.where,
          hint: 'The file was cut short in transit; request a resend',
        });
      }
      filled += bytesRead;
    }
    this.position += length;
    return buffer;
  }

  async atEnd(): Promise<boolean> {
    const probe = Buffer.alloc(1);
    const { bytesRead } = await this.handle.read(probe, 0, 1, this.position);
    return bytesRead === 0;
  }
}

/** Reads magic, version, header and header signature; each length is checked before it is allocated. */
async function readEnvelope(handle: FileHandle, path: string): Promise<BundleEnvelope> {
  const reader = new SequentialReader(handle, 0, path);
  const prefix = Buffer.alloc(PREFIX_LENGTH);
  const { bytesRead } = await handle.read(prefix, 0, PREFIX_LENGTH, 0);
  const seen = Math.min(bytesRead, MAGIC.length);
  if (bytesRead < MAGIC.length && prefix.subarray(0, seen).equals(MAGIC.subarray(0, seen))) {
    // Empty or a few bytes of the magic: most likely a file still being written by the ferry.
    throw new VerificationError('VERIFY_TRUNCATED', `Bundle file has only ${bytesRead} bytes`, {
      where: path,
      hint: 'Wait for the ferry to finish writing it, or request a resend',
    });
  }
  if (!prefix.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new VerificationError('VERIFY_BAD_MAGIC', 'Not a govbank-bridge bundle (bad magic bytes)', {
      where: path,
      hint: 'Quarantine the file; something other than a bundle was put in the inbox',
    });
  }
  if (bytesRead < PREFIX_LENGTH) {
    throw new VerificationError('VERIFY_TRUNCATED', 'Bundle ends inside its prefix', { where: path });
  }
  reader.position = PREFIX_LENGTH;
  const version = prefix.readUInt16BE(MAGIC.length);
  if (version !== FORMAT_VERSION) {
    throw new VerificationError(
      'VERIFY_UNSUPPORTED_VERSION',
      `Unsupported bundle format version ${version}; this build reads version ${FORMAT_VERSION}`,
      { where: path, hint: 'Upgrade the receiving node or ask the sender to use a supported format' },
    );
  }
  const headerLength = prefix.readUInt32BE(MAGIC.length + 2);
  if (headerLength > MAX_HEADER_BYTES) {
    throw new VerificationError(
      'VERIFY_HEADER_TOO_LARGE',
      `Bundle header claims ${headerLength} bytes, the limit is ${MAX_HEADER_BYTES}`,
      { where: path, hint: 'Quarantine the file' },
    );
  }
  if (headerLength === 0) {
    throw new VerificationError('VERIFY_HEADER_MALFORMED', 'Bundle header is empty', { where: path });
  }
  const headerBytes = await reader.read(headerLength, 'header');
  const signatureLength = (await reader.read(2, 'header signature length')).readUInt16BE(0);
  if (signatureLength === 0 || signatureLength > MAX_SIGNATURE_BYTES) {
    throw new VerificationError(
      'VERIFY_HEADER_MALFORMED',
      `Header signature length ${signatureLength} outside 1..${MAX_SIGNATURE_BYTES}`,
      { where: path },
    );
  }
  const headerSignature = await reader.read(signatureLength, 'header signature');
  const header = parseHeader(headerBytes, path);
  return { header, headerBytes, headerSignature, bodyOffset: reader.position };
}

/** Parses the cleartext header without verifying anything. Reads only the bounded header bytes. */
export async function readBundleHeader(path: string): Promise<BundleHeader> {
  return (await readBundleEnvelope(path)).header;
}

/** Like readBundleHeader, also returning the exact header bytes and signature (for inspect --extract). */
export async function readBundleEnvelope(path: string): Promise<BundleEnvelope> {
  const handle = await openForReading(path);
  try {
    return await readEnvelope(handle, path);
  } finally {
    await handle.close();
  }
}

async function openForReading(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (error) {
    throw new VerificationError('VERIFY_FILE_UNREADABLE', 'Bundle file cannot be opened', {
      where: path,
      hint: 'Check that the file exists and is readable by this node',
      cause: error,
    });
  }
}

/**
 * Checks who signed a bundle and when it is valid, from its envelope alone (style.md rule 4: no I/O;
 * time and trust are arguments): known sender, trusted/unrevoked/unexpired certificate of the expected
 * role (any role when `expectSenderRole` is undefined, for operators' inspection), header signature,
 * expiry and creation time.
 */
export function verifyEnvelopeSignature(
  envelope: BundleEnvelope,
  trust: TrustStore,
  now: Date,
  expectSenderRole: NodeRole | undefined,
  where: string,
): PeerCertificate {
  const { header } = envelope;
  const signer = resolveSigner(trust, header.sender, now, expectSenderRole, where);
  // A signer whose key does not belong to the header's suite fails here too (e.g. Ed25519 under sm-v1).
  const suite = suiteNamed(header.suite);
  if (
    !suite.verify(
      publicKeyOf(signer),
      headerSignaturePreimage(envelope.headerBytes, suite.name),
      envelope.headerSignature,
    )
  ) {
    throw new VerificationError(
      'VERIFY_HEADER_SIGNATURE',
      `Header signature by ${header.sender.name} does not verify`,
      {
        where,
        hint: 'Quarantine the bundle: the header was altered or signed with another key',
      },
    );
  }
  if (now.getTime() >= Date.parse(header.expiresAt)) {
    throw new VerificationError('VERIFY_BUNDLE_EXPIRED', `Bundle expired at ${header.expiresAt}`, {
      where,
      hint: 'Ask the sender to re-export; expired bundles are never imported',
    });
  }
  if (Date.parse(header.createdAt) > now.getTime() + MAX_CLOCK_SKEW_MS) {
    throw new VerificationError(
      'VERIFY_BUNDLE_NOT_YET_VALID',
      `Bundle created at ${header.createdAt}, more than ${MAX_CLOCK_SKEW_MS / 60000} minutes in the future`,
      { where, hint: 'Check the clocks of both nodes' },
    );
  }
  return signer;
}

/**
 * Decides on a bundle from its envelope alone, then unwraps the data key: the signature checks above,
 * then addressed to us, then not a replay. Throws VerificationError with the refusal's own code.
 */
export function verifyEnvelope(
  envelope: BundleEnvelope,
  req: Omit<OpenRequest, 'path'>,
  where: string,
): { signer: PeerCertificate; dataKey: Buffer } {
  const { header } = envelope;
  const signer = verifyEnvelopeSignature(envelope, req.trust, req.now, req.expectSenderRole, where);
  const secrets = identitySecrets(req.identity);
  const ours = header.recipients.filter((r) => secrets.encKeys.has(r.keyId));
  if (ours.length === 0) {
    throw new VerificationError(
      'VERIFY_NOT_FOR_US',
      `Bundle is not addressed to ${req.identity.name} (recipient keys ${header.recipients.map((r) => r.keyId).join(', ')}; ours ${req.identity.encKeyIds.join(', ')})`,
      {
        where,
        hint: 'Quarantine it; if a key was rotated away too early, restore the old enc-<keyId>.key.pem',
      },
    );
  }
  if (req.isReplay?.(header.bundleId)) {
    throw new VerificationError('VERIFY_REPLAYED', `Bundle ${header.bundleId} was already received`, {
      where,
      hint: 'Nothing to do: a replayed bundle changes nothing',
    });
  }
  for (const entry of ours) {
    const dataKey = suiteNamed(header.suite).unwrapKey(
      entry,
      header.bundleId,
      secrets.encKeys.get(entry.keyId) as DecryptionKey,
    );
    if (dataKey) return { signer, dataKey };
  }
  throw new VerificationError(
    'VERIFY_UNWRAP_FAILED',
    'The data key does not unwrap with our decryption key',
    {
      where,
      hint: 'Quarantine the bundle; the sender used a wrong or damaged recipient entry',
    },
  );
}

/** Verifies everything decidable from the header, then returns a streaming, verifying body. */
export async function openBundle(req: OpenRequest): Promise<OpenedBundle> {
  const envelope = await readBundleEnvelope(req.path);
  const where = `${req.path}, bundle ${envelope.header.bundleId}`;
  const { signer, dataKey } = verifyEnvelope(envelope, req, where);
  const suite = suiteNamed(envelope.header.suite);
  const headerDigest = createSuiteHash(suite).update(envelope.headerBytes).digest();
  let digest: string | undefined;
  let started = false;

  async function* decryptSegments(): AsyncGenerator<Buffer> {
    const handle = await openForReading(req.path);
    const recipe = suite.segmentRecipe(dataKey, headerDigest);
    const segments = segmentCodec(nodeCrypto, recipe);
    const hashing = startSegmentSession(suite.hash, recipe);
    // Both threads hold the segment keys as KeyObjects now (the worker got a copy with its session).
    forgetRecipe(recipe);
    let finished = false;
    try {
      const reader = new SequentialReader(handle, envelope.bodyOffset, where);
      const segmentSize = envelope.header.segmentSize;
      let counter = 0;
      let total = 0;
      let readCount = 0;
      let readTotal = 0;
      // Segment read buffers are reused once their segment is opened (the cipher writes its output
      // elsewhere): a fresh 1 MiB buffer per segment costs page faults and garbage collection (C10).
      const spare: Buffer[] = [];
      const readBuffer = (): Buffer => spare.pop() ?? Buffer.allocUnsafe(segmentSize + SEGMENT_TAG_LENGTH);
      /** Reads and checks the next frame and its segment (ciphertext || tag), not yet decrypted. */
      const readNext = async (): Promise<{ index: number; last: boolean; sealed: Buffer }> => {
        const index = readCount;
        const frame = await reader.read(FRAME_HEADER_LENGTH, `frame of segment ${index}`);
        const flags = frame[0];
        const length = frame.readUInt32BE(1);
        const last = flags === FLAG_LAST;
        const maxLength = segmentSize + SEGMENT_TAG_LENGTH;
        // Only a last segment may be short; any other shape is a damaged or forged frame.
        if (
          (flags !== FLAG_LAST && flags !== FLAG_MORE) ||
          (!last && length !== maxLength) ||
          length < SEGMENT_TAG_LENGTH ||
          length > maxLength
        ) {
          // Failure path only: a short segment flagged "more" may be this bundle's last segment whose
          // flag was cleared. Its length is within the bounds of a segment, so reading it stays bounded.
          if (flags === FLAG_MORE && length >= SEGMENT_TAG_LENGTH && length < maxLength) {
            if (await opensAsLast(reader, segments, index, length)) throw reflagged(index, false, where);
          }
          throw tampered(
            `Segment ${index} has an invalid frame (flags ${flags}, length ${length}; a segment needs ` +
              `flags 0 and length ${maxLength}, or flags 1 and length ${SEGMENT_TAG_LENGTH}..${maxLength} ` +
              'when last)',
            where,
          );
        }
        if (index >= MAX_SEGMENTS || readTotal + length - SEGMENT_TAG_LENGTH > MAX_PLAINTEXT_BYTES) {
          throw new VerificationError(
            'VERIFY_LIMIT_EXCEEDED',
            `Bundle body exceeds ${MAX_PLAINTEXT_BYTES} bytes`,
            {
              where,
            },
          );
        }
        const sealed = await reader.read(length, `segment ${index}`, readBuffer());
        readCount += 1;
        readTotal += length - SEGMENT_TAG_LENGTH;
        return { index, last, sealed };
      };
      // Read ahead (docs/decisions-crypto.md C10): up to READ_AHEAD segments are read in the thread pool
      // while this thread decrypts and the segment worker hashes. Reads stay strictly sequential (each
      // starts after the one before), and a read problem is reported in order, as without read-ahead.
      const reads: Promise<Awaited<ReturnType<typeof readNext>> | undefined>[] = [];
      let tail: Promise<Awaited<ReturnType<typeof readNext>> | undefined> = Promise.resolve(undefined);
      let readsEnded = false;
      const readAhead = (): void => {
        while (!readsEnded && reads.length < READ_AHEAD) {
          tail = tail.then((previous) => {
            if (previous?.last) return undefined;
            return readNext();
          });
          tail.catch(() => undefined); // observed; the loop awaits it in order
          reads.push(tail);
        }
      };
      /** Puts a segment's read buffer back for the next read, if it is a whole one (not a copy). */
      const recycle = (sealed: Buffer): void => {
        const size = segmentSize + SEGMENT_TAG_LENGTH;
        if (sealed.buffer.byteLength - sealed.byteOffset >= size) {
          spare.push(Buffer.from(sealed.buffer, sealed.byteOffset, size));
        }
      };
      // Two cores (C10): each segment is opened here or, when the segment worker has at most
      // OPEN_OFFLOAD_BACKLOG requests queued, on the worker, which hashes every plaintext in order
      // either way. Up to IN_FLIGHT segments are being opened while the one before them waits to be
      // released. After a failed segment, the ones already started are dropped unreleased.
      const inFlight: { last: boolean; result: Promise<Buffer> }[] = [];
      let dispatchEnded = false;
      /** Takes the next read (in order) and starts opening it; a failure becomes its result. */
      const dispatch = async (): Promise<void> => {
        let result: Promise<Buffer>;
        let last = true;
        try {
          const next = await reads.shift();
          if (next === undefined) throw new Error('read past the last segment'); // cannot happen
          last = next.last;
          if (last) readsEnded = true;
          const { index, sealed } = next;
          if (workerBacklog() <= OPEN_OFFLOAD_BACKLOG) {
            result = hashing.open(index, last, sealed).then(
              (opened) => {
                recycle(opened.sealed);
                return opened.plaintext;
              },
              async (error: unknown) => {
                if (!(error instanceof SegmentRefused)) throw error;
                throw await diagnoseSegment(segments, index, last, error.sealed, where, error);
              },
            );
          } else {
            let plaintext: Buffer | undefined;
            try {
              plaintext = segments.open(index, last, sealed);
              recycle(sealed);
            } catch (error) {
              // Failure path only: find out why (reported once the segment before is released).
              const diagnosed = await diagnoseSegment(segments, index, last, sealed, where, error);
              result = Promise.reject(diagnosed);
            }
            result ??= hashing.update(plaintext as Buffer);
          }
        } catch (error) {
          result = Promise.reject(error instanceof Error ? error : new Error(String(error)));
        }
        if (last) dispatchEnded = true;
        result.catch(() => undefined); // observed; awaited in order below
        inFlight.push({ last, result });
      };
      // Segment i is released only once segment i+1's outcome is known: authenticated, or failed (then
      // i is released first and the problem reported after it); nothing after a bad segment is
      // released, and the last segment only after the final signature verified.
      let pending: Buffer | undefined;
      for (;;) {
        readAhead();
        while (!dispatchEnded && inFlight.length < IN_FLIGHT) {
          await dispatch();
          readAhead();
        }
        const head = inFlight.shift();
        if (head === undefined) throw new Error('no segment in flight'); // cannot happen
        let plaintext: Buffer;
        try {
          plaintext = await head.result;
        } catch (error) {
          if (pending) yield pending;
          pending = undefined;
          throw error;
        }
        total += plaintext.length;
        counter += 1;
        if (pending) yield pending;
        pending = plaintext;
        if (!head.last) continue;

        const lastPlaintext = pending;
        pending = undefined;
        const signatureLength = (await reader.read(2, 'final signature length')).readUInt16BE(0);
        if (signatureLength === 0 || signatureLength > MAX_SIGNATURE_BYTES) {
          throw new VerificationError(
            'VERIFY_FINAL_SIGNATURE',
            `Final signature length ${signatureLength} is invalid`,
            {
              where,
            },
          );
        }
        const finalSignature = await reader.read(signatureLength, 'final signature');
        if (!(await reader.atEnd())) {
          throw new VerificationError('VERIFY_TRAILING_DATA', 'Bytes follow the final signature', {
            where,
            hint: 'Quarantine the file; something was appended to it',
          });
        }
        finished = true;
        const plaintextDigest = await hashing.digest();
        const preimage = finalSignaturePreimage(
          { headerDigest, plaintextDigest, segmentCount: counter, plaintextLength: total },
          suite.name,
        );
        if (!suite.verify(publicKeyOf(signer), preimage, finalSignature)) {
          throw new VerificationError(
            'VERIFY_FINAL_SIGNATURE',
            'Final signature over the body does not verify',
            {
              where,
              hint: 'Quarantine the bundle; do not use any of its data',
            },
          );
        }
        digest = labelledDigest(suite, plaintextDigest);
        if (lastPlaintext.length > 0) yield lastPlaintext;
        return;
      }
    } finally {
      if (!finished) hashing.abort();
      dataKey.fill(0);
      await handle.close();
    }
  }

  return {
    header: envelope.header,
    signer,
    body: {
      [Symbol.asyncIterator]: () => {
        if (started) throw new Error(`Body of bundle ${envelope.header.bundleId} can be read only once`);
        started = true;
        return decryptSegments();
      },
    },
    plaintextDigest: () => {
      if (digest === undefined) {
        throw new Error(
          `Plaintext digest of bundle ${envelope.header.bundleId} is known only after the whole body was read`,
        );
      }
      return digest;
    },
  };
}

/** Segments read ahead of the one being decrypted (each at most segmentSize + 16 bytes in memory). */
const READ_AHEAD = 2;
/** Segments being opened (here or on the worker) while the one before them waits to be released. */
const IN_FLIGHT = 3;
/** A segment is opened on the worker when it has at most this many requests queued (C10). */
const OPEN_OFFLOAD_BACKLOG = 1;

/**
 * How far from its position a segment that fails authentication is looked for among this bundle's other
 * counters (docs/bundle-format.md section 7.1), and how many bytes that search may authenticate. Cost,
 * paid only when a segment fails and so at most once per refused bundle: up to 1 + 2 × 2 × window
 * extra authentications of that one segment, the window shrinking for large segments so that the
 * search authenticates at most about 256 MiB: 257 attempts for 1 MiB segments (about 0.3 s of
 * AES-256-GCM or 1 s of HMAC-SM3 on one core), 17 for the 16 MiB maximum. It yields to the event loop
 * between counters. Swaps, duplicates and drops of nearby segments are found after a few attempts; a
 * segment that was altered or comes from another bundle pays the whole search.
 */
const DIAGNOSIS_WINDOW = 64;
const DIAGNOSIS_BUDGET_BYTES = 256 * 1024 * 1024;

/**
 * Why segment `index` (read as flagged `last`) did not authenticate: with the other last flag it does
 * (re-flagged), or as another counter of this bundle near its position (reordered, duplicated or
 * dropped), or not at all (altered, or from another bundle: with its own data key and header digest as
 * AAD, another bundle's segment looks exactly like random bytes). Every plaintext opened here is zeroed
 * and dropped; nothing is released.
 */
async function diagnoseSegment(
  segments: SegmentCodec,
  index: number,
  last: boolean,
  sealed: Buffer,
  where: string,
  cause: unknown,
): Promise<VerificationError> {
  const opensAs = (counter: number, asLast: boolean): boolean => {
    try {
      segments.open(counter, asLast, sealed).fill(0);
      return true;
    } catch {
      return false;
    }
  };
  if (opensAs(index, !last)) return reflagged(index, last, where, cause);
  const segmentBytes = Math.max(sealed.length - SEGMENT_TAG_LENGTH, 1);
  const window = Math.min(
    DIAGNOSIS_WINDOW,
    Math.max(1, Math.floor(DIAGNOSIS_BUDGET_BYTES / (4 * segmentBytes))),
  );
  for (let distance = 1; distance <= window; distance++) {
    await nextTurn(); // keep the event loop (other workers, timers) responsive on a long search
    for (const counter of [index - distance, index + distance]) {
      if (counter < 0 || counter >= MAX_SEGMENTS) continue;
      for (const asLast of [last, !last]) {
        if (!opensAs(counter, asLast)) continue;
        const flag =
          asLast === last ? '' : `, its last flag changed from ${asLast ? 1 : 0} to ${last ? 1 : 0}`;
        return new VerificationError(
          'VERIFY_SEGMENT_REORDERED',
          `Segments out of order: position ${index} holds segment ${counter} of this bundle${flag} ` +
            '(segments were reordered, duplicated or dropped after sealing)',
          {
            where,
            hint: 'Quarantine the bundle and request a resend; no data from it may be used',
            cause,
          },
        );
      }
    }
  }
  return tampered(
    `Segment ${index} fails authentication: its bytes were altered, or it comes from another bundle ` +
      '(the two cannot be told apart: every bundle has its own data key and authenticates its segments ' +
      `against its own header digest); it is no other segment of this bundle within ${window} positions`,
    where,
    cause,
  );
}

/** Reads the segment of a short frame flagged "more" and tells whether it authenticates as the last one. */
async function opensAsLast(
  reader: SequentialReader,
  segments: SegmentCodec,
  index: number,
  length: number,
): Promise<boolean> {
  try {
    segments.open(index, true, await reader.read(length, `segment ${index}`)).fill(0);
    return true;
  } catch {
    return false;
  }
}

/** Segment `index` authenticates only with the other last flag; `flaggedLast` is what its frame says. */
function reflagged(index: number, flaggedLast: boolean, where: string, cause?: unknown): VerificationError {
  const message = flaggedLast
    ? `Segment ${index} is flagged as the last segment but is not: the segments after it were removed ` +
      'and its flag was changed, so the bundle is cut short'
    : `Segment ${index} is the last segment but is flagged as followed by more: its flag was changed ` +
      'so that data could be appended after it';
  return new VerificationError('VERIFY_SEGMENT_REFLAGGED', message, {
    where,
    hint:
      'Quarantine the bundle and request a resend; a frame was altered on purpose, ' +
      'this is not a transfer error',
    cause,
  });
}

function tampered(message: string, where: string, cause?: unknown): VerificationError {
  return new VerificationError('VERIFY_SEGMENT_TAMPERED', message, {
    where,
    hint: 'Quarantine the bundle and request a resend; no data from it may be used',
    cause,
  });
}
