// The outer node's side of the reverse lane (design 2, issue 6): seals a small message for each inner
// node it accepts bundles from, into its outbox, for the ferry to carry inward. Each (bank, inner node)
// pair has its own stream, numbered in the outer state database.
import { join } from 'node:path';
import { recipientCertificates, sealBundle, type SealResult } from '../crypto/index.js';
import { KeyError } from '../shared/errors.js';
import {
  PAYLOAD_KIND_OF,
  checkReverseMessage,
  reverseStreamName,
  type ReverseMessage,
} from '../shared/reverse-lane.js';
import type { OuterContext } from './context.js';

/** How long a reverse-lane message stays valid: a request older than this is stale. */
export const REVERSE_MESSAGE_TTL_MS = 7 * 86_400_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS reverse_sequences (
  stream TEXT PRIMARY KEY,
  next_sequence INTEGER NOT NULL
);
`;

/**
 * Takes the next sequence of a reverse stream. It is taken before sealing: a crash between the two
 * leaves an unused number, never two messages with one number (the inner side needs no order here).
 */
function takeSequence(ctx: OuterContext, stream: string): number {
  const db = ctx.state.db;
  db.exec(SCHEMA);
  return db
    .transaction(() => {
      db.prepare('INSERT OR IGNORE INTO reverse_sequences (stream, next_sequence) VALUES (?, 1)').run(stream);
      const row = db
        .prepare('SELECT next_sequence AS next FROM reverse_sequences WHERE stream = ?')
        .get(stream) as {
        next: number;
      };
      db.prepare('UPDATE reverse_sequences SET next_sequence = ? WHERE stream = ?').run(row.next + 1, stream);
      return row.next;
    })
    .immediate();
}

/** Seals one message for every configured sender (inner node) into the outbox; returns the sealed bundles. */
export async function sendReverseMessage(
  ctx: OuterContext,
  message: ReverseMessage,
  now: Date = new Date(),
): Promise<SealResult[]> {
  const bank = ctx.identity.name;
  // The sealer runs the receiver's own guard, so it never sends what the inner node would refuse.
  const checked = checkReverseMessage(message, `reverse message from ${bank}`);
  const body = Buffer.from(JSON.stringify(checked), 'utf8');
  const results: SealResult[] = [];
  for (const inner of ctx.settings.config.senders) {
    const recipients = recipientCertificates(ctx.trust, inner, now);
    if (recipients.length === 0) {
      throw new KeyError('KEY_NOT_FOUND', `No valid encryption certificate of ${inner} in the trust folder`, {
        where: ctx.settings.folders.trust,
        hint: `Import ${inner}'s current certificates with bridge-keys import-cert`,
      });
    }
    const stream = reverseStreamName(bank, inner);
    const sequence = takeSequence(ctx, stream);
    results.push(
      await sealBundle({
        identity: ctx.identity,
        recipients,
        description: {
          dataset: 'reverse',
          contract: '-',
          stream,
          sequence,
          rowCount: 1,
          kind: PAYLOAD_KIND_OF[checked.kind],
          createdAt: now,
          expiresAt: new Date(now.getTime() + REVERSE_MESSAGE_TTL_MS),
        },
        body: single(body),
        // sealBundle writes a temporary name, fsyncs and renames (style.md rule 6).
        outputPath: join(ctx.settings.folders.outbox, `${stream}.${String(sequence).padStart(10, '0')}.gbb`),
      }),
    );
  }
  return results;
}

// eslint-disable-next-line @typescript-eslint/require-await -- adapts one buffer to the async body
async function* single(data: Buffer): AsyncGenerator<Uint8Array> {
  yield data;
}
