// The catalogue (issue 6): every bundles.catalogue_interval the inner node seals, per bank, a small
// 'catalogue' bundle on `${inner}.${bank}.catalogue` listing each of the bank's streams with the
// latest sequence sent and the oldest one still kept for resends. The outer node compares it with its
// ledger, so a dropped last bundle of a stream is noticed and asked for again. Catalogues are sealed
// straight into the outbox (temp name, then rename) and are not kept in retention.
import { join } from 'node:path';
import { recipientCertificates, sealBundle } from '../crypto/index.js';
import { CatalogueSchema, catalogueStreamName, type Catalogue } from '../shared/catalogue.js';
import { parseDuration } from '../shared/config-loader.js';
import { describeError } from '../shared/errors.js';
import type { InnerContext } from './context.js';

/** Seals and publishes one catalogue per bank with streams; a failure for one bank is logged only. */
export async function sendCatalogues(ctx: InnerContext, now: Date = new Date()): Promise<number> {
  const inner = ctx.settings.config.node.name;
  const ttl = parseDuration(ctx.settings.config.bundles.expires_after) ?? 14 * 86_400_000;
  let sent = 0;
  for (const bank of ctx.state.catalogueBanks()) {
    const stream = catalogueStreamName(inner, bank);
    try {
      const catalogue: Catalogue = CatalogueSchema.parse({
        kind: 'catalogue',
        bank,
        createdAt: now.toISOString(),
        streams: ctx.state.catalogueEntries(bank),
      });
      const recipients = recipientCertificates(ctx.trust, bank, now);
      const sequence = ctx.state.takeCatalogueSequence(bank);
      await sealBundle({
        identity: ctx.identity,
        recipients,
        description: {
          dataset: 'catalogue',
          contract: '-',
          stream,
          sequence,
          rowCount: catalogue.streams.length,
          kind: 'catalogue',
          createdAt: now,
          expiresAt: new Date(now.getTime() + ttl),
        },
        body: once(Buffer.from(JSON.stringify(catalogue), 'utf8')),
        outputPath: join(ctx.settings.folders.outbox, `${stream}.${String(sequence).padStart(10, '0')}.gbb`),
      });
      sent++;
      ctx.logger.debug({ bank, stream, sequence, streams: catalogue.streams.length }, 'catalogue sent');
    } catch (error) {
      ctx.logger.warn({ bank, stream, err: describeError(error) }, 'cannot send a catalogue; will try again');
    }
  }
  return sent;
}

// eslint-disable-next-line @typescript-eslint/require-await -- adapts one buffer to the async body
async function* once(buffer: Buffer): AsyncGenerator<Buffer> {
  yield buffer;
}
