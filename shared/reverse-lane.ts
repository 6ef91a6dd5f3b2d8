// The reverse lane (design 2, issue 6): the narrow outer-to-inner path. It carries only small, strictly
// validated messages: acknowledgements, resend requests, the outer node's new certificates and
// consent-backed portrait requests. This module is the pure guard both sides share: the outer node
// runs it before sealing, the inner node after opening (style.md rule 5: list every bad field, stop at
// hard limits before allocating anything those numbers drive).
import { z } from 'zod';
import { ReverseLaneError, type ErrorDetails } from './errors.js';
import { checkResidentId } from './resident-id.js';

/** Largest message body accepted on the reverse lane (the plaintext inside the sealed bundle). */
export const MAX_MESSAGE_BYTES = 64 * 1024;
/** Largest sealed file accepted in the inner inbox: the body plus room for header and signatures. */
export const MAX_REVERSE_FILE_BYTES = MAX_MESSAGE_BYTES + 32 * 1024;
/** Most sequences one resend request may ask for (to - from). */
export const MAX_RESEND_SPAN = 1000;
/** Most ranges one acknowledgement may list. */
export const MAX_ACK_RANGES = 1000;
export const MAX_CERTIFICATE_PEM_BYTES = 8 * 1024;
const MAX_LIST = 64;

/** Payload kinds (bundle header `kind`) used on the reverse lane; shared/ cannot import crypto's type. */
export type ReversePayloadKind = 'ack' | 'request' | 'certificate';

const token = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'letters, digits, dot, colon, underscore or dash');
const stream = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a stream name (letters, digits, dot, underscore, dash)');
const sequence = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const instant = z.iso.datetime({ offset: true });
/**
 * Cross-field checks run even when a field failed, so a refusal lists every problem at once; they
 * therefore read the raw input and must not assume any field's type.
 */
const always = { when: (): boolean => true };
const later = (a: unknown, b: unknown): boolean =>
  typeof a === 'string' && typeof b === 'string' && Date.parse(a) > Date.parse(b);

export const AckMessageSchema = z.strictObject({
  kind: z.literal('ack'),
  stream,
  /** Applied sequences as inclusive ranges [from, to]. */
  sequences: z
    .array(z.tuple([sequence, sequence]).refine(([from, to]) => from <= to, 'a range must have from <= to'))
    .min(1)
    .max(MAX_ACK_RANGES),
  appliedAt: instant,
});

export const ResendRequestSchema = z
  .strictObject({
    kind: z.literal('resend-request'),
    stream,
    from: sequence,
    to: sequence,
  })
  .superRefine((m, ctx) => {
    const { from, to } = m as { from: unknown; to: unknown };
    if (typeof from !== 'number' || typeof to !== 'number') return;
    if (to < from) ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be >= from' });
    else if (to - from > MAX_RESEND_SPAN) {
      ctx.addIssue({
        code: 'custom',
        path: ['to'],
        message: `asks for more than ${MAX_RESEND_SPAN} sequences after from`,
      });
    }
  }, always);

export const CertificateAnnouncementSchema = z
  .strictObject({
    kind: z.literal('certificate-announcement'),
    pem: z
      .string()
      .max(MAX_CERTIFICATE_PEM_BYTES)
      .regex(
        /^-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\r?\n?$/,
        'one PEM certificate',
      ),
    usage: z.literal('encrypt'),
    notBefore: instant,
    notAfter: instant,
  })
  .superRefine((m, ctx) => {
    const { pem } = m as { pem: unknown };
    if (typeof pem === 'string' && Buffer.byteLength(pem, 'utf8') > MAX_CERTIFICATE_PEM_BYTES)
      ctx.addIssue({
        code: 'custom',
        path: ['pem'],
        message: `longer than ${MAX_CERTIFICATE_PEM_BYTES} bytes`,
      });
    if (!later(m.notAfter, m.notBefore))
      ctx.addIssue({ code: 'custom', path: ['notAfter'], message: 'must be after notBefore' });
  }, always);

export const PortraitRequestSchema = z.strictObject({
  kind: z.literal('portrait-request'),
  requestId: token,
  consent: z
    .strictObject({
      consentId: token,
      idNumber: z.string().superRefine((id, ctx) => {
        const problem = checkResidentId(id);
        // The number itself is never echoed into a message an operator or a log sees.
        if (problem) ctx.addIssue({ code: 'custom', message: `not a valid resident ID (${problem})` });
      }),
      purpose: z.string().min(1).max(200),
      scope: z.array(z.string().min(1).max(64)).min(1).max(MAX_LIST),
      grantedAt: instant,
      expiresAt: instant,
      /** How the bank verified the person's identity and signature (the county refuses without it). */
      verifiedBy: z.string().min(1).max(200),
    })
    .superRefine((c, ctx) => {
      if (!later(c.expiresAt, c.grantedAt))
        ctx.addIssue({ code: 'custom', path: ['expiresAt'], message: 'must be after grantedAt' });
    }, always),
  features: z.array(z.string().min(1).max(64)).min(1).max(MAX_LIST),
});

export const ReverseMessageSchema = z.discriminatedUnion('kind', [
  AckMessageSchema,
  ResendRequestSchema,
  CertificateAnnouncementSchema,
  PortraitRequestSchema,
]);

export type AckMessage = z.infer<typeof AckMessageSchema>;
export type ResendRequest = z.infer<typeof ResendRequestSchema>;
export type CertificateAnnouncement = z.infer<typeof CertificateAnnouncementSchema>;
export type PortraitRequest = z.infer<typeof PortraitRequestSchema>;
export type ReverseMessage = z.infer<typeof ReverseMessageSchema>;
export type ReverseMessageKind = ReverseMessage['kind'];

/** The bundle payload kind each message travels under (the header kind is signed, so it must agree). */
export const PAYLOAD_KIND_OF: Readonly<Record<ReverseMessageKind, ReversePayloadKind>> = {
  ack: 'ack',
  'resend-request': 'request',
  'certificate-announcement': 'certificate',
  'portrait-request': 'request',
};

/** The stream a bank's reverse-lane messages to one inner node are numbered in. */
export function reverseStreamName(bank: string, inner: string): string {
  return `${bank}.reverse.${inner}`;
}

/** A refused reverse-lane message, with every problem found. */
export class ReverseMessageError extends ReverseLaneError {
  readonly problems: readonly string[];

  constructor(message: string, details: ErrorDetails & { problems?: string[] } = {}) {
    super('REVERSE_REFUSED', message, details);
    this.problems = details.problems ?? [];
  }
}

function refused(where: string, problems: string[], cause?: unknown): ReverseMessageError {
  return new ReverseMessageError(`Reverse-lane message refused: ${problems.join('; ')}`, {
    where,
    problems,
    hint: 'The message is quarantined and nothing was done for it; the bank must send a correct one',
    cause,
  });
}

/** Checks a message before it is sealed or after it is opened; throws ReverseMessageError listing every problem. */
export function checkReverseMessage(value: unknown, where: string): ReverseMessage {
  const parsed = ReverseMessageSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    return path ? `${path}: ${issue.message}` : issue.message;
  });
  throw refused(where, problems, parsed.error);
}

/**
 * Parses one reverse-lane body: size cap first, then strict UTF-8, JSON, the schema, and the header's
 * payload kind against the message kind. Pure: no I/O.
 */
export function parseReverseMessage(payloadKind: string, bytes: Uint8Array, where: string): ReverseMessage {
  if (bytes.length > MAX_MESSAGE_BYTES) {
    throw refused(where, [`body of ${bytes.length} bytes exceeds the ${MAX_MESSAGE_BYTES}-byte limit`]);
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw refused(where, ['body is not UTF-8 JSON'], error);
  }
  const message = checkReverseMessage(value, where);
  const expected = PAYLOAD_KIND_OF[message.kind];
  if (payloadKind !== expected) {
    throw refused(where, [
      `a message of kind '${message.kind}' must travel as payload kind '${expected}', not '${payloadKind}'`,
    ]);
  }
  return message;
}
