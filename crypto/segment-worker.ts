// The second core of a seal or an open (docs/decisions-crypto.md C10). Each segment costs two full
// passes over its bytes: the segment cipher and the plaintext digest the final signature covers
// (SHA-256 or SM3 over the whole body in order, docs/bundle-format.md 5.2). This worker thread
// computes the digest of every seal and open in progress, and, when the caller asks, also seals or
// opens a segment itself, with the same construction code (segment-construction.ts).
// The caller decides per segment from `backlog`: the worker takes a whole segment when it has
// nothing else queued, so the cipher work splits between the two cores by itself, whatever the
// relative speed of AES and SHA-256 on the host.
//
// One long-lived worker per process serves every session (by id); it is unreferenced while no
// session is open, so it never keeps a process alive. Segment buffers are SharedArrayBuffers (read
// in place) or transferred ArrayBuffers (moved, not copied), in both directions.
//
// The worker's source is inline (evaluated as CommonJS) rather than a file next to this one, so that
// it runs the same from dist/ and from the TypeScript sources under vitest. It includes
// segmentCodec's own source text (Function.prototype.toString): a coverage tool that rewrites
// function bodies (istanbul) would break the worker; V8 coverage does not.
import { Worker } from 'node:worker_threads';
import { segmentCodec, type SegmentRecipe } from './segment-construction.js';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const crypto = require('node:crypto');
const segmentCodec = ${segmentCodec.toString()};
const done = new Int32Array(workerData.progress);
const sessions = new Map();
// A buffer to move to the other thread: its own ArrayBuffer when it has one, else a copy (small
// buffers can share one of Node's pool slabs, which must never be transferred).
const owned = (b) => {
  if (b.buffer instanceof ArrayBuffer && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) return b;
  const copy = new Uint8Array(b.byteLength);
  copy.set(b);
  return copy;
};
const view = (m) => new Uint8Array(m.data, m.offset, m.length);
const back = (m) => (m.data instanceof SharedArrayBuffer ? [] : [m.data]);
parentPort.on('message', (m) => {
  try {
    // start and drop are never answered; every other request gets exactly one reply, in order.
    if (m.op === 'start') return start(m);
    if (m.op === 'drop') return void sessions.delete(m.id);
    const session = sessions.get(m.id);
    if (!session) throw new Error('no such session');
    if (session.error) throw new Error(session.error);
    if (m.op === 'update') {
      session.hash.update(view(m));
      parentPort.postMessage({ id: m.id, op: 'updated', data: m.data }, back(m));
    } else if (m.op === 'seal') {
      const plaintext = view(m);
      const [ciphertext, tag] = session.codec.seal(m.counter, m.last, plaintext);
      session.hash.update(plaintext);
      const out = owned(ciphertext);
      parentPort.postMessage({ id: m.id, op: 'sealed', data: m.data, ciphertext: out.buffer, tag }, [...back(m), out.buffer]);
    } else if (m.op === 'open') {
      let plaintext;
      try {
        plaintext = session.codec.open(m.counter, m.last, view(m));
      } catch (error) {
        // Not authentic: nothing is hashed; the bytes go back for the caller's diagnosis.
        const message = String((error && error.message) || error);
        return parentPort.postMessage({ id: m.id, op: 'refused', message, data: m.data }, back(m));
      }
      session.hash.update(plaintext);
      const out = owned(plaintext);
      parentPort.postMessage(
        { id: m.id, op: 'opened', data: m.data, plaintext: out.buffer, length: plaintext.length },
        [...back(m), out.buffer],
      );
    } else if (m.op === 'digest') {
      const digest = session.hash.digest();
      sessions.delete(m.id);
      parentPort.postMessage({ id: m.id, op: 'digest', digest });
    } else {
      throw new Error('unknown request ' + m.op);
    }
  } catch (error) {
    parentPort.postMessage({ id: m.id, op: 'error', message: String((error && error.message) || error) });
  } finally {
    Atomics.add(done, 0, 1);
  }
});
// A session that cannot start keeps its reason: its first request is answered with it.
function start(m) {
  try {
    sessions.set(m.id, {
      hash: crypto.createHash(m.alg),
      codec: m.recipe ? segmentCodec(crypto, m.recipe) : undefined,
    });
  } catch (error) {
    sessions.set(m.id, { error: String((error && error.message) || error) });
  } finally {
    // The codec holds the keys as KeyObjects: the cloned key bytes are not needed any more.
    if (m.recipe) {
      m.recipe.key.fill(0);
      if (m.recipe.macKey) m.recipe.macKey.fill(0);
    }
  }
}
`;

type Reply =
  | { id: number; op: 'updated'; data: ArrayBuffer | SharedArrayBuffer }
  | {
      id: number;
      op: 'sealed';
      data: ArrayBuffer | SharedArrayBuffer;
      ciphertext: ArrayBuffer;
      tag: Uint8Array;
    }
  | {
      id: number;
      op: 'opened';
      data: ArrayBuffer | SharedArrayBuffer;
      plaintext: ArrayBuffer;
      length: number;
    }
  | { id: number; op: 'refused'; data: ArrayBuffer | SharedArrayBuffer; message: string }
  | { id: number; op: 'digest'; digest: Uint8Array }
  | { id: number; op: 'error'; message: string };

interface Waiter {
  resolve(reply: Reply): void;
  reject(error: Error): void;
}

/** A segment the worker did not open: it does not authenticate. `sealed` is its bytes, given back. */
export class SegmentRefused extends Error {
  constructor(
    message: string,
    readonly sealed: Buffer,
  ) {
    super(message);
  }
}

/** A seal or open in progress. Calls are answered in the order they were made. */
export interface SegmentSession {
  /**
   * Hashes `data` next and resolves with the same bytes once hashed. Over a SharedArrayBuffer the
   * worker reads in place (do not change the bytes until the promise settles) and a Buffer over the
   * same memory is returned. A Buffer that is the whole of its ArrayBuffer is transferred to the worker
   * and back: use only the returned Buffer afterwards, `data` itself is detached (length 0). Any other
   * Buffer is copied first.
   */
  update(data: Buffer): Promise<Buffer>;
  /**
   * Seals segment `counter` on the worker and hashes its plaintext next (`data` as for update()).
   * Resolves with the ciphertext and tag, and the plaintext bytes back. Needs a recipe at start.
   */
  seal(
    counter: number,
    last: boolean,
    data: Buffer,
  ): Promise<{ sealed: [Buffer, Buffer]; plaintext: Buffer }>;
  /**
   * Opens segment `counter` (ciphertext || tag; `sealed` as for update()) on the worker and hashes its
   * plaintext next. Resolves with the plaintext and the sealed bytes back; rejects with SegmentRefused
   * when it does not authenticate (then nothing is hashed). Needs a recipe at start.
   */
  open(counter: number, last: boolean, sealed: Buffer): Promise<{ plaintext: Buffer; sealed: Buffer }>;
  /** The digest of everything hashed, once all of it was. Ends the session. */
  digest(): Promise<Buffer>;
  /** Abandons the session (on an error path); pending calls are answered or rejected, never hang. */
  abort(): void;
}

let shared: SegmentWorker | undefined;

/**
 * Starts a session on the shared worker thread (starting the thread if needed): a plaintext digest
 * ('sha256' or 'sm3'), and with a recipe also segments sealed or opened on the worker.
 */
export function startSegmentSession(algorithm: 'sha256' | 'sm3', recipe?: SegmentRecipe): SegmentSession {
  shared ??= new SegmentWorker();
  return shared.start(algorithm, recipe);
}

/** Requests posted to the worker and not yet finished, over all sessions (read without waiting). */
export function workerBacklog(): number {
  return shared ? shared.backlog() : 0;
}

class SegmentWorker {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, Waiter[]>();
  private readonly progress = new Int32Array(new SharedArrayBuffer(4));
  private posted = 0;
  private nextId = 1;
  private active = 0;
  private failure: Error | undefined;

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { progress: this.progress.buffer } });
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => {
      const queue = this.waiting.get(reply.id);
      const waiter = queue?.shift();
      waiter?.resolve(reply);
    });
    const fail = (error: Error): void => {
      this.failure = error;
      if (shared === this) shared = undefined;
      for (const queue of this.waiting.values()) for (const waiter of queue.splice(0)) waiter.reject(error);
    };
    this.worker.on('error', (error) => fail(new Error('Segment worker failed', { cause: error })));
    this.worker.on('exit', (code) => fail(new Error(`Segment worker exited with code ${code}`)));
  }

  backlog(): number {
    return this.posted - Atomics.load(this.progress, 0);
  }

  private post(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): void {
    this.posted += 1;
    this.worker.postMessage(message, transfer);
  }

  start(algorithm: 'sha256' | 'sm3', recipe: SegmentRecipe | undefined): SegmentSession {
    const id = this.nextId++;
    this.waiting.set(id, []);
    if (this.active++ === 0) this.worker.ref();
    let open = true;
    const finish = (): void => {
      if (!open) return;
      open = false;
      if (--this.active === 0) this.worker.unref();
    };
    const ask = (message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Reply> => {
      if (this.failure) return Promise.reject(this.failure);
      return new Promise<Reply>((resolve, reject) => {
        this.waiting.get(id)?.push({ resolve, reject });
        this.post({ id, ...message }, transfer);
      });
    };
    const expect = <K extends Reply['op']>(reply: Reply, op: K): Extract<Reply, { op: K }> => {
      if (reply.op === 'error') throw new Error(`Segment worker: ${reply.message}`);
      if (reply.op !== op) throw new Error(`Segment worker answered ${reply.op}, expected ${op}`);
      return reply as Extract<Reply, { op: K }>;
    };
    /** The message fields for `data`, and what to transfer (nothing for shared memory). */
    const carry = (data: Buffer): { fields: Record<string, unknown>; transfer: ArrayBuffer[] } => {
      if (data.buffer instanceof SharedArrayBuffer) {
        return {
          fields: { data: data.buffer, offset: data.byteOffset, length: data.byteLength },
          transfer: [],
        };
      }
      const { buffer, byteOffset, byteLength } = ownedArrayBuffer(data);
      return { fields: { data: buffer, offset: byteOffset, length: byteLength }, transfer: [buffer] };
    };
    const returned = (data: ArrayBuffer | SharedArrayBuffer, fields: Record<string, unknown>): Buffer =>
      Buffer.from(data, fields['offset'] as number, fields['length'] as number);
    this.post({ id, op: 'start', alg: algorithm, recipe });
    return {
      update: async (data) => {
        const { fields, transfer } = carry(data);
        const reply = expect(await ask({ op: 'update', ...fields }, transfer), 'updated');
        return returned(reply.data, fields);
      },
      seal: async (counter, last, data) => {
        const { fields, transfer } = carry(data);
        const reply = expect(await ask({ op: 'seal', counter, last, ...fields }, transfer), 'sealed');
        const tag = Buffer.from(reply.tag.buffer, reply.tag.byteOffset, reply.tag.byteLength);
        return { sealed: [Buffer.from(reply.ciphertext), tag], plaintext: returned(reply.data, fields) };
      },
      open: async (counter, last, sealed) => {
        const { fields, transfer } = carry(sealed);
        const reply = await ask({ op: 'open', counter, last, ...fields }, transfer);
        if (reply.op === 'refused') throw new SegmentRefused(reply.message, returned(reply.data, fields));
        const opened = expect(reply, 'opened');
        return {
          plaintext: Buffer.from(opened.plaintext, 0, opened.length),
          sealed: returned(opened.data, fields),
        };
      },
      digest: async () => {
        try {
          const reply = expect(await ask({ op: 'digest' }), 'digest');
          return Buffer.from(reply.digest.buffer, reply.digest.byteOffset, reply.digest.byteLength);
        } finally {
          this.waiting.delete(id);
          finish();
        }
      },
      abort: () => {
        if (!open) return;
        // Replies still due are answered by the worker and then ignored.
        if (!this.failure) this.post({ id, op: 'drop' });
        const queue = this.waiting.get(id) ?? [];
        this.waiting.delete(id);
        for (const waiter of queue) waiter.reject(new Error('Segment work abandoned'));
        finish();
      },
    };
  }
}

/** The ArrayBuffer to transfer for `data`: its own when it is a plain one, else a private copy. */
function ownedArrayBuffer(data: Buffer): { buffer: ArrayBuffer; byteOffset: number; byteLength: number } {
  // Only a buffer that is the whole of its ArrayBuffer moves: a view of part of one (a slice, or a small
  // Buffer in one of Node's shared pool slabs) would detach memory that others hold.
  if (
    data.buffer instanceof ArrayBuffer &&
    data.byteOffset === 0 &&
    data.byteLength === data.buffer.byteLength
  ) {
    return { buffer: data.buffer, byteOffset: 0, byteLength: data.byteLength };
  }
  const copy = new Uint8Array(data.byteLength);
  copy.set(data);
  return { buffer: copy.buffer, byteOffset: 0, byteLength: copy.byteLength };
}
