// The inner node's side of the reverse lane (design 2, issue 6). Files in the inbox are claimed by
// rename into state/reverse-work, checked for size before anything reads them, opened and verified
// (signed by an outer node that is a bank of this node's configuration), rate limited per bank, and
// parsed by the shared guard. Refused files go to quarantine with a reason beside them; one bad file
// never stops the intake. Nothing from the reverse lane is ever run as SQL or loaded as rows: the
// messages returned are plain, validated values.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { openBundle, type BundleHeader } from '../crypto/index.js';
import { isTemporaryName, writeFileAtomicSync } from '../shared/atomic-file.js';
import { ReverseLaneError, describeError, errorCode } from '../shared/errors.js';
import {
  MAX_MESSAGE_BYTES,
  MAX_REVERSE_FILE_BYTES,
  parseReverseMessage,
  reverseStreamName,
  type ResendRequest,
  type ReverseMessage,
} from '../shared/reverse-lane.js';
import type { InnerContext } from './context.js';
import { publishToOutbox } from './stream-bundles.js';

/**
 * Most messages accepted from one bank per minute; the rest are quarantined (configurable later).
 * Ten a second bounds a flood (messages are at most 96 KiB) while leaving room for coalesced acks
 * and resend requests on every stream of a busy bank (30 a minute starved resend requests).
 */
export const MAX_REVERSE_MESSAGES_PER_MINUTE = 600;
const RATE_WINDOW_MS = 60_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS reverse_received (
  bundle_id TEXT PRIMARY KEY,
  sender TEXT NOT NULL,
  received_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reverse_received_sender ON reverse_received (sender, received_at);
`;

/**
 * How long past its expiry a received message's id is kept. An expired bundle is refused before the
 * replay check, so its id is no longer needed; the margin covers a clock set back on this machine.
 */
const REPLAY_ID_MARGIN_MS = 86_400_000;

/** The replay table, with the expiry column added in place to a database from before it existed. */
function ensureSchema(db: InnerContext['state']['db']): void {
  db.exec(SCHEMA);
  const columns = (db.prepare('PRAGMA table_info(reverse_received)').all() as { name: string }[]).map(
    (c) => c.name,
  );
  if (!columns.includes('expires_at')) db.exec('ALTER TABLE reverse_received ADD COLUMN expires_at TEXT');
}

export interface AcceptedReverseMessage {
  sender: string;
  bundleId: string;
  message: ReverseMessage;
}

export interface RefusedReverseFile {
  file: string;
  code: string;
  reason: string;
  /** Where the file was put: quarantine, or undefined when it was dropped (a replay changes nothing). */
  quarantined: string | undefined;
}

export interface ReverseIntakeResult {
  accepted: AcceptedReverseMessage[];
  refused: RefusedReverseFile[];
}

/** Claims, verifies and parses every file in the inbox; returns what was accepted and what was refused. */
export async function intakeReverseLane(
  ctx: InnerContext,
  now: Date = new Date(),
): Promise<ReverseIntakeResult> {
  const inbox = ctx.settings.folders.inbox;
  const work = join(ctx.settings.folders.state, 'reverse-work');
  mkdirSync(work, { recursive: true });
  ensureSchema(ctx.state.db);
  const result: ReverseIntakeResult = { accepted: [], refused: [] };
  const names = existsSync(inbox) ? readdirSync(inbox).sort() : [];
  for (const name of names) {
    if (isTemporaryName(name)) continue;
    try {
      if (!statSync(join(inbox, name)).isFile()) continue;
      // Claim by rename: the file is read only from our private folder (style.md rule 6).
      renameSync(join(inbox, name), join(work, name));
    } catch {
      continue; // gone meanwhile or unreadable: the next pass sees it
    }
  }
  // Everything in the work folder, including claims a crashed intake left behind (one intake runs at
  // a time per node: the daemon's loop).
  for (const name of readdirSync(work).sort()) {
    const claimed = join(work, name);
    try {
      const accepted = await intakeOne(ctx, claimed, now);
      result.accepted.push(accepted);
      rmSync(claimed, { force: true });
    } catch (error) {
      result.refused.push(refuse(ctx, claimed, error, now));
    }
  }
  // Ids of messages that expired long ago can no longer be replayed (expiry is checked first): the
  // table stays as small as the messages still valid. Rows from before the column are kept.
  ctx.state.db
    .prepare('DELETE FROM reverse_received WHERE expires_at IS NOT NULL AND expires_at < ?')
    .run(new Date(now.getTime() - REPLAY_ID_MARGIN_MS).toISOString());
  return result;
}

async function intakeOne(ctx: InnerContext, path: string, now: Date): Promise<AcceptedReverseMessage> {
  // The size cap comes before any byte is read (style.md rule 5).
  const size = statSync(path).size;
  if (size > MAX_REVERSE_FILE_BYTES) {
    throw new ReverseLaneError(
      'REVERSE_TOO_LARGE',
      `File of ${size} bytes exceeds the reverse-lane limit of ${MAX_REVERSE_FILE_BYTES} bytes`,
      { where: path, hint: 'Not opened; the reverse lane carries only small messages' },
    );
  }
  const db = ctx.state.db;
  const opened = await openBundle({
    path,
    identity: ctx.identity,
    trust: ctx.trust,
    now,
    expectSenderRole: 'outer',
    isReplay: (bundleId) =>
      db.prepare('SELECT 1 FROM reverse_received WHERE bundle_id = ?').get(bundleId) !== undefined,
  });
  const sender = opened.signer.name;
  const where = `${path}, bundle ${opened.header.bundleId}`;
  checkEnvelope(ctx, sender, opened.header, where);
  // Counted only once the signature verified: planted files cannot spend a bank's allowance.
  const since = new Date(now.getTime() - RATE_WINDOW_MS).toISOString();
  const recent = (
    db
      .prepare('SELECT COUNT(*) AS n FROM reverse_received WHERE sender = ? AND received_at > ?')
      .get(sender, since) as {
      n: number;
    }
  ).n;
  db.prepare(
    'INSERT INTO reverse_received (bundle_id, sender, received_at, expires_at) VALUES (?, ?, ?, ?)',
  ).run(opened.header.bundleId, sender, now.toISOString(), opened.header.expiresAt);
  if (recent >= MAX_REVERSE_MESSAGES_PER_MINUTE) {
    throw new ReverseLaneError(
      'REVERSE_RATE_LIMITED',
      `${sender} sent more than ${MAX_REVERSE_MESSAGES_PER_MINUTE} messages in a minute`,
      {
        where,
        hint: 'Not acted on; the bank must send it again later (a flood may mean a fault at the bank)',
      },
    );
  }
  const bytes = await readCapped(opened.body, where);
  const message = parseReverseMessage(opened.header.kind, bytes, where);
  // A bank speaks only about its own streams.
  if (message.kind === 'ack' || message.kind === 'resend-request')
    checkStreamOwner(ctx, sender, message.stream, where);
  return { sender, bundleId: opened.header.bundleId, message };
}

/** The sender must be a bank of this node's configuration, writing in its own reverse stream. */
function checkEnvelope(ctx: InnerContext, sender: string, header: BundleHeader, where: string): void {
  if (!Object.hasOwn(ctx.settings.config.banks, sender)) {
    throw new ReverseLaneError(
      'REVERSE_UNKNOWN_BANK',
      `${sender} is a trusted outer node but not a bank under banks in ${ctx.settings.path}`,
      { where, hint: 'Add the bank to the configuration if it is meant to talk to this node' },
    );
  }
  const expected = reverseStreamName(sender, ctx.identity.name);
  if (header.stream !== expected) {
    throw new ReverseLaneError(
      'REVERSE_REFUSED',
      `Stream ${header.stream} is not the reverse stream ${expected}`,
      { where, hint: 'The bank sealed it for another node or by hand; it is not acted on' },
    );
  }
}

/** The stream must be one this node sends to `sender` (by the state database, not by its name). */
function checkStreamOwner(ctx: InnerContext, sender: string, stream: string, where: string): void {
  const owner = ctx.state.db.prepare('SELECT bank FROM streams WHERE stream = ?').get(stream) as
    { bank: string } | undefined;
  if (owner?.bank !== sender) {
    throw new ReverseLaneError(
      'REVERSE_NOT_ITS_STREAM',
      `${sender} may not speak about stream ${stream}: ${owner ? "it is another bank's" : 'no such stream'}`,
      { where, hint: 'Not acted on; a bank can only acknowledge or ask for its own streams' },
    );
  }
}

/** Reads a verified body, stopping as soon as it passes the message limit. */
async function readCapped(body: AsyncIterable<Buffer>, where: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const part of body) {
    total += part.length;
    if (total > MAX_MESSAGE_BYTES) {
      throw new ReverseLaneError(
        'REVERSE_TOO_LARGE',
        `Message body exceeds the reverse-lane limit of ${MAX_MESSAGE_BYTES} bytes`,
        { where, hint: 'Not acted on; the reverse lane carries only small messages' },
      );
    }
    parts.push(part);
  }
  return Buffer.concat(parts);
}

/** Moves a refused file to quarantine with NAME.reason.json beside it; a replay is only dropped. */
function refuse(ctx: InnerContext, claimed: string, error: unknown, now: Date): RefusedReverseFile {
  const code = errorCode(error) ?? 'REVERSE_REFUSED';
  const reason = describeError(error);
  const file = basename(claimed);
  if (code === 'VERIFY_REPLAYED') {
    rmSync(claimed, { force: true });
    ctx.logger.info({ file }, 'reverse-lane message already received; dropped');
    return { file, code, reason, quarantined: undefined };
  }
  try {
    const dir = ctx.settings.folders.quarantine;
    mkdirSync(dir, { recursive: true });
    let target = join(dir, file);
    for (let n = 1; existsSync(target); n++) target = join(dir, `${file}.${n}`);
    renameSync(claimed, target);
    writeFileAtomicSync(
      `${target}.reason.json`,
      `${JSON.stringify({ file, lane: 'reverse', code, reason, at: now.toISOString() }, null, 2)}\n`,
    );
    ctx.logger.warn({ file, code }, `reverse-lane file quarantined: ${reason}`);
    return { file, code, reason, quarantined: target };
  } catch (failure) {
    // A full or unwritable quarantine must not stop the intake: the file stays in reverse-work.
    ctx.logger.error(
      { file, code },
      `reverse-lane file refused but not quarantined: ${describeError(failure)}`,
    );
    return { file, code, reason, quarantined: undefined };
  }
}

/** Inclusive ranges of sequences, e.g. [3, 5] for 3, 4, 5. */
export type SequenceRange = [number, number];

export interface ResendResult {
  stream: string;
  /** Bundles copied into the outbox again, byte for byte as sealed. */
  resent: { sequence: number; bundleId: string; file: string }[];
  /** Sequences that were sent but whose copies left retention: they cannot be resent. */
  gaps: SequenceRange[];
  /** Sequences not sealed (yet) on this stream. */
  unknown: SequenceRange[];
}

/**
 * Serves an accepted resend request: re-publishes the kept copies of the stream's bundles in the
 * range. Only a stream of the requesting bank is served.
 */
export async function serveResend(
  ctx: InnerContext,
  request: { sender: string; message: ResendRequest },
): Promise<ResendResult> {
  const { stream, from, to } = request.message;
  const db = ctx.state.db;
  checkStreamOwner(ctx, request.sender, stream, `resend request of ${request.sender}`);
  // Accounting for status (issue 6): requests received, bundles re-sent, gaps that left retention.
  const at = new Date().toISOString();
  ctx.state.noteResendRequest(stream, at);
  const kept = new Map(
    (
      db
        .prepare(
          'SELECT sequence, bundle_id AS bundleId, file, pruned FROM sent_bundles WHERE stream = ? AND sequence BETWEEN ? AND ? ORDER BY sequence',
        )
        .all(stream, from, to) as { sequence: number; bundleId: string; file: string; pruned: number }[]
    ).map((row) => [row.sequence, row]),
  );
  const result: ResendResult = { stream, resent: [], gaps: [], unknown: [] };
  for (let sequence = from; sequence <= to; sequence++) {
    const row = kept.get(sequence);
    if (!row) addTo(result.unknown, sequence);
    else if (row.pruned !== 0 || !existsSync(row.file)) addTo(result.gaps, sequence);
    else {
      await publishToOutbox(ctx, row.file, row.bundleId);
      ctx.state.noteResent(stream);
      result.resent.push({ sequence, bundleId: row.bundleId, file: row.file });
    }
  }
  if (result.gaps.length > 0) ctx.state.noteRetentionGaps(stream, result.gaps, at);
  return result;
}

function addTo(ranges: SequenceRange[], sequence: number): void {
  const last = ranges.at(-1);
  if (last && last[1] === sequence - 1) last[1] = sequence;
  else ranges.push([sequence, sequence]);
}
