// `outer-node run`: watches the inbox (chokidar, plus a periodic scan as a safety net) and imports
// until SIGINT/SIGTERM. The current transaction finishes before the daemon stops.
import { watch } from 'chokidar';
import { parseDuration } from '../shared/config-loader.js';
import { describeError } from '../shared/errors.js';
import type { OuterContext } from './context.js';
import { importOnce } from './import.js';

export interface Stopper {
  readonly stopped: boolean;
  wait(ms: number): Promise<void>;
}

export async function runOuterDaemon(ctx: OuterContext, stop: Stopper): Promise<void> {
  const poll = parseDuration(ctx.settings.config.import.poll_interval) ?? 2000;
  let wake: (() => void) | undefined;
  const watcher = watch(ctx.settings.folders.inbox, { depth: 0, ignoreInitial: true });
  watcher.on('add', () => wake?.());
  watcher.on('error', (error) => ctx.logger.warn({ err: describeError(error) }, 'inbox watcher error; periodic scan continues'));
  ctx.logger.info({ node: ctx.settings.config.node.name }, 'outer node running');
  try {
    while (!stop.stopped) {
      try {
        const summary = await importOnce(ctx);
        if (summary.applied + summary.quarantined + summary.duplicates > 0) {
          ctx.logger.info(summary, 'import pass');
        }
      } catch (error) {
        ctx.logger.error({ err: describeError(error) }, 'import pass failed; retrying at the next scan');
      }
      await Promise.race([stop.wait(poll), new Promise<void>((resolve) => (wake = resolve))]);
      wake = undefined;
    }
  } finally {
    await watcher.close();
  }
  ctx.logger.info('outer node stopped');
}
