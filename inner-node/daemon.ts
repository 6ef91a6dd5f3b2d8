// `inner-node run`: exports each dataset at its interval until SIGINT/SIGTERM. A failed export is
// logged with its reason and tried again at the next interval; it never stops the daemon.
import { parseDuration } from '../shared/config-loader.js';
import { describeError } from '../shared/errors.js';
import type { InnerContext } from './context.js';
import { exportDataset, publishPending } from './export.js';

export interface Stopper {
  readonly stopped: boolean;
  wait(ms: number): Promise<void>;
}

export async function runInnerDaemon(ctx: InnerContext, stop: Stopper): Promise<void> {
  const nextRun = new Map<string, number>();
  await publishPending(ctx);
  ctx.logger.info({ node: ctx.settings.config.node.name }, 'inner node running');
  while (!stop.stopped) {
    const now = Date.now();
    for (const [dataset, spec] of Object.entries(ctx.settings.config.datasets)) {
      if (stop.stopped) break;
      if ((nextRun.get(dataset) ?? 0) > now) continue;
      nextRun.set(dataset, now + (parseDuration(spec.interval) ?? 60_000));
      // A paused dataset waits for 'inner-node resume' (its reason is in status); the others go on.
      const paused = ctx.state.paused(dataset);
      if (paused) {
        ctx.logger.debug({ dataset, reason: paused.reason }, 'dataset paused; skipped');
        continue;
      }
      try {
        const results = await exportDataset(ctx, dataset);
        for (const r of results) {
          if (r.rows > 0 || r.rejects > 0) {
            ctx.logger.info(
              { stream: r.stream, rows: r.rows, rejects: r.rejects, bundles: r.bundles.length },
              'export finished',
            );
          }
        }
      } catch (error) {
        ctx.logger.error(
          { dataset, err: describeError(error) },
          'export failed; will try again at the next interval',
        );
      }
    }
    const soonest = Math.min(...nextRun.values(), Date.now() + 1000);
    await stop.wait(Math.max(100, Math.min(1000, soonest - Date.now())));
  }
  ctx.logger.info('inner node stopped');
}
