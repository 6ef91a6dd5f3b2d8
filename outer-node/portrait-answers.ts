// Portrait answers arriving on the main lane (design 7, issue 7): a 'portrait' bundle from a county
// node answers one of this bank's consent-backed portrait requests. It is verified and opened like any
// bundle (signed by an accepted inner node, addressed to this bank, not expired), its body checked by
// the shared schema under a size cap, and recorded in the lending tables: the portrait for the
// application waiting on it, or the county's reasons for not releasing it, so the application is
// decided at once. It never touches the ledger or the bank's data tables. A duplicate changes nothing.
import { rmSync } from 'node:fs';
import { BundleError } from '../shared/errors.js';
import {
  MAX_PORTRAIT_ANSWER_BYTES,
  PortraitAnswerSchema,
  portraitStreamName,
  type PortraitAnswer,
} from '../shared/portrait.js';
import { lendingDatabase } from './config.js';
import type { OuterContext } from './context.js';
import { LendingStore } from './lending/decisions-store.js';
import { LendingError } from './lending/errors.js';
import { openSideBundle } from './side-bundles.js';

const stores = new WeakMap<OuterContext, LendingStore>();

/** The lending tables of this node (one connection per context, closed with it). */
export function lendingStoreOf(ctx: OuterContext): LendingStore {
  const cached = stores.get(ctx);
  if (cached) return cached;
  const path = lendingDatabase(ctx.settings);
  if (path === undefined || ctx.settings.config.lending.model === undefined) {
    throw new LendingError('LEND_PORTRAIT', 'A portrait arrived but lending is not configured on this node', {
      where: ctx.settings.path,
      hint: 'Set lending.model and lending.policy (docs/lending.md), then retry it from quarantine',
    });
  }
  const store = new LendingStore(path);
  stores.set(ctx, store);
  ctx.cleanups.push(() => {
    store.close();
    stores.delete(ctx);
  });
  return store;
}

export interface PortraitArrival {
  applicationId: string | undefined;
  requestId: string;
  released: boolean;
}

/**
 * Opens, checks and records one portrait bundle at `path`, then deletes it. Throws on a refusal (the
 * caller quarantines) or a transient failure (the caller leaves it for the next pass).
 */
export async function importPortraitAnswer(
  ctx: OuterContext,
  path: string,
  name: string,
): Promise<PortraitArrival> {
  const { header, signer, body } = await openSideBundle(
    ctx,
    path,
    name,
    'Portrait',
    MAX_PORTRAIT_ANSWER_BYTES,
  );
  const expected = portraitStreamName(signer.name, ctx.identity.name);
  if (header.stream !== expected) {
    throw new BundleError(
      'BUNDLE_PAYLOAD_INVALID',
      `Portrait on stream '${header.stream}' must travel on '${expected}'`,
      { where: name, hint: 'It was sealed for another bank or by hand; nothing was recorded' },
    );
  }
  const answer = parseAnswer(body, name);
  const store = lendingStoreOf(ctx);
  const applicationId = store.recordPortraitAnswer(answer);
  rmSync(path, { force: true });
  ctx.state.forget(name);
  return { applicationId, requestId: answer.requestId, released: answer.released };
}

function parseAnswer(bytes: Buffer, where: string): PortraitAnswer {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw new BundleError('BUNDLE_PAYLOAD_INVALID', 'Portrait body is not UTF-8 JSON', {
      where,
      cause: error,
    });
  }
  const parsed = PortraitAnswerSchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new BundleError('BUNDLE_PAYLOAD_INVALID', `Portrait body refused: ${problems.join('; ')}`, {
      where,
      cause: parsed.error,
    });
  }
  return parsed.data;
}
