// Side bundles on the main lane (issues 6 and 7): a catalogue or a portrait answer is not rows for a
// stream queue but a small message from an inner node. Both are verified and opened like any bundle
// (signed by an accepted inner node, addressed to this bank, not expired) and their body is read under
// a size cap before anything parses it (style.md rule 5).
import { openBundle, type BundleHeader, type PeerCertificate } from '../crypto/index.js';
import { BundleError, VerificationError } from '../shared/errors.js';
import type { OuterContext } from './context.js';

export interface OpenedSideBundle {
  header: BundleHeader;
  signer: PeerCertificate;
  body: Buffer;
}

/**
 * Opens the side bundle at `path` (shown as `name`), checks that its signer is an accepted sender and
 * returns its whole body, refusing one over `maxBytes` as soon as it passes the limit.
 */
export async function openSideBundle(
  ctx: OuterContext,
  path: string,
  name: string,
  what: string,
  maxBytes: number,
): Promise<OpenedSideBundle> {
  const opened = await openBundle({
    path,
    identity: ctx.identity,
    trust: ctx.trust,
    now: new Date(),
    expectSenderRole: 'inner',
  });
  const { header, signer } = opened;
  if (!ctx.settings.config.senders.includes(signer.name)) {
    throw new VerificationError(
      'VERIFY_UNKNOWN_SENDER',
      `${what} signed by '${signer.name}', which is not among the accepted senders`,
      { where: name, hint: 'Add the inner node to senders in the configuration if it should be accepted' },
    );
  }
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of opened.body) {
    bytes += chunk.length;
    if (bytes > maxBytes) {
      throw new BundleError('BUNDLE_PAYLOAD_INVALID', `${what} body exceeds the ${maxBytes}-byte limit`, {
        where: name,
      });
    }
    chunks.push(chunk);
  }
  return { header, signer, body: Buffer.concat(chunks) };
}
