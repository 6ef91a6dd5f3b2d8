// The outer daemon's use of the reverse lane (issue 6): after a pass that applied bundles, one `ack`
// per stream with the newly applied sequences; when a stream has waited for the same missing sequence
// longer than import.resend_after, one `resend-request` for the missing range (at most once per
// resend_after per stream). Runs after the import pass, outside its transactions; a failure to send
// is logged and never stops importing.
import { parseDuration } from '../shared/config-loader.js';
import { describeError } from '../shared/errors.js';
import { MAX_RESEND_SPAN } from '../shared/reverse-lane.js';
import type { OuterContext } from './context.js';
import { listQueue, listStreams, workFolders } from './work-folders.js';
import { sendReverseMessage } from './reverse-outbox.js';

interface StreamWatch {
  /** Highest sequence acknowledged by this process (0: none yet, so the first ack starts at 1). */
  acked: number;
  /** The missing sequence waited for, and since when. */
  missing?: number;
  since?: number;
  /** When a resend request was last sent for this stream. */
  requestedAt?: number;
}

export interface ReverseDriver {
  /** Called after each import pass with the worker's bank target view of the last applied sequence. */
  afterPass(lastApplied: (stream: string) => Promise<number>, applied: boolean): Promise<void>;
}

export function startReverseDriver(ctx: OuterContext, nowMs: () => number = Date.now): ReverseDriver {
  const resendAfter = parseDuration(ctx.settings.config.import.resend_after) ?? 30_000;
  const folders = workFolders(ctx.settings.folders.state, ctx.settings.folders.inbox);
  const watches = new Map<string, StreamWatch>();
  const watchOf = (stream: string): StreamWatch => {
    let watch = watches.get(stream);
    if (!watch) watches.set(stream, (watch = { acked: 0 }));
    return watch;
  };
  const send = async (
    message: Parameters<typeof sendReverseMessage>[1],
    what: Record<string, unknown>,
  ): Promise<boolean> => {
    try {
      await sendReverseMessage(ctx, message);
      ctx.logger.info(what, `reverse-lane ${message.kind} sent`);
      return true;
    } catch (error) {
      ctx.logger.warn(
        { ...what, err: describeError(error) },
        `cannot send reverse-lane ${message.kind}; importing goes on`,
      );
      return false;
    }
  };
  let running = false;
  /** A pass applied bundles that no ack has covered yet (kept when another worker's look was running). */
  let unacked = false;
  return {
    async afterPass(lastApplied, applied) {
      if (applied) unacked = true;
      // Workers share this driver; one look at a time keeps acks and requests once per stream.
      if (running) return;
      running = true;
      const acking = unacked;
      unacked = false;
      try {
        for (const { stream, dir } of listStreams(folders)) {
          const watch = watchOf(stream);
          let last: number;
          try {
            last = await lastApplied(stream);
          } catch (error) {
            ctx.logger.warn({ stream, err: describeError(error) }, 'cannot read the last applied sequence');
            continue;
          }
          if (acking && last > watch.acked) {
            const sequences: [number, number][] = [[watch.acked + 1, last]];
            const ok = await send(
              { kind: 'ack', stream, sequences, appliedAt: new Date(nowMs()).toISOString() },
              { stream, from: watch.acked + 1, to: last },
            );
            if (ok) watch.acked = last;
            else unacked = true;
          }
          const first = listQueue(dir).find((item) => item.sequence > last);
          if (!first || first.sequence === last + 1) {
            delete watch.missing;
            delete watch.since;
            continue;
          }
          const missing = last + 1;
          const now = nowMs();
          if (watch.missing !== missing || watch.since === undefined) {
            watch.missing = missing;
            watch.since = now;
            continue;
          }
          if (now - watch.since < resendAfter) continue;
          if (watch.requestedAt !== undefined && now - watch.requestedAt < resendAfter) continue;
          const to = Math.min(first.sequence - 1, missing + MAX_RESEND_SPAN);
          watch.requestedAt = now;
          await send(
            { kind: 'resend-request', stream, from: missing, to },
            { stream, from: missing, to, waitedMs: now - watch.since },
          );
        }
      } catch (error) {
        ctx.logger.warn({ err: describeError(error) }, 'reverse-lane pass failed; importing goes on');
      } finally {
        running = false;
      }
    },
  };
}
