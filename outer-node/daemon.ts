// `outer-node run`: watches the inbox (chokidar, plus a periodic scan as a safety net) and imports
// with N workers until SIGINT/SIGTERM. Each worker has its own claim folder, lease and database
// connection; the current transactions finish before the daemon stops. Beside the workers, under the
// same stop signal: the metrics file writer (metrics.file) and the loan applications watcher
// (lending.model + lending.policy, lending.watch).
import { watch } from 'chokidar';
import { watchNodeTrust } from '../crypto/index.js';
import { handlePendingSignals } from '../shared/cli-support.js';
import { parseDuration } from '../shared/config-loader.js';
import { describeError } from '../shared/errors.js';
import type { OuterContext } from './context.js';
import { auditDecision } from './audit.js';
import { contextWorkers, ensureSchema, STABLE_RECHECK_MS, workerPass, type ImportWorker } from './import.js';
import { startLendingWatch } from './lending-watch.js';
import { startOuterMetrics } from './metrics.js';
import { watchCertificates } from './reverse-certificates.js';
import { startReverseDriver } from './reverse-driver.js';

export interface Stopper {
  readonly stopped: boolean;
  wait(ms: number): Promise<void>;
}

export interface DaemonOptions {
  /** Workers in this process (default: import.workers from the configuration). */
  workers?: number;
}

export async function runOuterDaemon(
  ctx: OuterContext,
  stop: Stopper,
  options: DaemonOptions = {},
): Promise<void> {
  const poll = parseDuration(ctx.settings.config.import.poll_interval) ?? 2000;
  // Refuse to start when the bank schema does not fit the mapping (every problem listed).
  await ensureSchema(ctx);
  // Stopped while starting (the CLI catches signals before it opens anything): start nothing.
  await handlePendingSignals();
  if (stop.stopped) {
    ctx.logger.info('outer node stopped during start-up');
    return;
  }
  const workers = contextWorkers(ctx, options.workers ?? ctx.settings.config.import.workers);
  const wakers = new Set<() => void>();
  const wakeAll = (): void => {
    for (const wake of wakers) wake();
  };
  const watcher = watch(ctx.settings.folders.inbox, { depth: 0, ignoreInitial: true });
  watcher.on('add', wakeAll);
  watcher.on('change', wakeAll);
  watcher.on('error', (error) =>
    ctx.logger.warn({ err: describeError(error) }, 'inbox watcher error; periodic scan continues'),
  );
  ctx.logger.info({ node: ctx.settings.config.node.name, workers: workers.length }, 'outer node running');

  // Acks and resend requests to the inner nodes (reverse lane), after each pass and outside it.
  const reverse = startReverseDriver(ctx);
  const loop = async (worker: ImportWorker): Promise<void> => {
    while (!stop.stopped) {
      let busy = false;
      let soon = false;
      let settling = false;
      let applied = false;
      try {
        const summary = await workerPass(ctx, worker, { shouldStop: () => stop.stopped });
        busy = summary.applied + summary.quarantined + summary.duplicates > 0;
        soon = summary.unsettled > 0 || summary.retrying > 0;
        settling = summary.settling > 0;
        applied = summary.applied > 0;
        if (busy) ctx.logger.info({ worker: worker.folder.id, ...summary }, 'import pass');
      } catch (error) {
        ctx.logger.error({ err: describeError(error) }, 'import pass failed; will retry at the next scan');
      }
      // Never throws: a failed send is logged and importing goes on.
      await reverse.afterPass((stream) => worker.target.lastApplied(stream), applied);
      if (busy || stop.stopped) continue; // something moved: look again at once
      try {
        // Nothing to apply right now: housekeeping (a SQLite WAL checkpoint) off the commit path.
        await worker.target.idle?.();
      } catch (error) {
        ctx.logger.warn({ err: describeError(error) }, 'bank database housekeeping failed; carrying on');
      }
      let wake: (() => void) | undefined;
      const woken = new Promise<void>((resolve) => (wake = resolve));
      if (wake) wakers.add(wake);
      // Retries and unsettled files are looked at again sooner than the poll interval; inbox files
      // settling are looked at again as soon as they can count as unchanged (STABLE_RECHECK_MS).
      const delay = settling ? Math.min(poll, STABLE_RECHECK_MS) : soon ? Math.min(poll, 500) : poll;
      await Promise.race([stop.wait(delay), woken]);
      if (wake) wakers.delete(wake);
    }
  };
  // Started after the schema check and the workers, so a node refused at start-up writes nothing.
  const metrics = startOuterMetrics(ctx);
  let lending;
  try {
    lending = startLendingWatch(ctx, stop, (record, idNumber) => auditDecision(ctx, record, idNumber));
  } catch (error) {
    await watcher.close();
    await metrics?.stop();
    throw error;
  }
  try {
    await Promise.all([
      ...workers.map((worker) => loop(worker)),
      lending?.done,
      // The current encryption certificate, announced to the inner nodes at start and when due.
      watchCertificates(ctx, stop),
      // A CRL or certificate the officer installs is in force from the next bundle on (key-rotation.md).
      watchNodeTrust(ctx, stop),
    ]);
  } finally {
    await watcher.close();
    await metrics?.stop();
  }
  ctx.logger.info('outer node stopped');
}
