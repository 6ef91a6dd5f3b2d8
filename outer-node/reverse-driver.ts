// The outer daemon's use of the reverse lane (issue 6). After import passes, per stream:
// - an `ack` of everything applied so far, as one cumulative range [1, last]: an ack lost, duplicated
//   or overtaken on a lossy lane is made good by the next one (at most one per stream in
//   ACK_INTERVAL_MS; an unchanged ack is repeated every ackRefreshMs, in case the last one was lost);
// - a `resend-request` for every range of sequences missing longer than import.resend_after (each range
//   at most once per resend_after), not only the first: on a lossy lane the gaps of a stream are then
//   filled in one round trip instead of one round trip each.
// A sequence is missing when it is below one queued for the stream, or sent by the inner node's latest
// catalogue (state table catalogue) but neither applied nor queued, so a dropped last bundle is asked
// for again too. A missing sequence below the catalogue's oldest retained one is logged and recorded
// (shown in status) as a gap that left retention; it is cleared once the stream has moved past it
// (after the county's 'inner-node export --snapshot', whose placeholders fill it). Acks and requests
// sent are counted in the state database (table reverse_sent). Runs after the import pass, outside its
// transactions; a failure to send is logged and never stops importing.
import { describeRanges } from '../shared/cli-support.js';
import { parseDuration } from '../shared/config-loader.js';
import { describeError } from '../shared/errors.js';
import { MAX_RESEND_SPAN } from '../shared/reverse-lane.js';
import type { OuterContext } from './context.js';
import type { CatalogueRecord } from './state.js';
import { listQueue, listStreams, workFolders } from './work-folders.js';
import { sendReverseMessage } from './reverse-outbox.js';

interface MissingRange {
  /** When this range (by its first sequence) was first seen missing. */
  since: number;
  /** When a resend request was last sent for it. */
  requestedAt?: number;
}

interface StreamWatch {
  /** Highest sequence acknowledged by an ack sent (from the state database at start). */
  acked: number;
  /** When this stream was last acknowledged (acks are coalesced, see ACK_INTERVAL_MS). */
  ackedAt?: number;
  /** Missing ranges by first sequence. */
  missing: Map<number, MissingRange>;
  /** The gap that left retention last logged, as text (logged once per change). */
  leftRetention?: string;
}

/**
 * At most one ack per stream in this interval: acks after every pass would spend the inner node's
 * per-bank rate limit and crowd out the resend requests that matter more.
 */
const ACK_INTERVAL_MS = 5000;
/** Missing ranges looked at per stream and look (the rest wait for the next look). */
const MAX_RANGES_PER_STREAM = 64;
/** Resend requests sent per look in all, well inside the inner node's per-bank rate limit. */
const MAX_REQUESTS_PER_LOOK = 32;

export interface ReverseDriver {
  /** Called after each import pass with the worker's bank target view of the last applied sequence. */
  afterPass(lastApplied: (stream: string) => Promise<number>, applied: boolean): Promise<void>;
}

/** Inclusive ranges of sequences after `last` up to `horizon` that are not queued, at most `max`. */
export function missingRanges(
  last: number,
  queued: readonly number[],
  horizon: number,
  max: number,
): [number, number][] {
  const ranges: [number, number][] = [];
  let expected = last + 1;
  const marks = [...new Set(queued.filter((s) => s > last))].sort((a, b) => a - b);
  for (const sequence of [...marks, horizon + 1]) {
    if (ranges.length >= max || expected > horizon) break;
    const end = Math.min(sequence - 1, horizon);
    if (end >= expected) ranges.push([expected, end]);
    expected = Math.max(expected, sequence + 1);
  }
  return ranges;
}

/** The dataset a main-lane stream carries (streams are named NODE.BANK.DATASET). */
export function datasetOf(stream: string): string {
  return stream.slice(stream.lastIndexOf('.') + 1);
}

/** The parts of the missing ranges the inner node no longer keeps (below its oldest retained). */
function beyondRetention(ranges: readonly [number, number][], known: CatalogueRecord): [number, number][] {
  const limit = known.oldestRetained === 0 ? known.latest : known.oldestRetained - 1;
  return ranges
    .filter(([from]) => from <= limit)
    .map(([from, to]): [number, number] => [from, Math.min(to, limit)]);
}

export function startReverseDriver(ctx: OuterContext, nowMs: () => number = Date.now): ReverseDriver {
  const resendAfter = parseDuration(ctx.settings.config.import.resend_after) ?? 30_000;
  const ackRefreshMs = Math.max(ACK_INTERVAL_MS, 5 * resendAfter);
  const folders = workFolders(ctx.settings.folders.state, ctx.settings.folders.inbox);
  const sentBefore = new Map(ctx.state.reverseSent().map((r) => [r.stream, r.ackedUpTo]));
  const watches = new Map<string, StreamWatch>();
  const watchOf = (stream: string): StreamWatch => {
    let watch = watches.get(stream);
    if (!watch) watches.set(stream, (watch = { acked: sentBefore.get(stream) ?? 0, missing: new Map() }));
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
  return {
    async afterPass(lastApplied) {
      // Workers share this driver; one look at a time keeps acks and requests once per stream.
      if (running) return;
      running = true;
      try {
        const catalogue = new Map(ctx.state.catalogues().map((c) => [c.stream, c]));
        const recordedGaps = new Set(ctx.state.retentionGaps().map((g) => g.stream));
        const streams = listStreams(folders);
        const queued = new Set(streams.map((s) => s.stream));
        for (const c of catalogue.values())
          if (!queued.has(c.stream)) streams.push({ stream: c.stream, dir: '' });
        let requestsLeft = MAX_REQUESTS_PER_LOOK;
        for (const { stream, dir } of streams) {
          const watch = watchOf(stream);
          let last: number;
          try {
            last = await lastApplied(stream);
          } catch (error) {
            ctx.logger.warn({ stream, err: describeError(error) }, 'cannot read the last applied sequence');
            continue;
          }
          const now = nowMs();
          const sinceAck = now - (watch.ackedAt ?? 0);
          if ((last > watch.acked && sinceAck >= ACK_INTERVAL_MS) || (last > 0 && sinceAck >= ackRefreshMs)) {
            const at = new Date(now).toISOString();
            const ok = await send(
              { kind: 'ack', stream, sequences: [[1, last]], appliedAt: at },
              {
                stream,
                from: watch.acked + 1,
                to: last,
                ...(last === watch.acked ? { repeated: true } : {}),
              },
            );
            if (ok) {
              watch.acked = last;
              watch.ackedAt = now;
              ctx.state.noteAckSent(stream, last, at);
            }
          }
          const known = catalogue.get(stream);
          const waiting = dir ? listQueue(dir).map((item) => item.sequence) : [];
          const horizon = waiting.reduce((hi, s) => Math.max(hi, s), known?.latest ?? 0);
          const ranges = missingRanges(last, waiting, horizon, MAX_RANGES_PER_STREAM);
          // Ranges still missing keep their first sighting; the others are forgotten.
          const starts = new Set(ranges.map(([from]) => from));
          for (const from of watch.missing.keys()) if (!starts.has(from)) watch.missing.delete(from);
          const lost = known ? beyondRetention(ranges, known) : [];
          if (lost.length > 0) {
            const text = describeRanges(lost);
            const first = lost[0]?.[0] ?? 0;
            const gap = {
              stream,
              from: first,
              to: lost.at(-1)?.[1] ?? first,
              ranges: text,
              oldestRetained: known?.oldestRetained ?? 0,
            };
            const waited = now - (watch.missing.get(first)?.since ?? now);
            // Noted once the range has waited like any request would: a bundle in flight is not a gap.
            if (watch.leftRetention !== text && waited >= resendAfter) {
              watch.leftRetention = text;
              ctx.logger.error(
                gap,
                `sequences ${text} of ${stream} left the inner node's retention; the county must run 'inner-node export --dataset ${datasetOf(stream)} --snapshot'`,
              );
              ctx.state.noteRetentionGap(gap, new Date(now).toISOString());
              recordedGaps.add(stream);
            }
          } else if (recordedGaps.has(stream) || watch.leftRetention !== undefined) {
            // The stream moved past the gap (placeholders and a snapshot filled it), or the inner node
            // keeps the sequences again: an ordinary missing range, asked for like any other.
            ctx.state.clearRetentionGap(stream);
            recordedGaps.delete(stream);
            ctx.logger.info(
              {
                stream,
                ...(watch.leftRetention ? { sequences: watch.leftRetention } : {}),
                lastApplied: last,
              },
              'gap that left retention is closed',
            );
            delete watch.leftRetention;
          }
          for (const [from, end] of ranges) {
            let range = watch.missing.get(from);
            if (!range) {
              watch.missing.set(from, (range = { since: now }));
              continue;
            }
            if (now - range.since < resendAfter) continue;
            if (range.requestedAt !== undefined && now - range.requestedAt < resendAfter) continue;
            if (requestsLeft <= 0) break;
            requestsLeft--;
            const to = Math.min(end, from + MAX_RESEND_SPAN);
            range.requestedAt = now;
            const ok = await send(
              { kind: 'resend-request', stream, from, to },
              {
                stream,
                from,
                to,
                waitedMs: now - range.since,
                ...(waiting.some((s) => s > to) ? {} : { catalogue: true }),
              },
            );
            if (ok) ctx.state.noteResendRequested(stream, from, to, new Date(now).toISOString());
          }
        }
      } catch (error) {
        ctx.logger.warn({ err: describeError(error) }, 'reverse-lane pass failed; importing goes on');
      } finally {
        running = false;
      }
    },
  };
}
