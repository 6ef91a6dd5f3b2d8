// Tamper-evident audit log of key events (design 5): JSON lines, each carrying the hash of the previous
// entry, so an edited, removed or reordered entry breaks the chain. Truncation of the newest entries
// is only detectable against a recorded head hash, which `bridge-keys audit verify` prints for the
// security officer to note down outside the machine (docs/key-rotation.md).
import { appendFileSync, closeSync, existsSync, fsyncSync, openSync, readFileSync } from 'node:fs';
import { KeyError } from '../shared/errors.js';
import { canonicalJson, sha256Hex } from './primitives.js';

export const GENESIS_HASH = '0'.repeat(64);

export type AuditEventName =
  'ca-init' | 'issue' | 'rotate' | 'revoke' | 'crl' | 'import-cert' | 'import-crl' | 'export-cert';

export interface AuditEntry {
  seq: number;
  time: string;
  event: AuditEventName;
  details: Record<string, string | number | boolean | string[]>;
  prev: string;
  hash: string;
}

export interface AuditVerification {
  ok: boolean;
  entries: number;
  /** Hash of the last good entry (the head of the chain). */
  head: string;
  problems: string[];
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

function lastEntry(file: string): AuditEntry | undefined {
  if (!existsSync(file)) return undefined;
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  const last = lines.at(-1);
  return last === undefined ? undefined : (JSON.parse(last) as AuditEntry);
}

/** Appends one event, chained to the last entry; refuses to extend a log whose chain is broken. */
export function appendAuditEvent(
  file: string,
  event: AuditEventName,
  details: AuditEntry['details'],
  now: Date = new Date(),
): AuditEntry {
  const check = verifyAuditLog(file);
  if (!check.ok) {
    throw new KeyError(
      'KEY_AUDIT_BROKEN',
      `Audit log is broken; not adding "${event}": ${check.problems.join('; ')}`,
      {
        where: file,
        hint: 'Investigate with `bridge-keys audit verify`; restore the log from backup before further key events',
      },
    );
  }
  const previous = lastEntry(file);
  const partial = {
    seq: previous ? previous.seq + 1 : 1,
    time: now.toISOString(),
    event,
    details,
    prev: previous?.hash ?? GENESIS_HASH,
  };
  const entry: AuditEntry = { ...partial, hash: entryHash(partial) };
  appendFileSync(file, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return entry;
}

/** Checks the whole chain; lists every edited, removed, inserted or reordered entry it finds. */
export function verifyAuditLog(file: string): AuditVerification {
  if (!existsSync(file)) return { ok: true, entries: 0, head: GENESIS_HASH, problems: [] };
  const lines = readFileSync(file, 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  const problems: string[] = [];
  let prev = GENESIS_HASH;
  let expectedSeq = 1;
  let count = 0;
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
    prev = entry.hash;
    expectedSeq = (typeof entry.seq === 'number' ? entry.seq : expectedSeq) + 1;
  });
  return { ok: problems.length === 0, entries: count, head: prev, problems };
}
