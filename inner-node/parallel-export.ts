// Long incremental SQLite exports shared between the main thread and worker threads (export.workers):
// pages bounded by (watermark, key) tuples are read and mapped in parallel and consumed strictly in
// page order, so bundles, cursors and rejects are those of a single-threaded run.
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { MappingError, SourceError, type MappingErrorCode, type SourceErrorCode } from '../shared/errors.js';
import type { SourceValue } from '../shared/mapping.js';
import { datasetColumns } from './config.js';
import { pageReader, type PageRequest, type PageResult, type WorkerInit } from './export-worker.js';
import { sqliteDialect } from './sources/source-reader.js';
import type { BundleAssembler, StreamJob } from './stream-bundles.js';

/** Rows an incremental export reads on its own thread before it hands the rest to worker threads. */
export const PARALLEL_AFTER_ROWS = 20_000;
const WORKER_FILE = new URL('./export-worker.js', import.meta.url);
const WORKER_OLD_MB = 48;
const WORKER_YOUNG_MB = 4;

/** Worker threads for a parallel export: SQLite sources only, and only from compiled code. */
export function parallelWorkers(job: StreamJob): number {
  const source = job.ctx.settings.config.sources[job.spec.source];
  if (source?.kind !== 'sqlite' || !existsSync(fileURLToPath(WORKER_FILE))) return 0;
  const threads = Math.min(job.ctx.settings.config.export.workers, availableParallelism());
  return threads >= 2 ? threads : 0;
}

/**
 * The rest of an incremental SQLite export on worker threads. The main thread finds page boundaries
 * ((watermark, key) tuples pageSize rows apart, from the index alone), hands pages to workers that
 * read and map them, and consumes the results strictly in page order: bundles, cursors and rejects
 * come out exactly as the sequential path would produce them.
 */
export async function exportPagesInParallel(
  job: StreamJob,
  plan: {
    order: string[];
    upTo: string;
    table: string;
    after: SourceValue[] | null;
    pageSize: number;
    bundle: BundleAssembler;
  },
): Promise<void> {
  const { spec, ctx } = job;
  const source = ctx.settings.config.sources[spec.source];
  if (source?.kind !== 'sqlite') return;
  const path = ctx.settings.resolve(source.path);
  const init: WorkerInit = {
    path,
    table: plan.table,
    readColumns: job.readColumns,
    order: plan.order,
    upTo: plan.upTo,
    contract: job.contract.name,
    columns: datasetColumns(ctx.settings, job.dataset),
    where: `${spec.mapping ?? ctx.settings.path}: datasets.${job.dataset}`,
    columnIndexes: job.columnIndexes,
    allColumns: job.allColumns,
    keyColumns: job.keyColumns,
  };
  // The main thread reads its share of pages too: on two cores, one worker thread and the main thread.
  const local = pageReader(init);
  const count = parallelWorkers(job) - 1;
  // Bounded heaps: a worker holds one page at a time, and an unbounded V8 heap would grow lazily far
  // beyond that (the node's memory budget is about 300 MB for the whole export).
  const workers = Array.from(
    { length: count },
    () =>
      new Worker(WORKER_FILE, {
        workerData: init,
        resourceLimits: { maxOldGenerationSizeMb: WORKER_OLD_MB, maxYoungGenerationSizeMb: WORKER_YOUNG_MB },
      }),
  );
  const waiting = new Map<number, { resolve: (r: PageResult) => void; reject: (e: unknown) => void }>();
  for (const worker of workers) {
    worker.on('message', (result: PageResult) => {
      waiting.get(result.id)?.resolve(result);
      waiting.delete(result.id);
    });
    worker.on('error', (error) => {
      for (const w of waiting.values()) w.reject(error);
      waiting.clear();
    });
  }
  const boundaries = new Database(path, { readonly: true, fileMustExist: true });
  boundaries.defaultSafeIntegers(false);
  const q = (name: string): string => sqliteDialect.quote(name);
  const tuple = `(${plan.order.map(q).join(', ')})`;
  const marks = `(${plan.order.map(() => '?').join(', ')})`;
  const orderSql = plan.order.map(q).join(', ');
  // The last row of the next page: an index-only scan of pageSize entries.
  const nextBoundary = boundaries
    .prepare(
      `SELECT ${plan.order.map(q).join(', ')} FROM ${q(plan.table)} WHERE ${q(plan.order[0] ?? '')} <= ? AND ${tuple} > ${marks} ORDER BY ${orderSql} LIMIT 1 OFFSET ?`,
    )
    .raw(true);
  const cursorOfRow = (): never => {
    throw new Error('a parallel page has no row objects');
  };
  let nextId = 0;
  let after = plan.after;
  let exhausted = false;
  const inFlight: (() => Promise<PageResult>)[] = [];
  const slots = workers.length + 1;
  const dispatch = (): void => {
    const until =
      after === null
        ? null
        : ((nextBoundary.get(plan.upTo, ...after, plan.pageSize - 1) as SourceValue[] | undefined) ?? null);
    const id = nextId++;
    const request: PageRequest = { id, after, until };
    const worker = workers[id % slots];
    if (worker) {
      const result = new Promise<PageResult>((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        worker.postMessage(request);
      });
      // Awaited in page order later; marked handled now so an early failure is not "unhandled".
      result.catch(() => undefined);
      inFlight.push(() => result);
    } else {
      // The main thread's page is read when its turn comes, while the workers read theirs.
      inFlight.push(() => Promise.resolve(local.read(request)));
    }
    if (until === null) exhausted = true;
    else after = until;
  };
  try {
    for (;;) {
      while (!exhausted && inFlight.length < slots + 1) dispatch();
      const next = inFlight.shift();
      if (!next) break;
      const page = await next();
      if ('error' in page) throw rebuildError(page.error);
      if (page.count === 0) continue;
      // Rows arrive as UTF-8 lines; runs of accepted rows go into the bundle as byte slices.
      const bytes = Buffer.from(page.lines.buffer, page.lines.byteOffset, page.lines.byteLength);
      const cursors = page.cursors.split('\n');
      const bundle = plan.bundle;
      let rejectIndex = 0;
      let pos = 0;
      let runStart = 0;
      let runRows = 0;
      let runLast = 0;
      const flushRun = (): void => {
        if (runRows > 0) bundle.addBytes(bytes.subarray(runStart, pos), runRows, cursors[runLast] ?? '[]');
        runRows = 0;
        runStart = pos;
      };
      for (let i = 0; i < page.count; i++) {
        const end = bytes.indexOf(0x0a, pos);
        if (end === -1) throw new Error(`page ${page.id} has fewer lines than rows`);
        if (end === pos) {
          const reject = page.rejects[rejectIndex++];
          for (const r of reject?.rejects ?? [])
            job.rejects.add({ stream: job.stream, key: reject?.key, ...r });
          flushRun();
          bundle.add(undefined, cursors[i] ?? '[]');
          pos = end + 1;
          runStart = pos;
        } else {
          pos = end + 1;
          runRows++;
          runLast = i;
        }
        if (bundle.fullWith(runRows, pos - runStart)) {
          flushRun();
          await bundle.seal(cursorOfRow);
        }
      }
      flushRun();
    }
    await plan.bundle.seal(cursorOfRow);
  } finally {
    boundaries.close();
    local.close();
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

function rebuildError(error: { family: string; code: string | undefined; message: string }): Error {
  if (error.family === 'MappingError')
    return new MappingError((error.code ?? 'MAPPING_VALUE') as MappingErrorCode, error.message);
  if (error.family === 'SourceError')
    return new SourceError((error.code ?? 'SOURCE_QUERY') as SourceErrorCode, error.message);
  return new Error(error.message);
}
