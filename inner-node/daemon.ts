// `inner-node run`: exports each dataset at its interval until SIGINT/SIGTERM. A failed export is
// logged with its reason and tried again at the next interval; it never stops the daemon. Beside the
// exports, under the same stop signal: the metrics file writer (metrics.file). The daemon writes its
// pid into state/inner-node.pid while it runs, so a restore can tell that the state is in use.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { watchNodeTrust } from '../crypto/index.js';
import { handlePendingSignals } from '../shared/cli-support.js';
import { parseDuration } from '../shared/config-loader.js';
import { describeError, SourceError } from '../shared/errors.js';
import type { InnerContext } from './context.js';
import { assertAuditable } from './audit.js';
import { sendCatalogues } from './catalogue.js';
import { exportDataset, publishPending } from './export.js';
import { startInnerMetrics } from './metrics.js';
import { answerPortraitRequest } from './portraits/requests.js';
import { receiveCertificateAnnouncement } from './reverse-certificates.js';
import { intakeReverseLane, serveResend } from './reverse-inbox.js';
import { processAlive } from './state.js';

/** The daemon's pid file in the state folder (read by 'inner-node restore'). */
export function daemonPidFile(stateDir: string): string {
  return join(stateDir, 'inner-node.pid');
}

/** The pid of a running daemon on this state folder, if any (a stale file from kill -9 is ignored). */
export function runningDaemon(stateDir: string): number | undefined {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(daemonPidFile(stateDir), 'utf8'), 10);
  } catch {
    return undefined;
  }
  return Number.isInteger(pid) && pid !== process.pid && processAlive(pid) ? pid : undefined;
}

export interface Stopper {
  readonly stopped: boolean;
  wait(ms: number): Promise<void>;
}

export async function runInnerDaemon(ctx: InnerContext, stop: Stopper): Promise<void> {
  const stateDir = ctx.settings.folders.state;
  const other = runningDaemon(stateDir);
  if (other !== undefined) {
    throw new SourceError('SOURCE_BUSY', `Another inner node (pid ${other}) runs on ${stateDir}`, {
      where: daemonPidFile(stateDir),
      hint: 'Stop it first (systemctl stop govbank-inner); one daemon per state folder',
    });
  }
  // A broken audit log stops the node at start-up, before anything is sealed.
  assertAuditable(ctx);
  // Stopped while starting (the CLI catches signals before it opens anything): start nothing.
  await handlePendingSignals();
  if (stop.stopped) {
    ctx.logger.info('inner node stopped during start-up');
    return;
  }
  writeFileSync(daemonPidFile(stateDir), `${process.pid}\n`, { mode: 0o644 });
  const metrics = startInnerMetrics(ctx);
  try {
    await Promise.all([
      exportLoop(ctx, stop),
      // A certificate or CRL the officer installs is used from the next bundle on (docs/key-rotation.md).
      watchNodeTrust(ctx, stop),
    ]);
  } finally {
    await metrics?.stop();
    rmSync(daemonPidFile(stateDir), { force: true });
  }
  ctx.logger.info('inner node stopped');
}

async function exportLoop(ctx: InnerContext, stop: Stopper): Promise<void> {
  const nextRun = new Map<string, number>();
  const catalogueEvery = parseDuration(ctx.settings.config.bundles.catalogue_interval) ?? 60_000;
  let nextCatalogue = Date.now() + catalogueEvery;
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
    if (!stop.stopped) await reverseLane(ctx);
    if (!stop.stopped && Date.now() >= nextCatalogue) {
      nextCatalogue = Date.now() + catalogueEvery;
      await sendCatalogues(ctx);
    }
    const soonest = Math.min(...nextRun.values(), nextCatalogue, Date.now() + 1000);
    await stop.wait(Math.max(100, Math.min(1000, soonest - Date.now())));
  }
}

/**
 * One look at the reverse lane (issue 6): records acks (acknowledged up to, per stream) and serves
 * resend requests. Refused files are quarantined by the intake; nothing here stops the exports.
 */
async function reverseLane(ctx: InnerContext): Promise<void> {
  let intake;
  try {
    intake = await intakeReverseLane(ctx);
  } catch (error) {
    ctx.logger.error({ err: describeError(error) }, 'reverse-lane intake failed; will try again');
    return;
  }
  for (const { sender, bundleId, message } of intake.accepted) {
    try {
      if (message.kind === 'ack') {
        const upTo = ctx.state.recordAck(message.stream, message.sequences, new Date().toISOString());
        ctx.logger.debug({ sender, stream: message.stream, acknowledged: upTo }, 'ack recorded');
      } else if (message.kind === 'resend-request') {
        const result = await serveResend(ctx, { sender, message });
        ctx.logger.info(
          { sender, stream: result.stream, resent: result.resent.length, unknown: result.unknown },
          'resend request served',
        );
        if (result.gaps.length > 0) {
          const owner = ctx.state.db
            .prepare('SELECT dataset FROM streams WHERE stream = ?')
            .get(result.stream) as { dataset: string } | undefined;
          const repair = `inner-node export --dataset ${owner?.dataset ?? 'NAME'} --snapshot --bank ${sender}`;
          ctx.logger.error(
            { sender, stream: result.stream, sequences: result.gaps, repair },
            `bundles of ${result.stream} asked for again have left retention and cannot be resent; repair with: ${repair}`,
          );
        }
      } else if (message.kind === 'portrait-request') {
        const answer = await answerPortraitRequest(ctx, { sender, message });
        // The ID number is masked by the logger; the request and consent ids lead to it for those allowed.
        ctx.logger.info(
          {
            sender,
            requestId: answer.requestId,
            consentId: message.consent.consentId,
            released: answer.released,
            features: answer.features.length,
            ...(answer.released ? {} : { problems: answer.problems }),
          },
          answer.released ? 'portrait released' : 'portrait not released',
        );
      } else if (message.kind === 'certificate-announcement') {
        // Imports the bank's new encryption certificate and reloads ctx.trust, or quarantines it (logged).
        await receiveCertificateAnnouncement(ctx, { sender, bundleId, message });
      } else {
        // Every kind of today's schema is handled above; one added to it later lands here.
        ctx.logger.info(
          { sender, bundleId, kind: (message as { kind: string }).kind },
          'reverse-lane message not handled by the daemon yet',
        );
      }
    } catch (error) {
      ctx.logger.error(
        { sender, bundleId, kind: message.kind, err: describeError(error) },
        'reverse-lane message not acted on',
      );
    }
  }
}
