// Sealing a bundle (design 4, docs/bundle-format.md): stream the body into fixed-size authenticated
// segments under a fresh data key, wrap that key for each recipient inside the signed header, and end
// with a signature over the header digest and the plaintext digest. Memory holds one segment at a time.
// What differs between suites (AES-256-GCM or SM4-CTR+HMAC-SM3, X25519 or SM2 wrap, SHA-256 or SM3,
// Ed25519/P-256 or SM2 signatures) sits behind the Suite interface (suites.ts).
import { randomBytes, type KeyObject } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { mkdirSync } from 'node:fs';
import { publishFile, temporaryNameFor } from '../shared/atomic-file.js';
import { BridgeError, BundleError, KeyError, VerificationError } from '../shared/errors.js';
import { SUPPORTED_SUITES, encodeHeader, parseHeader } from './header.js';
import { identitySecrets } from './identity.js';
import {
  DATA_KEY_LENGTH,
  DEFAULT_SEGMENT_SIZE,
  FLAG_LAST,
  FLAG_MORE,
  FORMAT_VERSION,
  FRAME_HEADER_LENGTH,
  MAGIC,
  MAX_PLAINTEXT_BYTES,
  MAX_RECIPIENTS,
  MAX_SEGMENTS,
  MAX_SEGMENT_SIZE,
  MIN_SEGMENT_SIZE,
} from './limits.js';
import { finalSignaturePreimage, headerSignaturePreimage } from './preimage.js';
import { randomBundleId } from './primitives.js';
import * as nodeCrypto from 'node:crypto';
import { forgetRecipe, segmentCodec } from './segment-construction.js';
import { startSegmentSession, workerBacklog, type SegmentSession } from './segment-worker.js';
import { createSuiteHash, defaultSuiteFor, labelledDigest, suiteNamed, type Suite } from './suites.js';
import { publicKeyOf } from './trust-store.js';
import type { BundleDescription, BundleHeader, Identity, PeerCertificate, SuiteName } from './types.js';

export interface SealRequest {
  identity: Identity;
  recipients: PeerCertificate[];
  description: BundleDescription;
  body: AsyncIterable<Uint8Array>;
  outputPath: string;
  suite?: SuiteName;
  segmentSize?: number;
}

export interface SealResult {
  header: BundleHeader;
  path: string;
  bytes: number;
  plaintextDigest: string;
}

/**
 * Fixed randomness for the test-vector generator only (test/vectors/generate.ts). Production code never
 * passes it: sealBundle() always draws fresh values.
 */
export interface SealRandomness {
  bundleId?: string;
  dataKey?: Buffer;
  /** One ephemeral private key per recipient, in recipient order (X25519 for intl-v1, SM2 for sm-v1). */
  ephemeralKeys?: KeyObject[];
}

// Segment buffers are shared memory, which the idle segment worker is slow to let go of: a pool reused
// across bundles keeps a long export at a few buffers instead of four per bundle (measured: 5
// million rows exported in 243 MB instead of 375-466 MB).
const POOL_LIMIT = 6;
const segmentPool = new Map<number, Buffer[]>();

function takeSegment(size: number): Buffer {
  return segmentPool.get(size)?.pop() ?? Buffer.from(new SharedArrayBuffer(size));
}

function giveSegment(buffer: Buffer): void {
  const size = buffer.buffer.byteLength;
  const pool = segmentPool.get(size) ?? [];
  if (pool.length < POOL_LIMIT) pool.push(Buffer.from(buffer.buffer, 0, size));
  segmentPool.set(size, pool);
}

/** Streams body into outputPath: temp name, fsync, rename. Memory bounded regardless of body size. */
export async function sealBundle(req: SealRequest): Promise<SealResult> {
  return sealBundleWith(req, {});
}

export async function sealBundleWith(req: SealRequest, fixed: SealRandomness): Promise<SealResult> {
  const where = req.outputPath;
  if (req.suite !== undefined && !SUPPORTED_SUITES.includes(req.suite)) {
    throw new BundleError('BUNDLE_MALFORMED', `Unknown suite ${String(req.suite)}`, {
      where,
      hint: `Use one of ${SUPPORTED_SUITES.join(', ')}`,
    });
  }
  // Without an explicit suite a node seals with the suite of its own signing key.
  const suite = req.suite ? suiteNamed(req.suite) : defaultSuiteFor(req.identity);
  if (!suite.acceptsSigner(req.identity.signAlgorithm)) {
    throw new KeyError(
      'KEY_INVALID',
      `Suite ${suite.name} needs an ${suite.signingKeys} signing key; ${req.identity.name} signs with ${req.identity.signAlgorithm}`,
      {
        where: req.identity.keysDir,
        hint: 'Seal with the suite the node was issued for (bridge-keys issue --suite), or issue keys for this suite',
      },
    );
  }
  const segmentSize = req.segmentSize ?? DEFAULT_SEGMENT_SIZE;
  if (
    !Number.isSafeInteger(segmentSize) ||
    segmentSize < MIN_SEGMENT_SIZE ||
    segmentSize > MAX_SEGMENT_SIZE
  ) {
    throw new BundleError(
      'BUNDLE_MALFORMED',
      `Segment size ${segmentSize} outside ${MIN_SEGMENT_SIZE}..${MAX_SEGMENT_SIZE}`,
      {
        where,
      },
    );
  }
  const recipients = checkRecipients(req.recipients, suite, where);
  const secrets = identitySecrets(req.identity);
  const createdAt = validDate(req.description.createdAt ?? new Date(), 'createdAt', where);
  const own = req.identity.signCertificate;
  // A bundle signed outside the signer's validity window would be refused by every receiver; say so here.
  if (createdAt < own.notBefore || createdAt > own.notAfter) {
    throw new KeyError(
      'KEY_EXPIRED',
      `Signing certificate of ${req.identity.name} is not valid at ${createdAt.toISOString()} (valid ${own.notBefore.toISOString()} to ${own.notAfter.toISOString()})`,
      {
        where: own.file,
        hint: 'Issue new node keys with `bridge-keys issue` and import the new certificate at the peer',
      },
    );
  }
  const bundleId = fixed.bundleId ?? randomBundleId();
  const dataKey = fixed.dataKey ?? randomBytes(DATA_KEY_LENGTH);
  const d = req.description;
  const header: BundleHeader = {
    format: FORMAT_VERSION,
    suite: suite.name,
    bundleId,
    sender: { name: req.identity.name, keyId: req.identity.signKeyId },
    recipients: recipients.map((cert, index) =>
      suite.wrapKey(dataKey, bundleId, publicKeyOf(cert), fixed.ephemeralKeys?.[index]),
    ),
    dataset: d.dataset,
    contract: d.contract,
    stream: d.stream,
    sequence: d.sequence,
    rowCount: d.rowCount,
    kind: d.kind,
    createdAt: createdAt.toISOString(),
    expiresAt: validDate(d.expiresAt, 'expiresAt', where).toISOString(),
    segmentSize,
  };
  const headerBytes = encodeHeader(header);
  // The sealer runs the receiver's own guard, so it can never write a header the receiver refuses.
  try {
    parseHeader(headerBytes, where);
  } catch (error) {
    const detail = error instanceof VerificationError ? error.message : String(error);
    throw new BundleError('BUNDLE_MALFORMED', `Refusing to seal: ${detail}`, { where, cause: error });
  }
  const headerDigest = createSuiteHash(suite).update(headerBytes).digest();
  const headerSignature = suite.sign(secrets.signKey, headerSignaturePreimage(headerBytes, suite.name));

  mkdirSync(dirname(req.outputPath), { recursive: true });
  const temp = temporaryNameFor(req.outputPath);
  let handle: FileHandle | undefined;
  let work: SegmentSession | undefined;
  let out: SequentialWriter | undefined;
  try {
    handle = await open(temp, 'wx', 0o644);
    const writer = new SequentialWriter(handle);
    out = writer;
    const prefix = Buffer.alloc(MAGIC.length + 6);
    MAGIC.copy(prefix, 0);
    prefix.writeUInt16BE(FORMAT_VERSION, MAGIC.length);
    prefix.writeUInt32BE(headerBytes.length, MAGIC.length + 2);
    await writer.write(prefix, headerBytes, u16(headerSignature.length), headerSignature);

    const recipe = suite.segmentRecipe(dataKey, headerDigest);
    const segments = segmentCodec(nodeCrypto, recipe);
    // Two cores (docs/decisions-crypto.md C10): this thread fills segment buffers; each segment is
    // sealed here or, when the worker has nothing else queued, on the segment worker, which hashes every
    // segment in order besides. Frame writes go to the thread pool in order, at most WRITES_QUEUED
    // behind. SEGMENTS_IN_FLIGHT segment buffers circulate (shared memory, never copied), so memory
    // stays bounded whatever the body size.
    work = startSegmentSession(suite.hash, recipe);
    const worker = work;
    // Both threads hold the segment keys as KeyObjects now (the worker got a copy with its session).
    forgetRecipe(recipe);
    const inFlight: Promise<Buffer>[] = [];
    let allocated = 0;
    const nextBuffer = async (): Promise<Buffer> => {
      if (allocated < SEGMENTS_IN_FLIGHT) {
        allocated += 1;
        return takeSegment(segmentSize);
      }
      return (await inFlight.shift()) ?? takeSegment(segmentSize);
    };
    let counter = 0;
    let total = 0;
    let writing: Promise<void> = Promise.resolve();
    const writes: Promise<void>[] = [];
    const emit = async (plaintext: Buffer, last: boolean): Promise<void> => {
      if (counter >= MAX_SEGMENTS) throw new BundleError('BUNDLE_TOO_LARGE', 'Too many segments', { where });
      const index = counter;
      counter += 1;
      let sealed: [Buffer, Buffer] | Promise<[Buffer, Buffer]>;
      let hashed: Promise<Buffer>;
      if (workerBacklog() <= OFFLOAD_BACKLOG) {
        const job = worker.seal(index, last, plaintext);
        sealed = job.then((done) => done.sealed);
        hashed = job.then((done) => done.plaintext);
      } else {
        sealed = segments.seal(index, last, plaintext);
        hashed = worker.update(plaintext);
      }
      // The whole segment buffer is filled again once hashed (observed here so that an abandoned
      // session is not an unhandled rejection; awaited when the buffer is reused).
      const reusable = hashed.then((back) => Buffer.from(back.buffer, 0, segmentSize));
      reusable.catch(() => undefined);
      inFlight.push(reusable);
      const previous = writing;
      writing = (async () => {
        const parts = await sealed;
        const frame = Buffer.alloc(FRAME_HEADER_LENGTH);
        frame[0] = last ? FLAG_LAST : FLAG_MORE;
        frame.writeUInt32BE(parts[0].length + parts[1].length, 1);
        await previous;
        await writer.write(frame, ...parts);
      })();
      // Observed here so that a failing write is not an unhandled rejection; awaited in order below.
      writing.catch(() => undefined);
      writes.push(writing);
      if (writes.length > WRITES_QUEUED) await writes.shift();
    };
    // A full segment is only emitted once more data arrives, so the last one is always flagged last.
    let pending = await nextBuffer();
    let filled = 0;
    for await (const chunk of req.body) {
      if (!(chunk instanceof Uint8Array)) {
        throw new BundleError('BUNDLE_PAYLOAD_INVALID', 'Bundle body must yield Uint8Array chunks', {
          where,
        });
      }
      total += chunk.length;
      if (total > MAX_PLAINTEXT_BYTES) {
        throw new BundleError('BUNDLE_TOO_LARGE', `Body exceeds ${MAX_PLAINTEXT_BYTES} bytes`, {
          where,
          hint: 'Split the export into several bundles of the same stream',
        });
      }
      let offset = 0;
      while (offset < chunk.length) {
        if (filled === segmentSize) {
          await emit(pending, false);
          pending = await nextBuffer();
          filled = 0;
        }
        const n = Math.min(segmentSize - filled, chunk.length - offset);
        pending.set(chunk.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
      }
    }
    await emit(pending.subarray(0, filled), true);
    await writing;
    work = undefined;
    const plaintextDigest = await worker.digest();
    // Every segment buffer is back from the worker now: keep them for the next bundle.
    for (const buffer of await Promise.all(inFlight)) giveSegment(buffer);
    const finalSignature = suite.sign(
      secrets.signKey,
      finalSignaturePreimage(
        { headerDigest, plaintextDigest, segmentCount: counter, plaintextLength: total },
        suite.name,
      ),
    );
    await writer.write(u16(finalSignature.length), finalSignature);
    await writer.flushed();
    await handle.close();
    handle = undefined;
    await publishFile(temp, req.outputPath);
    dataKey.fill(0);
    return {
      header,
      path: req.outputPath,
      bytes: writer.position,
      plaintextDigest: labelledDigest(suite, plaintextDigest),
    };
  } catch (error) {
    dataKey.fill(0);
    work?.abort();
    await out?.flushed().catch(() => undefined);
    await handle?.close().catch(() => undefined);
    await rm(temp, { force: true });
    // Our own errors (including a MappingError raised by the body producer) keep their family and code.
    if (error instanceof BridgeError) throw error;
    throw new BundleError('BUNDLE_WRITE_FAILED', `Could not write bundle ${bundleId}`, {
      where,
      hint: 'Check free space and permissions of the output folder',
      cause: error,
    });
  }
}

/** Segment buffers circulating between the sealing thread and the segment worker (fill, seal, hash, reuse). */
const SEGMENTS_IN_FLIGHT = 4;
/** Sealed frames waiting for their write, at most (each holds one ciphertext). */
const WRITES_QUEUED = 2;
/** A segment goes to the worker when it has at most this many requests queued (C10). */
const OFFLOAD_BACKLOG = 1;

function u16(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(value);
  return b;
}

function validDate(value: Date, field: string, where: string): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new BundleError('BUNDLE_MALFORMED', `Bundle description ${field} is not a valid Date`, { where });
  }
  return value;
}

function checkRecipients(recipients: PeerCertificate[], suite: Suite, where: string): PeerCertificate[] {
  if (recipients.length === 0) {
    throw new BundleError(
      'BUNDLE_MALFORMED',
      'No recipients: no current, valid encryption certificate for the peer',
      {
        where,
        hint: 'Import the peer encryption certificate (bridge-keys import-cert) and check it has not expired or been revoked',
      },
    );
  }
  if (recipients.length > MAX_RECIPIENTS) {
    throw new BundleError('BUNDLE_MALFORMED', `${recipients.length} recipients, at most ${MAX_RECIPIENTS}`, {
      where,
    });
  }
  for (const cert of recipients) {
    // intl-v1: X25519 keys, or P-256 keys (held in a PKCS#11 token), each with its own wrap
    // (key-wrap.ts); sm-v1: SM2 keys. The rule per suite is Suite.acceptsRecipient.
    if (cert.usage !== 'encrypt' || !suite.acceptsRecipient(publicKeyOf(cert))) {
      throw new BundleError(
        'BUNDLE_MALFORMED',
        `Recipient ${cert.name} key ${cert.keyId} is not an ${suite.recipientKeys} encryption certificate, as suite ${suite.name} needs`,
        { where, hint: 'Both nodes of a lane must be issued for the same suite (bridge-keys issue --suite)' },
      );
    }
  }
  // The same key listed twice (e.g. two peers' lists merged) gets one entry: key ids are unique in a header.
  return recipients.filter((cert, index) => recipients.findIndex((c) => c.keyId === cert.keyId) === index);
}

/**
 * Appends buffers at an increasing position (positional writes avoid a shared file offset), and starts
 * the disk write-back as it goes: after every FLUSH_EVERY bytes a datasync runs in the thread pool
 * beside the writes, so the fsync before the rename (publishFile) finds little left to do. Measured
 * with a 256 MiB seal here: the final fsync alone took 70-100 ms, about a quarter of the seal; with
 * a flush every 16 MiB it takes 1-10 ms and the whole seal is 25-35 % shorter (C10).
 */
class SequentialWriter {
  position = 0;
  private unflushed = 0;
  private flushing: Promise<void> | undefined;
  /**
   * The first failed write-back. Linux reports a write-back error to one sync only, so the fsync in
   * publishFile could succeed after this one failed: the error is kept and fails the seal.
   */
  private failure: Error | undefined;
  constructor(private readonly handle: FileHandle) {}

  async write(...buffers: Uint8Array[]): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    // One system call for a frame and its segment; a short write (rare) is finished piece by piece.
    const total = buffers.reduce((sum, b) => sum + b.length, 0);
    const { bytesWritten } = await this.handle.writev(buffers, this.position);
    this.position += bytesWritten;
    if (bytesWritten < total) {
      const rest = Buffer.concat(buffers).subarray(bytesWritten);
      let offset = 0;
      while (offset < rest.length) {
        const written = await this.handle.write(rest, offset, rest.length - offset, this.position);
        offset += written.bytesWritten;
        this.position += written.bytesWritten;
      }
    }
    this.unflushed += total;
    if (this.unflushed >= FLUSH_EVERY && !this.flushing) {
      this.unflushed = 0;
      // One write-back at a time; a failure is kept and reported by the next write or by flushed().
      const flush = this.handle
        .datasync()
        .catch((error: unknown) => {
          this.failure ??= error instanceof Error ? error : new Error(String(error));
        })
        .finally(() => {
          if (this.flushing === flush) this.flushing = undefined;
        });
      this.flushing = flush;
    }
  }

  /** Waits for the write-back in progress, if any (before the handle closes); throws if one failed. */
  async flushed(): Promise<void> {
    await this.flushing;
    if (this.failure !== undefined) throw this.failure;
  }
}

/** Bytes written between two background datasyncs of a bundle being sealed. */
const FLUSH_EVERY = 16 * 1024 * 1024;
