// Consent-backed portrait requests over the reverse lane (design 7, issue 7). A bank asks for one
// person's portrait with the person's consent; the county computes it from its own records, releases
// only the features that are requested AND granted to that bank AND covered by the consent, and seals
// the answer (the portrait, or the reasons it was not released) as a 'portrait' bundle to that bank.
// Nothing from the request is run as SQL: the ID number is a bound parameter of a prepared lookup.
// Every answer is recorded in the state database and the audit log with the consent id; the log shows
// the ID number masked only.
import { join } from 'node:path';
import { recipientCertificates, sealBundle, type SealResult } from '../../crypto/index.js';
import { parseDuration } from '../../shared/config-loader.js';
import {
  PortraitAnswerSchema,
  portraitStreamName,
  type Consent,
  type PortraitAnswer,
  type PortraitDefinition,
} from '../../shared/portrait.js';
import type { PortraitRequest } from '../../shared/reverse-lane.js';
import { auditSent } from '../audit.js';
import type { InnerContext } from '../context.js';
import { CountyRecords } from './county-records.js';
import { loadPortraitDefinition, releasePortrait } from './release.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS portrait_answers (
  bundle_id TEXT PRIMARY KEY,
  bank TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  request_id TEXT NOT NULL,
  consent_id TEXT NOT NULL,
  released INTEGER NOT NULL,
  features TEXT NOT NULL,
  answered_at TEXT NOT NULL,
  UNIQUE (bank, sequence)
);
`;

interface PortraitRuntime {
  definition: PortraitDefinition;
  county: CountyRecords;
}

const runtimes = new WeakMap<InnerContext, PortraitRuntime>();

/** The definition and the county reader, opened once per context and closed with it. */
function runtimeOf(ctx: InnerContext): PortraitRuntime | undefined {
  const cached = runtimes.get(ctx);
  if (cached) return cached;
  const config = ctx.settings.config.portraits;
  if (config.source === undefined) return undefined;
  const source = ctx.settings.config.sources[config.source];
  if (source?.kind !== 'sqlite') return undefined; // refused by the configuration schema already
  const definition =
    config.definition !== undefined
      ? loadPortraitDefinition(ctx.settings.resolve(config.definition))
      : loadPortraitDefinition();
  const county = new CountyRecords(
    ctx.settings.resolve(source.path),
    config.poverty_csv !== undefined ? ctx.settings.resolve(config.poverty_csv) : undefined,
  );
  const runtime = { definition, county };
  runtimes.set(ctx, runtime);
  ctx.cleanups.push(() => {
    county.close();
    runtimes.delete(ctx);
  });
  return runtime;
}

export interface PortraitRequestOutcome {
  requestId: string;
  released: boolean;
  /** Features released (empty when refused). */
  features: string[];
  /** Why it was not released (empty when released). */
  problems: string[];
  sealed: SealResult;
}

/** The person's consent as the bank sent it, in the form the release rules check. */
function consentOf(sender: string, message: PortraitRequest): Consent {
  const c = message.consent;
  return {
    consent_id: c.consentId,
    id_number: c.idNumber,
    bank: sender,
    purpose: c.purpose,
    scope: c.scope,
    granted_at: c.grantedAt,
    expires_at: c.expiresAt,
    verified_by: c.verifiedBy,
  };
}

/** Decides what to answer: a released portrait, or every reason it is not released. */
function answerFor(ctx: InnerContext, sender: string, message: PortraitRequest, now: Date): PortraitAnswer {
  const refuse = (problems: string[]): PortraitAnswer => ({
    kind: 'portrait-answer',
    requestId: message.requestId,
    released: false,
    problems,
  });
  const runtime = runtimeOf(ctx);
  if (!runtime) return refuse(['PORTRAITS_OFF: this county node answers no portrait requests']);
  const grantSpec = ctx.settings.config.banks[sender]?.portraits;
  if (grantSpec === undefined) return refuse([`NOT_GRANTED: the county grants ${sender} no portraits`]);
  const granted = grantSpec === '*' ? runtime.definition.features : grantSpec;
  // Data minimisation: only what the bank asked for, of what it is granted.
  const features = granted.filter((f) => message.features.includes(f));
  if (features.length === 0) {
    return refuse([`NOT_GRANTED: none of the requested features is granted to ${sender}`]);
  }
  const records = runtime.county.recordsFor(message.consent.idNumber);
  if (!records) return refuse(['PERSON_NOT_FOUND: no resident with this ID number is registered']);
  const result = releasePortrait(
    records,
    runtime.definition,
    { bank: sender, features },
    { consent: consentOf(sender, message) },
    message.consent.purpose,
    now,
  );
  if (!result.released) return refuse(result.problems.slice(0, 32).map((p) => p.slice(0, 300)));
  return { kind: 'portrait-answer', requestId: message.requestId, released: true, portrait: result.portrait };
}

/**
 * Answers one accepted portrait request: computes the answer, seals it to the requesting bank into the
 * outbox, records it (state database and audit log). Throws only when the answer cannot be sealed or
 * recorded (no certificate of the bank, disk full): the caller logs it and the bank asks again.
 */
export async function answerPortraitRequest(
  ctx: InnerContext,
  request: { sender: string; message: PortraitRequest },
  now: Date = new Date(),
): Promise<PortraitRequestOutcome> {
  const { sender, message } = request;
  const answer = PortraitAnswerSchema.parse(answerFor(ctx, sender, message, now));
  const db = ctx.state.db;
  db.exec(SCHEMA);
  const inner = ctx.settings.config.node.name;
  const stream = portraitStreamName(inner, sender);
  const recipients = recipientCertificates(ctx.trust, sender, now);
  const ttl = parseDuration(ctx.settings.config.bundles.expires_after) ?? 14 * 86_400_000;
  const sequence =
    (
      db
        .prepare('SELECT COALESCE(MAX(sequence), 0) AS last FROM portrait_answers WHERE bank = ?')
        .get(sender) as { last: number }
    ).last + 1;
  const sealed = await sealBundle({
    identity: ctx.identity,
    recipients,
    description: {
      dataset: 'portraits',
      contract: '-',
      stream,
      sequence,
      rowCount: answer.released ? 1 : 0,
      kind: 'portrait',
      createdAt: now,
      expiresAt: new Date(now.getTime() + ttl),
    },
    body: once(Buffer.from(JSON.stringify(answer), 'utf8')),
    // sealBundle writes a temporary name, fsyncs and renames: the ferry never sees half a file. The
    // request id in the name keeps an answer whose record a crash lost (same sequence taken again)
    // from replacing an earlier one not yet ferried.
    outputPath: join(
      ctx.settings.folders.outbox,
      `${stream}.${String(sequence).padStart(10, '0')}.${message.requestId.replace(/:/g, '-')}.gbb`,
    ),
  });
  const features = answer.released ? Object.keys(answer.portrait.features) : [];
  db.prepare(
    `INSERT INTO portrait_answers (bundle_id, bank, sequence, request_id, consent_id, released, features, answered_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    sealed.header.bundleId,
    sender,
    sequence,
    message.requestId,
    message.consent.consentId,
    answer.released ? 1 : 0,
    JSON.stringify(features),
    now.toISOString(),
  );
  auditSent(ctx, sealed, 'portraits', answer.released ? 1 : 0, [message.consent.consentId]);
  return {
    requestId: message.requestId,
    released: answer.released,
    features,
    problems: answer.released ? [] : answer.problems,
    sealed,
  };
}

// eslint-disable-next-line @typescript-eslint/require-await -- adapts one buffer to the async body
async function* once(buffer: Buffer): AsyncGenerator<Buffer> {
  yield buffer;
}
