// Which failures are transient (retry later, with exponential backoff and jitter) and which are
// permanent (quarantine with the reason) (design 6). When in doubt a failure is transient: retrying
// a bundle is harmless thanks to the ledger, quarantining a good one needs an operator.
import { BridgeError, LoadError } from '../shared/errors.js';

export type FailureKind = 'transient' | 'permanent';

/** Node and driver error codes that mean "the database or the disk is unavailable right now". */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOSPC',
  'EDQUOT',
  'EBUSY',
  'EMFILE',
  'ENFILE',
  // mysql2 / MariaDB
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_LOCK_DEADLOCK',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_NORMAL_SHUTDOWN',
  'ER_QUERY_INTERRUPTED',
  'ER_CONNECTION_KILLED',
  'ER_DISK_FULL',
  'ER_OUT_OF_RESOURCES',
  'ER_RECORD_FILE_FULL',
  'ER_TOO_MANY_CONCURRENT_TRXS',
  // SQLite
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_FULL',
  'SQLITE_IOERR',
]);

/** PostgreSQL SQLSTATEs that are transient: connection (08), serialization/deadlock, lock, shutdown, resources. */
function transientSqlState(state: string): boolean {
  return (
    state.startsWith('08') ||
    state === '40001' ||
    state === '40P01' ||
    state === '55P03' ||
    state.startsWith('57P') ||
    state.startsWith('53') ||
    state.startsWith('58') ||
    // 42xxx (missing table/column, privileges): the bank's schema changed under us; an operator fixes
    // it and the stream resumes, rather than every bundle of the stream being quarantined.
    state.startsWith('42')
  );
}

/** PostgreSQL 22xxx (data exception) and 23xxx (integrity): this bundle's data, every time. */
function permanentSqlState(state: string): boolean {
  return state.startsWith('22') || state.startsWith('23');
}

/** MariaDB errors caused by the data itself (value too long, out of range, bad value, NULL). */
const PERMANENT_MARIADB = new Set([
  'ER_DATA_TOO_LONG',
  'ER_WARN_DATA_OUT_OF_RANGE',
  'ER_TRUNCATED_WRONG_VALUE',
  'ER_TRUNCATED_WRONG_VALUE_FOR_FIELD',
  'ER_BAD_NULL_ERROR',
  'ER_WRONG_VALUE_FOR_TYPE',
  'ER_DUP_ENTRY',
  'ER_NO_REFERENCED_ROW_2',
  'ER_ROW_IS_REFERENCED_2',
  'ER_CHECK_CONSTRAINT_VIOLATED',
]);

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function classifyFailure(error: unknown): FailureKind {
  if (error instanceof LoadError) {
    if (
      error.code === 'LOAD_CONNECT' ||
      error.code === 'LOAD_TRANSIENT' ||
      error.code === 'LOAD_OUT_OF_ORDER'
    ) {
      return 'transient';
    }
    if (error.code === 'LOAD_SCHEMA') return 'transient';
    const cause = (error as { cause?: unknown }).cause;
    return cause === undefined ? 'permanent' : classifyFailure(cause);
  }
  if (error instanceof BridgeError) {
    // Refused by crypto, malformed, contract mismatch, too many rejects: the bundle itself is bad;
    // except a file that could not be read this time.
    return (error as BridgeError<string>).code === 'VERIFY_FILE_UNREADABLE' ? 'transient' : 'permanent';
  }
  const code = codeOf(error);
  if (code !== undefined) {
    if (TRANSIENT_CODES.has(code) || code.startsWith('SQLITE_IOERR')) return 'transient';
    if (PERMANENT_MARIADB.has(code)) return 'permanent';
    if (/^[0-9A-Z]{5}$/.test(code)) {
      if (transientSqlState(code)) return 'transient';
      if (permanentSqlState(code)) return 'permanent';
    }
    if (code.startsWith('SQLITE_CONSTRAINT') || code === 'SQLITE_MISMATCH' || code === 'SQLITE_TOOBIG')
      return 'permanent';
  }
  const message = error instanceof Error ? error.message : String(error);
  if (
    /Connection terminated|connection error|not queryable|Connection lost|socket hang up|closed state/i.test(
      message,
    )
  ) {
    return 'transient';
  }
  return 'transient';
}

/**
 * Delay before attempt `attempt + 1` after `attempt` failures: base x 2^(attempt-1), capped, with
 * "equal jitter" (half fixed, half random) so that workers that failed together do not retry together.
 */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  capMs: number,
  random: () => number = Math.random,
): number {
  const exponential = Math.min(capMs, baseMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  return Math.round(exponential / 2 + (random() * exponential) / 2);
}
