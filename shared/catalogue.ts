// The catalogue (issue 6): a small heartbeat the inner node seals per bank on stream
// `${inner}.${bank}.catalogue`. It lists, for each of the bank's streams, the latest sequence sent and
// the oldest still retained for resends, so the outer node can tell a quiet lane from a lossy one.
// This module is the pure guard both sides share (style.md rule 5: size cap first, then a strict schema).
import { z } from 'zod';
import { BundleError } from './errors.js';

/** Largest catalogue body accepted (the plaintext inside the sealed bundle). */
export const MAX_CATALOGUE_BYTES = 256 * 1024;
/** Most streams one catalogue may list. */
export const MAX_CATALOGUE_STREAMS = 1000;

const stream = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a stream name (letters, digits, dot, underscore, dash)');
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const CatalogueEntrySchema = z
  .strictObject({
    stream,
    /** Latest sequence sent on the stream (0: none yet). */
    latest: count,
    /** Oldest sequence whose copy is still kept for resends (0: none kept). */
    oldestRetained: count,
  })
  .refine((e) => e.oldestRetained <= e.latest, 'oldestRetained must be <= latest');

export const CatalogueSchema = z.strictObject({
  kind: z.literal('catalogue'),
  bank: z.string().min(1).max(64),
  createdAt: z.iso.datetime({ offset: true }),
  streams: z.array(CatalogueEntrySchema).max(MAX_CATALOGUE_STREAMS),
});

export type CatalogueEntry = z.infer<typeof CatalogueEntrySchema>;
export type Catalogue = z.infer<typeof CatalogueSchema>;

/** The stream a bank's catalogues from one inner node are numbered in. */
export function catalogueStreamName(inner: string, bank: string): string {
  return `${inner}.${bank}.catalogue`;
}

/** Parses one catalogue body: size cap, strict UTF-8, JSON, the schema. Pure: no I/O. */
export function parseCatalogue(bytes: Uint8Array, where: string): Catalogue {
  const refuse = (problems: string[], cause?: unknown): BundleError =>
    new BundleError('BUNDLE_PAYLOAD_INVALID', `Catalogue refused: ${problems.join('; ')}`, {
      where,
      hint: 'The catalogue is quarantined; the inner node sends a new one at its next interval',
      cause,
    });
  if (bytes.length > MAX_CATALOGUE_BYTES) {
    throw refuse([`body of ${bytes.length} bytes exceeds the ${MAX_CATALOGUE_BYTES}-byte limit`]);
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw refuse(['body is not UTF-8 JSON'], error);
  }
  const parsed = CatalogueSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw refuse(
    parsed.error.issues.map((issue) => {
      const path = issue.path.map(String).join('.');
      return path ? `${path}: ${issue.message}` : issue.message;
    }),
    parsed.error,
  );
}
