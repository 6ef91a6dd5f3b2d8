// The outer daemon's use of the reverse lane (issue 6): after a pass that applied bundles, one `ack`
// per stream with the newly applied sequences; when a stream has waited for the same missing sequence
// longer than import.resend_after, one `resend-request` for the missing range (at most once per
// resend_after per stream). The inner node's latest catalogue per stream (state table catalogue) tells
// of sequences sent that never arrived, so a dropped last bundle of a stream is asked for again too; a
// missing sequence below the catalogue's oldest retained one is logged (and shown in status) as a gap
// that needs a snapshot export. Runs after the import pass, outside its transactions; a failure to
// send is logged and never stops importing.
import { parseDuration } from '../shared/config-loader.js';
import { describeError } from '../shared/errors.js';
import { MAX_RESEND_SPAN } from '../shared/reverse-lane.js';
import type { OuterContext } from './context.js';
import { listQueue, listStreams, workFolders } from './work-folders.js';
import { sendReverseMessage } from './reverse-outbox.js';

interface StreamWatch {
  /** Highest sequence acknowledged by this process (0: none yet, so the first ack starts at 1). */
  acked: number;
  /** When this stream was last acknowledged (acks are coalesced, see ACK_INTERVAL_MS). */
  ackedAt?: number;
  /** The missing sequence waited for, and since when. */
  missing?: number;
  since?: number;
  /** When a resend request was last sent for this stream. */
  requestedAt?: number;
  /** The missing sequence last reported as gone from the inner node's retention. */
  leftRetention?: number;
}

/**
 * At most one ack per stream in this interval: acks after every pass would spend the inner node's
 * per-bank rate limit and crowd out the resend requests that matter more.
 */
const ACK_INTERVAL_MS = 5000;

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
        const catalogue = new Map(ctx.state.catalogues().map((c) => [c.stream, c]));
        const streams = listStreams(folders);
        const queued = new Set(streams.map((s) => s.stream));
        for (const c of catalogue.values())
          if (!queued.has(c.stream)) streams.push({ stream: c.stream, dir: '' });
        for (const { stream, dir } of streams) {
          const watch = watchOf(stream);
          let last: number;
          try {
            last = await lastApplied(stream);
          } catch (error) {
            ctx.logger.warn({ stream, err: describeError(error) }, 'cannot read the last applied sequence');
            continue;
          }
          if (acking && last > watch.acked && nowMs() - (watch.ackedAt ?? 0) < ACK_INTERVAL_MS) {
            unacked = true; // covered by a later, coalesced ack
          } else if (acking && last > watch.acked) {
            const sequences: [number, number][] = [[watch.acked + 1, last]];
            const ok = await send(
              { kind: 'ack', stream, sequences, appliedAt: new Date(nowMs()).toISOString() },
              { stream, from: watch.acked + 1, to: last },
            );
            if (ok) {
              watch.acked = last;
              watch.ackedAt = nowMs();
            } else unacked = true;
          }
          const first = dir ? listQueue(dir).find((item) => item.sequence > last) : undefined;
          const known = catalogue.get(stream);
          // The last missing sequence: before the first queued one, or (nothing queued after the last
          // applied one) the latest the catalogue says was sent.
          let end: number | undefined;
          if (first) end = first.sequence > last + 1 ? first.sequence - 1 : undefined;
          else if (known && known.latest > last) end = known.latest;
          if (end === undefined) {
            delete watch.missing;
            delete watch.since;
            if (watch.leftRetention !== undefined) ctx.state.clearRetentionGap(stream);
            delete watch.leftRetention;
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
          const to = Math.min(end, missing + MAX_RESEND_SPAN);
          watch.requestedAt = now;
          if (known && (known.oldestRetained === 0 || missing < known.oldestRetained)) {
            const gap = { stream, from: missing, to: end, oldestRetained: known.oldestRetained };
            if (watch.leftRetention !== missing) {
              watch.leftRetention = missing;
              ctx.logger.error(gap, 'gap left retention; needs a snapshot export');
              ctx.state.noteRetentionGap(gap, new Date(now).toISOString());
            }
          }
          await send(
            { kind: 'resend-request', stream, from: missing, to },
            { stream, from: missing, to, waitedMs: now - watch.since, ...(first ? {} : { catalogue: true }) },
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
