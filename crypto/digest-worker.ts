// The plaintext digest of a bundle (SHA-256 or SM3, the second full pass over the body besides the
// segment cipher; docs/bundle-format.md 5.2) computed on a worker thread, so that on two cores the
// cipher runs on the calling thread while the digest runs beside it (docs/decisions-crypto.md C10).
//
// One long-lived worker per process serves every digest in progress (sessions, by id). A segment's
// ArrayBuffer is transferred to the worker and transferred back once hashed: no copy either way.
// The worker is unreferenced while no digest is in progress, so it never keeps a process alive.
//
// The worker's source is inline (evaluated as CommonJS) rather than a file next to this one, so that it
// runs the same from dist/ and from the TypeScript sources under vitest.
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const sessions = new Map();
parentPort.on('message', (m) => {
  try {
    if (m.op === 'start') {
      sessions.set(m.id, createHash(m.alg));
    } else if (m.op === 'update') {
      const hash = sessions.get(m.id);
      if (hash) hash.update(new Uint8Array(m.data, m.offset, m.length));
      if (m.data instanceof SharedArrayBuffer) parentPort.postMessage({ id: m.id, op: 'updated' });
      else parentPort.postMessage({ id: m.id, op: 'updated', data: m.data }, [m.data]);
    } else if (m.op === 'digest') {
      const digest = sessions.get(m.id).digest();
      sessions.delete(m.id);
      parentPort.postMessage({ id: m.id, op: 'digest', digest });
    } else if (m.op === 'drop') {
      sessions.delete(m.id);
    }
  } catch (error) {
    parentPort.postMessage({ id: m.id, op: 'error', message: String((error && error.message) || error) });
  }
});
`;

type Reply =
  | { id: number; op: 'updated'; data: ArrayBuffer }
  | { id: number; op: 'digest'; digest: Uint8Array }
  | { id: number; op: 'error'; message: string };

interface Waiter {
  resolve(reply: Reply): void;
  reject(error: Error): void;
}

/** A digest in progress. Calls are answered in order. */
export interface DigestSession {
  /**
   * Hashes `data` next and resolves with the same bytes once hashed. Over a SharedArrayBuffer the
   * worker reads in place (do not change the bytes until the promise settles) and `data` itself is
   * returned. Otherwise `data`'s whole ArrayBuffer is transferred to the worker, so the caller must own
   * it (not a pooled Buffer, not a view that others hold) and must use only the returned Buffer
   * afterwards; `data` itself is detached (length 0).
   */
  update(data: Buffer): Promise<Buffer>;
  /** The digest of everything passed to update(), once all of it was hashed. Ends the session. */
  digest(): Promise<Buffer>;
  /** Abandons the session (on an error path); pending calls are answered or rejected, never hang. */
  abort(): void;
}

let shared: DigestWorker | undefined;

/** Starts a digest ('sha256' or 'sm3') on the shared worker thread, starting the thread if needed. */
export function startDigest(algorithm: 'sha256' | 'sm3'): DigestSession {
  shared ??= new DigestWorker();
  return shared.start(algorithm);
}

class DigestWorker {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, Waiter[]>();
  private nextId = 1;
  private active = 0;
  private failure: Error | undefined;

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
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
    this.worker.on('error', (error) => fail(new Error('Digest worker failed', { cause: error })));
    this.worker.on('exit', (code) => fail(new Error(`Digest worker exited with code ${code}`)));
  }

  start(algorithm: 'sha256' | 'sm3'): DigestSession {
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
        this.worker.postMessage({ id, ...message }, transfer);
      });
    };
    const answer = (reply: Reply): Reply => {
      if (reply.op === 'error') throw new Error(`Digest worker: ${reply.message}`);
      return reply;
    };
    this.worker.postMessage({ id, op: 'start', alg: algorithm });
    return {
      update: async (data) => {
        if (data.buffer instanceof SharedArrayBuffer) {
          // Shared memory: the worker reads it in place; nothing is transferred or copied.
          const { buffer, byteOffset, byteLength } = data;
          answer(await ask({ op: 'update', data: buffer, offset: byteOffset, length: byteLength }));
          return data;
        }
        const { buffer, byteOffset, byteLength } = ownedArrayBuffer(data);
        const reply = answer(
          await ask({ op: 'update', data: buffer, offset: byteOffset, length: byteLength }, [buffer]),
        );
        if (reply.op !== 'updated') throw new Error('Digest worker answered out of order');
        return Buffer.from(reply.data, byteOffset, byteLength);
      },
      digest: async () => {
        try {
          const reply = answer(await ask({ op: 'digest' }));
          if (reply.op !== 'digest') throw new Error('Digest worker answered out of order');
          return Buffer.from(reply.digest.buffer, reply.digest.byteOffset, reply.digest.byteLength);
        } finally {
          this.waiting.delete(id);
          finish();
        }
      },
      abort: () => {
        if (!open) return;
        // Replies still due are answered by the worker (it returns the buffers) and then ignored.
        if (!this.failure) this.worker.postMessage({ id, op: 'drop' });
        const queue = this.waiting.get(id) ?? [];
        this.waiting.delete(id);
        for (const waiter of queue) waiter.reject(new Error('Digest abandoned'));
        finish();
      },
    };
  }
}

/** The ArrayBuffer to transfer for `data`: its own when it is a plain one, else a private copy. */
function ownedArrayBuffer(data: Buffer): { buffer: ArrayBuffer; byteOffset: number; byteLength: number } {
  if (data.buffer instanceof ArrayBuffer && data.buffer.byteLength > Buffer.poolSize) {
    return { buffer: data.buffer, byteOffset: data.byteOffset, byteLength: data.byteLength };
  }
  // Small buffers may live in Node's shared pool (Buffer.poolSize slabs), which must never be transferred.
  const copy = new Uint8Array(data.byteLength);
  copy.set(data);
  return { buffer: copy.buffer, byteOffset: 0, byteLength: copy.byteLength };
}
