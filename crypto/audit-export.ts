// The node audit log of what crossed (issue 8) on the hash chain of audit-log.ts, and
// `audit export --from --to` for an inspector: an excerpt that can be checked on its own.
// The two nodes' `audit` commands and their daemons call these through crypto/index.ts (docs/audit.md).
import { readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '../shared/atomic-file.js';
import { ConfigError } from '../shared/errors.js';
import {
  appendAuditEvent,
  entryHash,
  GENESIS_HASH,
  verifyAuditLog,
  type AuditAppender,
  type AuditEntry,
  type AuditVerification,
  type NodeAuditEventName,
} from './audit-log.js';

/** Details of a bundle that crossed: enough for an inspector to match both nodes' logs entry by entry. */
export interface BundleCrossingDetails {
  bundleId: string;
  stream: string;
  dataset: string;
  sequence: number;
  rows: number;
  /** Bank names (or key ids) the bundle was sealed for. */
  recipients: string[];
  /** The plaintext digest from the signed header. */
  digest: string;
  /** Consent ids a portrait bundle was sent under (empty for bulk datasets). */
  consentIds: string[];
}

/** Details of a credit decision (design 7): flat values only, as the audit log stores them. */
export interface DecisionDetails {
  applicationId: string;
  consentId: string;
  portraitDigest: string;
  modelVersion: string;
  score: number;
  decision: string;
  /** Credit line in yuan as an exact decimal string (never a float). */
  line: string;
  /** Annual rate as an exact decimal string, e.g. '0.0435'. */
  rate: string;
  reasons: string[];
  /** Points per characteristic, as 'characteristic=points' strings. */
  points: string[];
}

/** Details of an accepted consent-backed portrait request (inner node). */
export interface ConsentReceivedDetails {
  applicationId: string;
  consentId: string;
  purpose: string;
  /** UTC timestamp, ISO 8601. */
  expiresAt: string;
  bank: string;
}

/** Details of a bundle refused for good (outer node); bundleId is '-' when the header was unreadable. */
export interface QuarantineDetails {
  bundleId: string;
  stream: string;
  sequence: number;
  /** The VerificationError / BundleError code. */
  code: string;
}

/** Which details go with which node event (docs/audit.md, "Events"). */
export interface NodeAuditDetails {
  'bundle-sent': BundleCrossingDetails;
  'resend-served': BundleCrossingDetails;
  'portrait-sent': BundleCrossingDetails;
  'bundle-applied': BundleCrossingDetails;
  'consent-received': ConsentReceivedDetails;
  'bundle-quarantined': QuarantineDetails;
  decision: DecisionDetails;
}

/**
 * Appends a node event through an open appender (openAuditLog): the typed helper the daemons call.
 * O(1); resident ID numbers in any text field are masked by the appender.
 */
export function recordNodeEvent<E extends NodeAuditEventName>(
  log: AuditAppender,
  event: E,
  details: NodeAuditDetails[E],
  now?: Date,
): AuditEntry {
  return log.append(event, { ...details }, now);
}

/**
 * Appends one node event to the log at `file`, verifying the whole chain first: for one-off writers
 * (CLI commands, start-up recovery). A daemon keeps an appender open instead (openAuditLog).
 */
export function appendNodeAuditEvent<E extends NodeAuditEventName>(
  file: string,
  event: E,
  details: NodeAuditDetails[E],
  now?: Date,
): AuditEntry {
  return appendAuditEvent(file, event, { ...details }, now);
}

export const AUDIT_EXPORT_FORMAT = 'govbank-bridge-audit-export/1';

/** An excerpt of an audit log for an inspector: the entries in a time range, and how to check them. */
export interface AuditExport {
  format: typeof AUDIT_EXPORT_FORMAT;
  /** The log the excerpt was taken from, and when. */
  source: string;
  exportedAt: string;
  /** Entries with from <= time < to. */
  from: string;
  to: string;
  /** The whole log's check at export time; an inspector compares `chain.head` with the paper register. */
  chain: AuditVerification;
  /** The hash the first exported entry chains to (its `prev`): the excerpt's anchor in the full log. */
  anchor: string;
  entries: AuditEntry[];
}

function parseEntries(file: string): AuditEntry[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as AuditEntry];
      } catch {
        return [];
      }
    });
}

/**
 * Exports the entries of `file` with from <= time < to, after checking the whole chain. A broken
 * chain is exported all the same (an inspector needs to see it) with its problems in `chain`; the
 * CLI prints them and exits non-zero.
 */
export function exportAuditLog(
  file: string,
  range: { from: Date; to: Date },
  now: Date = new Date(),
): AuditExport {
  const chain = verifyAuditLog(file);
  const from = range.from.getTime();
  const to = range.to.getTime();
  const entries = parseEntries(file).filter((e) => {
    const time = Date.parse(e.time);
    return time >= from && time < to;
  });
  return {
    format: AUDIT_EXPORT_FORMAT,
    source: file,
    exportedAt: now.toISOString(),
    from: range.from.toISOString(),
    to: range.to.toISOString(),
    chain,
    anchor: entries[0]?.prev ?? GENESIS_HASH,
    entries,
  };
}

/**
 * Checks an excerpt on its own: each entry's hash matches its content, each chains to the one before
 * (the first to the anchor), sequence numbers have no hole, times lie within the range. It cannot
 * tell that entries were cut from either end of the range: compare the count and the last hash
 * with the node's own `audit verify` or with a second export.
 */
export function verifyAuditExport(doc: AuditExport): string[] {
  const problems: string[] = [];
  // Read as a plain string: a file from elsewhere may carry any format name.
  const format: string = doc.format;
  if (format !== AUDIT_EXPORT_FORMAT) problems.push(`format is ${format}, expected ${AUDIT_EXPORT_FORMAT}`);
  if (!doc.chain.ok)
    problems.push(`the source log was already broken at export: ${doc.chain.problems.join('; ')}`);
  let prev = doc.anchor;
  let expectedSeq = doc.entries[0]?.seq;
  const from = Date.parse(doc.from);
  const to = Date.parse(doc.to);
  doc.entries.forEach((entry, index) => {
    const at = `entry ${index + 1} (seq ${entry.seq})`;
    if (entryHash(entry) !== entry.hash) problems.push(`${at}: content does not match its hash (edited)`);
    if (entry.prev !== prev)
      problems.push(`${at}: does not chain to the entry before it (removed or reordered)`);
    if (entry.seq !== expectedSeq)
      problems.push(`${at}: sequence ${entry.seq}, expected ${expectedSeq} (removed or reordered)`);
    const time = Date.parse(entry.time);
    if (!(time >= from && time < to))
      problems.push(`${at}: time ${entry.time} is outside ${doc.from} to ${doc.to}`);
    prev = entry.hash;
    expectedSeq = entry.seq + 1;
  });
  return problems;
}

/** What `audit verify` and `audit export` print, and whether a chain was found broken (exit 2). */
export interface AuditReport {
  lines: string[];
  broken: boolean;
}

/**
 * `audit verify` on both nodes: checks every chain (one per writing process), against the heads an
 * operator recorded last time when given (`SEQ:HASH`, in the order the chains are printed).
 */
export function verifyAuditChains(files: readonly string[], heads: readonly string[]): AuditReport {
  const lines: string[] = [];
  let broken = false;
  files.forEach((file, index) => {
    const head = heads[index];
    let recorded: { seq: number; hash: string } | undefined;
    if (head !== undefined) {
      const match = /^(\d+):([0-9a-f]{64})$/.exec(head);
      if (!match) throw new ConfigError('CONFIG_INVALID', `--head ${head} is not SEQ:HASH (64 hex digits)`);
      recorded = { seq: Number(match[1]), hash: match[2] ?? '' };
    }
    const result = verifyAuditLog(file, recorded);
    lines.push(
      `${result.ok ? 'OK' : 'BROKEN'}: ${file}: ${result.entries} entries, head ${result.headSeq}:${result.head}`,
    );
    for (const problem of result.problems) lines.push(`  - ${problem}`);
    broken ||= !result.ok;
  });
  if (broken) {
    lines.push(
      'the log was changed after it was written: keep it as evidence, tell the security officer, restore the newest good backup (docs/audit.md)',
    );
  }
  return { lines, broken };
}

/** `audit export` on both nodes: one excerpt per chain, the further ones named -2, -3 before .json. */
export function exportAuditChains(
  files: readonly string[],
  range: { from: Date; to: Date },
  out: string,
): AuditReport {
  const lines: string[] = [];
  let broken = false;
  files.forEach((file, index) => {
    const target = index === 0 ? out : out.replace(/(\.json)?$/, `-${index + 1}$1`);
    const doc = exportAuditLog(file, range);
    writeFileAtomicSync(target, `${JSON.stringify(doc, null, 2)}\n`, 0o600);
    lines.push(
      `wrote ${doc.entries.length} entries of ${file} (${doc.from} to ${doc.to}) to ${target}; whole log: ${doc.chain.entries} entries, head ${doc.chain.headSeq}:${doc.chain.head}`,
    );
    if (!doc.chain.ok) {
      for (const problem of doc.chain.problems) lines.push(`  - ${problem}`);
      lines.push('the log is broken: the excerpt carries its problems');
      broken = true;
    }
  });
  return { lines, broken };
}
