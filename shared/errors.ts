// Error families, one per boundary (style.md rule 8). Each carries a `code` from a closed union, an
// optional `cause`, and a message that says what failed, where, and what to do.

export interface ErrorDetails {
  /** Where it happened: a file, a table, a column, a row, a bundle id. */
  where?: string;
  /** What the operator should do about it. */
  hint?: string;
  cause?: unknown;
}

export abstract class BridgeError<Code extends string = string> extends Error {
  abstract readonly family: string;
  readonly code: Code;
  readonly where: string | undefined;
  readonly hint: string | undefined;

  constructor(code: Code, message: string, details: ErrorDetails = {}) {
    super(
      composeMessage(message, details),
      details.cause === undefined ? undefined : { cause: details.cause },
    );
    this.code = code;
    this.where = details.where;
    this.hint = details.hint;
  }

  override get name(): string {
    return this.family;
  }
}

function composeMessage(message: string, details: ErrorDetails): string {
  let text = message;
  if (details.where) text += ` (at ${details.where})`;
  if (details.hint) text += `. ${details.hint}`;
  return text;
}

export type ConfigErrorCode =
  | 'CONFIG_NOT_FOUND'
  | 'CONFIG_UNREADABLE'
  | 'CONFIG_SYNTAX'
  | 'CONFIG_INVALID'
  | 'CONFIG_DIR_EXISTS'
  | 'CONFIG_SECRET_MISSING';

export class ConfigError extends BridgeError<ConfigErrorCode> {
  readonly family = 'ConfigError';
  /** Every problem found, each with its path in the file and what was expected. */
  readonly problems: readonly string[];

  constructor(code: ConfigErrorCode, message: string, details: ErrorDetails & { problems?: string[] } = {}) {
    super(code, message, details);
    this.problems = details.problems ?? [];
  }
}

export type BundleErrorCode =
  'BUNDLE_TOO_LARGE' | 'BUNDLE_MALFORMED' | 'BUNDLE_WRITE_FAILED' | 'BUNDLE_PAYLOAD_INVALID';

export class BundleError extends BridgeError<BundleErrorCode> {
  readonly family = 'BundleError';
}

/** Refusals of a received bundle; each refusal has its own code (design 4, issue 3). */
export type VerificationErrorCode =
  | 'VERIFY_BAD_MAGIC'
  | 'VERIFY_HEADER_TOO_LARGE'
  | 'VERIFY_HEADER_MALFORMED'
  | 'VERIFY_UNSUPPORTED_VERSION'
  | 'VERIFY_UNSUPPORTED_SUITE'
  | 'VERIFY_LIMIT_EXCEEDED'
  | 'VERIFY_UNKNOWN_SENDER'
  | 'VERIFY_UNTRUSTED_CERTIFICATE'
  | 'VERIFY_CERTIFICATE_REVOKED'
  | 'VERIFY_CERTIFICATE_EXPIRED'
  | 'VERIFY_WRONG_ROLE'
  | 'VERIFY_HEADER_SIGNATURE'
  | 'VERIFY_NOT_FOR_US'
  | 'VERIFY_BUNDLE_EXPIRED'
  | 'VERIFY_BUNDLE_NOT_YET_VALID'
  | 'VERIFY_REPLAYED'
  | 'VERIFY_UNWRAP_FAILED'
  /**
   * A segment frame is invalid, or a segment authenticates under no counter near its position: its bytes
   * were altered or it comes from another bundle (cryptographically the same thing: each bundle has its
   * own data key and header digest).
   */
  | 'VERIFY_SEGMENT_TAMPERED'
  /** A segment authenticates, but as another segment of this bundle: reordered, duplicated or dropped. */
  | 'VERIFY_SEGMENT_REORDERED'
  /** A segment authenticates only with the other last flag: cut short (flag set) or extended (cleared). */
  | 'VERIFY_SEGMENT_REFLAGGED'
  /**
   * The file ends early (in the prefix, header, a frame, a segment or the final signature): cut short in
   * transit or still being written.
   */
  | 'VERIFY_TRUNCATED'
  | 'VERIFY_TRAILING_DATA'
  | 'VERIFY_FINAL_SIGNATURE'
  /** The bundle file could not be opened (missing, permissions, I/O): usually transient, not a forgery. */
  | 'VERIFY_FILE_UNREADABLE';

export class VerificationError extends BridgeError<VerificationErrorCode> {
  readonly family = 'VerificationError';
}

/** Refusals of a reverse-lane message (outer to inner; shared/reverse-lane.ts, issue 6). */
export type ReverseLaneErrorCode =
  /** The message body fails the guard: not JSON, unknown kind, a field out of bounds. */
  | 'REVERSE_REFUSED'
  /** The file or its body is over the reverse-lane size limit. */
  | 'REVERSE_TOO_LARGE'
  /** The bank sent more messages than the lane allows per minute. */
  | 'REVERSE_RATE_LIMITED'
  /** Signed by a trusted outer node that is not a bank of this inner node. */
  | 'REVERSE_UNKNOWN_BANK'
  /** The message names a stream that is not the sender's. */
  | 'REVERSE_NOT_ITS_STREAM';

export class ReverseLaneError extends BridgeError<ReverseLaneErrorCode> {
  readonly family = 'ReverseLaneError';
}

export type MappingErrorCode =
  | 'MAPPING_UNKNOWN_COLUMN'
  | 'MAPPING_TYPE'
  | 'MAPPING_VALUE'
  | 'MAPPING_CONTRACT_MISMATCH'
  | 'MAPPING_TOO_MANY_REJECTS'
  | 'MAPPING_INVALID';

export class MappingError extends BridgeError<MappingErrorCode> {
  readonly family = 'MappingError';
}

export type LoadErrorCode =
  'LOAD_CONNECT' | 'LOAD_SCHEMA' | 'LOAD_CONSTRAINT' | 'LOAD_TRANSIENT' | 'LOAD_OUT_OF_ORDER' | 'LOAD_FAILED';

export class LoadError extends BridgeError<LoadErrorCode> {
  readonly family = 'LoadError';
}

export type KeyErrorCode =
  | 'KEY_NOT_FOUND'
  | 'KEY_PERMISSIONS'
  | 'KEY_PASSPHRASE'
  | 'KEY_INVALID'
  | 'KEY_CA_EXISTS'
  | 'KEY_EXISTS'
  | 'KEY_CA_MISSING'
  | 'KEY_REVOKED'
  | 'KEY_EXPIRED'
  | 'KEY_AUDIT_BROKEN'
  | 'KEY_AUDIT_LOCKED'
  | 'KEY_TOKEN';

export class KeyError extends BridgeError<KeyErrorCode> {
  readonly family = 'KeyError';
}

export type SourceErrorCode =
  | 'SOURCE_CONNECT'
  | 'SOURCE_QUERY'
  | 'SOURCE_SCHEMA'
  | 'SOURCE_DECODE'
  /** The source's columns changed since the last export (schema drift). */
  | 'SOURCE_DRIFT'
  /** The dataset is paused (drift awaiting approval); `inner-node resume` releases it. */
  | 'SOURCE_PAUSED'
  /** Another process of the same node is exporting the dataset. */
  | 'SOURCE_BUSY';

export class SourceError extends BridgeError<SourceErrorCode> {
  readonly family = 'SourceError';
}

/** A short operator-facing description of any thrown value; never includes a stack. */
export function describeError(error: unknown): string {
  if (error instanceof ConfigError && error.problems.length > 0) {
    return `${error.message}\n${error.problems.map((p) => `  - ${p}`).join('\n')}`;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

export function errorCode(error: unknown): string | undefined {
  return error instanceof BridgeError ? (error as BridgeError<string>).code : undefined;
}
