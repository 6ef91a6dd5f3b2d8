// Tamper-evident audit log (design 5; issue 8): JSON lines, each carrying the hash of the previous
// entry, so an edited, removed or reordered entry breaks the chain. Truncation of the newest entries
// is only detectable against a recorded head (sequence number and hash), which `audit verify` prints
// for the officer to note down outside the machine (docs/key-rotation.md, docs/audit.md).
//
// Two ways to write: appendAuditEvent() for the rare key events of bridge-keys (opens, verifies the
// whole chain, appends one entry, closes), and openAuditLog() for a node that logs every bundle and
// decision: it verifies the chain once, then appends in O(1) per entry (one write and one fdatasync),
// holding an exclusive lock file so that it is the only writer.
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fstatSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { KeyError } from '../shared/errors.js';
import { maskResidentIdsInText } from '../shared/resident-id.js';
import { canonicalJson, sha256Hex } from './primitives.js';

export const GENESIS_HASH = '0'.repeat(64);

/** Key events, written by bridge-keys. */
export type KeyAuditEventName =
  'ca-init' | 'issue' | 'rotate' | 'revoke' | 'crl' | 'import-cert' | 'import-crl' | 'export-cert';

/** Node events (issue 8): what crossed the gap, and every credit decision (docs/audit.md). */
export type NodeAuditEventName =
  | 'bundle-sent'
  | 'bundle-applied'
  | 'bundle-quarantined'
  | 'resend-served'
  | 'consent-received'
  | 'portrait-sent'
  | 'decision';

export type AuditEventName = KeyAuditEventName | NodeAuditEventName;

/** Flat values only: text, finite numbers, booleans, lists of text. */
export type AuditDetails = Record<string, string | number | boolean | string[]>;

export interface AuditEntry {
  seq: number;
  time: string;
  event: AuditEventName;
  details: AuditDetails;
  prev: string;
  hash: string;
}

export interface AuditVerification {
  ok: boolean;
  entries: number;
  /** Hash of the last entry (the head of the chain); note it with `headSeq` in the register. */
  head: string;
  /** Sequence number of the last entry (0 for an empty log). */
  headSeq: number;
  problems: string[];
}

/** A head noted earlier (in the register): the log must still hold this entry, unchanged. */
export interface RecordedHead {
  seq: number;
  hash: string;
}

/** The hash of an entry: SHA-256 over the canonical JSON of every field except `hash`. */
export function entryHash(entry: Omit<AuditEntry, 'hash'>): string {
  return sha256Hex(
    canonicalJson({
      seq: entry.seq,
      time: entry.time,
      event: entry.event,
      details: entry.details,
      prev: entry.prev,
    }),
  );
}

/**
 * Checks the whole chain; lists every edited, removed, inserted, reordered or cut-off entry it finds.
 * With `recorded` (a head noted earlier), also finds the newest entries cut off the end, which the
 * chain alone cannot see.
 */
export function verifyAuditLog(file: string, recorded?: RecordedHead): AuditVerification {
  return readChain(file, recorded).verification;
}

function readChain(
  file: string,
  recorded?: RecordedHead,
): { verification: AuditVerification; bytes: number } {
  if (!existsSync(file)) {
    const problems =
      recorded && recorded.seq > 0 ? [`log is missing; entry ${recorded.seq} was recorded`] : [];
    return {
      verification: { ok: problems.length === 0, entries: 0, head: GENESIS_HASH, headSeq: 0, problems },
      bytes: 0,
    };
  }
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const problems: string[] = [];
  // A last line without its newline is an entry cut short (a crash mid-write, or a truncated copy).
  if (lines.at(-1) === '') lines.pop();
  else if (lines.length > 0) problems.push(`line ${lines.length}: cut short (no end of line; truncated)`);
  let prev = GENESIS_HASH;
  let expectedSeq = 1;
  let count = 0;
  let headSeq = 0;
  let recordedFound = false;
  lines.forEach((line, index) => {
    const at = `line ${index + 1}`;
    let entry: AuditEntry;
    try {
      entry = JSON.parse(line) as AuditEntry;
    } catch {
      problems.push(`${at}: not valid JSON`);
      return;
    }
    count += 1;
    if (entry.seq !== expectedSeq)
      problems.push(
        `${at}: sequence ${entry.seq}, expected ${expectedSeq} (entry removed, inserted or reordered)`,
      );
    if (entry.prev !== prev)
      problems.push(`${at}: does not chain to the previous entry (entry removed or reordered)`);
    if (entryHash(entry) !== entry.hash)
      problems.push(`${at}: content does not match its hash (entry edited)`);
    if (recorded && entry.seq === recorded.seq) {
      recordedFound = true;
      if (entry.hash !== recorded.hash)
        problems.push(`${at}: entry ${recorded.seq} differs from the recorded head (rewritten)`);
    }
    prev = entry.hash;
    headSeq = typeof entry.seq === 'number' ? entry.seq : expectedSeq;
    expectedSeq = headSeq + 1;
  });
  if (recorded && recorded.seq > 0 && !recordedFound)
    problems.push(
      `entry ${recorded.seq} (the recorded head) is missing: the newest entries were cut off (truncated)`,
    );
  return {
    verification: { ok: problems.length === 0, entries: count, head: prev, headSeq, problems },
    bytes: Buffer.byteLength(text),
  };
}

/** A node's audit log held open for appending: verified once, then O(1) per entry. */
export interface AuditAppender {
  readonly path: string;
  /** Entries in the log, including those appended through this appender. */
  readonly entries: number;
  /** Hash of the newest entry. */
  readonly head: string;
  /**
   * Appends one event, chained to the newest entry, and makes it durable (write + fdatasync) before
   * returning. Text that looks like a resident ID number is masked first (shared/resident-id.ts).
   */
  append(event: AuditEventName, details: AuditDetails, now?: Date): AuditEntry;
  /** Closes the file and releases the lock. Further appends throw. */
  close(): void;
}

/**
 * Opens an audit log for appending (creating it, mode 0600, if absent). Verifies the whole chain once
 * and refuses a broken log (KEY_AUDIT_BROKEN), then takes `<path>.lock` so that no second writer (this
 * process or another on the machine) appends to it at the same time (KEY_AUDIT_LOCKED). A lock left by
 * a process that no longer runs is taken over. Single writer per file: readers (verify, export) need
 * no lock.
 */
export function openAuditLog(path: string): AuditAppender {
  const lock = acquireLock(path);
  let fd: number | undefined;
  try {
    const { verification, bytes } = readChain(path);
    if (!verification.ok) {
      throw new KeyError(
        'KEY_AUDIT_BROKEN',
        `Audit log is broken; not adding entries: ${verification.problems.join('; ')}`,
        {
          where: path,
          hint: 'Investigate with `audit verify`; restore the log from backup before further events',
        },
      );
    }
    fd = openSync(path, 'a', 0o600);
    return new FileAuditAppender(path, lock, fd, verification, bytes);
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    rmSync(lock, { force: true });
    throw error;
  }
}

class FileAuditAppender implements AuditAppender {
  entries: number;
  head: string;
  private seq: number;
  private size: number;
  private fd: number | undefined;

  constructor(
    readonly path: string,
    private readonly lock: string,
    fd: number,
    chain: AuditVerification,
    bytes: number,
  ) {
    this.fd = fd;
    this.entries = chain.entries;
    this.head = chain.head;
    this.seq = chain.headSeq;
    this.size = bytes;
  }

  append(event: AuditEventName, details: AuditDetails, now: Date = new Date()): AuditEntry {
    if (this.fd === undefined) {
      throw new KeyError('KEY_AUDIT_BROKEN', `Audit log was closed; not adding "${event}"`, {
        where: this.path,
      });
    }
    // The lock keeps other writers out; a file that changed size anyway, or a path that now names
    // another file (restored, moved away), was touched by something else, and chaining to a head we no
    // longer know would hide that.
    const open = fstatSync(this.fd);
    const named = statSync(this.path, { throwIfNoEntry: false });
    if (open.size !== this.size || named?.ino !== open.ino || named.dev !== open.dev) {
      throw new KeyError(
        'KEY_AUDIT_BROKEN',
        `Audit log changed under its writer (expected ${this.size} bytes in the file it opened); not adding "${event}"`,
        {
          where: this.path,
          hint: 'Another program wrote to or truncated the log; check it with `audit verify`',
        },
      );
    }
    const partial = {
      seq: this.seq + 1,
      time: now.toISOString(),
      event,
      details: maskDetails(details),
      prev: this.head,
    };
    const entry: AuditEntry = { ...partial, hash: entryHash(partial) };
    const line = Buffer.from(`${JSON.stringify(entry)}\n`, 'utf8');
    let written = 0;
    while (written < line.length) written += writeSync(this.fd, line, written, line.length - written);
    fdatasyncSync(this.fd);
    this.size += line.length;
    this.seq = entry.seq;
    this.head = entry.hash;
    this.entries += 1;
    return entry;
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
    rmSync(this.lock, { force: true });
  }
}

/** Takes `<path>.lock` (O_EXCL, holding our pid); a lock whose process is gone is taken over once. */
function acquireLock(path: string): string {
  const lock = `${path}.lock`;
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(lock, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return lock;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number.parseInt(readFileSync(lock, 'utf8'), 10);
      if (attempt === 0 && !processRuns(holder)) {
        rmSync(lock, { force: true });
        continue;
      }
      throw new KeyError(
        'KEY_AUDIT_LOCKED',
        `Audit log is open for writing by process ${Number.isNaN(holder) ? '(unknown)' : holder}`,
        {
          where: lock,
          hint: 'Only one writer per audit log: stop the other node process, or remove the lock file if that process is gone',
        },
      );
    }
  }
}

function processRuns(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// Digests and ids in hex are never resident IDs, and masking digits inside one would corrupt it.
const HEX_VALUE = /^(?:(?:sha256|sm3):)?[0-9a-f]{32,}$/;

/** Resident ID numbers never go into the log (docs/audit.md): masked wherever they appear in text. */
function maskDetails(details: AuditDetails): AuditDetails {
  const mask = (text: string): string => (HEX_VALUE.test(text) ? text : maskResidentIdsInText(text));
  const masked: AuditDetails = {};
  for (const [key, value] of Object.entries(details)) {
    if (typeof value === 'string') masked[key] = mask(value);
    else if (Array.isArray(value)) masked[key] = value.map(mask);
    else masked[key] = value;
  }
  return masked;
}

/** Appends one event, chained to the last entry; verifies the whole log first (for rare key events). */
export function appendAuditEvent(
  file: string,
  event: AuditEventName,
  details: AuditDetails,
  now: Date = new Date(),
): AuditEntry {
  const log = openAuditLog(file);
  try {
    return log.append(event, details, now);
  } finally {
    log.close();
  }
}
