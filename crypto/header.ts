// Parsing the cleartext header of a received bundle: a pure guard (style.md rule 5) that lists every
// bad field and stops at hard limits. The header bytes themselves are what is signed; this module never
// re-serialises them for verification, it only checks that they are in canonical form.
import { VerificationError } from '../shared/errors.js';
import {
  FORMAT_VERSION,
  MAX_LABEL_LENGTH,
  MAX_RECIPIENTS,
  MAX_ROW_COUNT,
  MAX_SEGMENT_SIZE,
  MIN_SEGMENT_SIZE,
  P256_POINT_LENGTH,
  SM2_WRAPPED_KEY_LENGTH,
  WRAPPED_KEY_LENGTH,
  X25519_KEY_LENGTH,
} from './limits.js';
import { NODE_NAME_PATTERN } from './certificates.js';
import { KEY_ID_PATTERN, canonicalJson } from './primitives.js';
import type { BundleHeader, PayloadKind, RecipientEntry, SuiteName } from './types.js';

export const INTL_SUITE = 'intl-v1';
export const SM_SUITE = 'sm-v1';
export const SUPPORTED_SUITES: readonly SuiteName[] = [INTL_SUITE, SM_SUITE];
/** sm-v1 recipient entries: SM2 encryption of the data key, ciphertext C1 || C3 || C2 (section 11). */
export const SM2_WRAP_ALG = 'sm2-encrypt-c1c3c2';
export const X25519_WRAP_ALG = 'x25519-hkdf-sha256-aes256gcm';
export const P256_WRAP_ALG = 'p256-hkdf-sha256-aes256gcm';
/** Ephemeral public key length by wrap algorithm (raw X25519 key, uncompressed P-256 point). */
const EPK_LENGTH: ReadonlyMap<string, number> = new Map([
  [X25519_WRAP_ALG, X25519_KEY_LENGTH],
  [P256_WRAP_ALG, P256_POINT_LENGTH],
]);
export const BUNDLE_ID_PATTERN = /^[0-9a-f]{32}$/;
/** A contract fingerprint (fingerprintContract) or '-' for payloads without a contract. */
export const CONTRACT_PATTERN = /^(sha256:[0-9a-f]{64}|-)$/;
/** Timestamps are exactly what Date.prototype.toISOString produces: UTC, milliseconds, 'Z'. */
export const TIMESTAMP_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const BASE64_PATTERN = /^[A-Za-z0-9+/]*={0,2}$/;
export const PAYLOAD_KINDS: readonly PayloadKind[] = [
  'rows',
  'tombstones',
  'portrait',
  'request',
  'ack',
  'certificate',
  'revocation-list',
  'catalogue',
];
const HEADER_FIELDS = [
  'format',
  'suite',
  'bundleId',
  'sender',
  'recipients',
  'dataset',
  'contract',
  'stream',
  'sequence',
  'rowCount',
  'kind',
  'createdAt',
  'expiresAt',
  'segmentSize',
];

/** Serialises a header to the bytes that go into the file (canonical JSON, UTF-8). */
export function encodeHeader(header: BundleHeader): Buffer {
  return Buffer.from(canonicalJson(header), 'utf8');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function decodeBase64Strict(text: string, expectedLength: number): Buffer | undefined {
  if (!BASE64_PATTERN.test(text) || text.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.length === expectedLength && bytes.toString('base64') === text ? bytes : undefined;
}

/**
 * Parses and validates header bytes. Throws VerificationError with the most specific code:
 * VERIFY_HEADER_MALFORMED (listing every problem), VERIFY_UNSUPPORTED_VERSION, VERIFY_UNSUPPORTED_SUITE,
 * VERIFY_LIMIT_EXCEEDED.
 */
export function parseHeader(bytes: Uint8Array, where: string): BundleHeader {
  const malformed = (problems: string[]): VerificationError =>
    new VerificationError('VERIFY_HEADER_MALFORMED', `Bundle header is malformed: ${problems.join('; ')}`, {
      where,
      hint: 'Quarantine the file; it was not produced by a compatible sealer or was damaged in transit',
    });
  let text: string;
  let value: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
    value = JSON.parse(text);
  } catch {
    throw malformed(['not valid UTF-8 JSON']);
  }
  if (!isRecord(value)) throw malformed(['not a JSON object']);
  if (value['format'] !== FORMAT_VERSION) {
    throw new VerificationError(
      'VERIFY_UNSUPPORTED_VERSION',
      `Unsupported bundle header format ${JSON.stringify(value['format'])}; this build reads format ${FORMAT_VERSION}`,
      { where, hint: 'Upgrade the receiving node, or ask the sender to seal with a supported format' },
    );
  }
  const suite = value['suite'];
  if (typeof suite !== 'string' || !SUPPORTED_SUITES.includes(suite as SuiteName)) {
    throw new VerificationError(
      'VERIFY_UNSUPPORTED_SUITE',
      `Unsupported algorithm suite ${JSON.stringify(suite)}; this build supports ${SUPPORTED_SUITES.join(', ')}`,
      { where, hint: 'Configure both nodes for the same suite' },
    );
  }
  // Canonical form rules out duplicate keys and alternative spellings that other JSON parsers might
  // read differently from ours; it is a shape check only, the signature covers the received bytes.
  if (canonicalJson(value) !== text) throw malformed(['not in canonical JSON form']);

  const problems: string[] = [];
  const limits: string[] = [];
  for (const key of Object.keys(value))
    if (!HEADER_FIELDS.includes(key)) problems.push(`unknown field ${key}`);
  const label = (key: string, pattern?: RegExp): void => {
    const v = value[key];
    if (typeof v !== 'string' || v.length === 0) problems.push(`${key} must be a non-empty string`);
    else if (v.length > MAX_LABEL_LENGTH) limits.push(`${key} longer than ${MAX_LABEL_LENGTH}`);
    else if (pattern && !pattern.test(v)) problems.push(`${key} has an invalid format`);
  };
  const integer = (key: string, min: number, max: number): void => {
    const v = value[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
      problems.push(`${key} must be an integer >= 0`);
    else if (v < min || v > max) limits.push(`${key} ${v} outside ${min}..${max}`);
  };
  if (typeof value['bundleId'] !== 'string' || !BUNDLE_ID_PATTERN.test(value['bundleId'])) {
    problems.push('bundleId must be 32 lowercase hex characters');
  }
  const sender = value['sender'];
  if (
    !isRecord(sender) ||
    Object.keys(sender).length !== 2 ||
    typeof sender['name'] !== 'string' ||
    !NODE_NAME_PATTERN.test(sender['name']) ||
    typeof sender['keyId'] !== 'string' ||
    !KEY_ID_PATTERN.test(sender['keyId'])
  ) {
    problems.push('sender must be {name, keyId} with a node name and a 32-hex key id');
  }
  const recipients = value['recipients'];
  if (!Array.isArray(recipients) || recipients.length === 0) {
    problems.push('recipients must be a non-empty array');
  } else if (recipients.length > MAX_RECIPIENTS) {
    limits.push(`${recipients.length} recipients, at most ${MAX_RECIPIENTS}`);
  } else {
    const rules = RECIPIENT_RULES[suite as SuiteName];
    recipients.forEach((entry: unknown, index) => problems.push(...rules(entry, index)));
    const keyIds = recipients.map((entry: unknown) => (isRecord(entry) ? entry['keyId'] : undefined));
    if (new Set(keyIds).size !== keyIds.length) problems.push('recipients list a key id twice');
  }
  label('dataset');
  label('contract', CONTRACT_PATTERN);
  label('stream');
  integer('sequence', 0, Number.MAX_SAFE_INTEGER);
  integer('rowCount', 0, MAX_ROW_COUNT);
  integer('segmentSize', MIN_SEGMENT_SIZE, MAX_SEGMENT_SIZE);
  if (typeof value['kind'] !== 'string' || !PAYLOAD_KINDS.includes(value['kind'] as PayloadKind)) {
    problems.push(`kind must be one of ${PAYLOAD_KINDS.join(', ')}`);
  }
  for (const key of ['createdAt', 'expiresAt']) {
    const v = value[key];
    // Must round-trip exactly, which also rules out dates like February 30 that some parsers roll over.
    if (typeof v !== 'string' || !TIMESTAMP_PATTERN.test(v) || !roundTrips(v)) {
      problems.push(`${key} must be an ISO-8601 UTC timestamp with milliseconds`);
    }
  }
  if (
    problems.length === 0 &&
    Date.parse(value['expiresAt'] as string) <= Date.parse(value['createdAt'] as string)
  ) {
    problems.push('expiresAt must be after createdAt');
  }
  if (limits.length > 0) {
    throw new VerificationError(
      'VERIFY_LIMIT_EXCEEDED',
      `Bundle header exceeds limits: ${limits.join('; ')}`,
      {
        where,
        hint: 'Quarantine the file; the limits are in docs/bundle-format.md',
      },
    );
  }
  if (problems.length > 0) throw malformed(problems);
  return value as unknown as BundleHeader;
}

function roundTrips(timestamp: string): boolean {
  const time = Date.parse(timestamp);
  return !Number.isNaN(time) && new Date(time).toISOString() === timestamp;
}

/** The recipient-entry guard of each suite: the shape of a wrapped data key differs between suites. */
const RECIPIENT_RULES: Record<SuiteName, (entry: unknown, index: number) => string[]> = {
  'intl-v1': recipientProblems,
  'sm-v1': sm2RecipientProblems,
};

function recipientProblems(entry: unknown, index: number): string[] {
  const at = `recipients[${index}]`;
  if (!isRecord(entry)) return [`${at} must be an object`];
  const problems: string[] = [];
  const keys = Object.keys(entry).sort().join(',');
  if (keys !== 'alg,epk,keyId,wrappedKey')
    problems.push(`${at} must have exactly alg, epk, keyId, wrappedKey`);
  const epkLength = typeof entry['alg'] === 'string' ? EPK_LENGTH.get(entry['alg']) : undefined;
  if (epkLength === undefined) problems.push(`${at}.alg must be ${X25519_WRAP_ALG} or ${P256_WRAP_ALG}`);
  if (typeof entry['keyId'] !== 'string' || !KEY_ID_PATTERN.test(entry['keyId'])) {
    problems.push(`${at}.keyId must be 32 lowercase hex characters`);
  }
  if (
    epkLength !== undefined &&
    (typeof entry['epk'] !== 'string' || !decodeBase64Strict(entry['epk'], epkLength))
  ) {
    problems.push(`${at}.epk must be base64 of ${epkLength} bytes`);
  }
  if (
    typeof entry['wrappedKey'] !== 'string' ||
    !decodeBase64Strict(entry['wrappedKey'], WRAPPED_KEY_LENGTH)
  ) {
    problems.push(`${at}.wrappedKey must be base64 of ${WRAPPED_KEY_LENGTH} bytes`);
  }
  return problems;
}

/** sm-v1: exactly alg, keyId, wrappedKey; the SM2 ciphertext is 129 bytes and starts with 0x04 (C1 uncompressed). */
function sm2RecipientProblems(entry: unknown, index: number): string[] {
  const at = `recipients[${index}]`;
  if (!isRecord(entry)) return [`${at} must be an object`];
  const problems: string[] = [];
  if (Object.keys(entry).sort().join(',') !== 'alg,keyId,wrappedKey')
    problems.push(`${at} must have exactly alg, keyId, wrappedKey`);
  if (entry['alg'] !== SM2_WRAP_ALG) problems.push(`${at}.alg must be ${SM2_WRAP_ALG}`);
  if (typeof entry['keyId'] !== 'string' || !KEY_ID_PATTERN.test(entry['keyId'])) {
    problems.push(`${at}.keyId must be 32 lowercase hex characters`);
  }
  const wrapped =
    typeof entry['wrappedKey'] === 'string'
      ? decodeBase64Strict(entry['wrappedKey'], SM2_WRAPPED_KEY_LENGTH)
      : undefined;
  if (wrapped?.[0] !== 0x04) {
    problems.push(`${at}.wrappedKey must be base64 of ${SM2_WRAPPED_KEY_LENGTH} bytes starting with 0x04`);
  }
  return problems;
}

export type { RecipientEntry };
