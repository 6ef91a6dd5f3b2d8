// The outer node's audit log of what crossed (issue 8, docs/audit.md): 'bundle-applied' after each
// import transaction commits, 'bundle-quarantined' when a bundle is refused for good, 'decision' when
// a credit decision is stored. One appender per process (crypto's openAuditLog: verified once, then
// O(1) appends, a lock file keeps a second writer out), opened by the first importer or the
// applications watcher and closed with the context.
import {
  openAuditLog,
  type AuditAppender,
  type BundleHeader,
  type PeerCertificate,
} from '../crypto/index.js';
import { describeError, errorCode } from '../shared/errors.js';
import { maskResidentId } from '../shared/resident-id.js';
import { AUDIT_SLOTS, auditSlotFile } from './config.js';
import type { OuterContext } from './context.js';
import type { DecisionRecord } from './lending/decision.js';

interface AuditRuntime {
  log: AuditAppender;
  /** Set when an append failed: the node stops applying until an operator has looked. */
  broken?: Error;
}

const audits = new WeakMap<OuterContext, AuditRuntime>();

/**
 * Opens the first audit log slot no other running process holds: several processes may import from
 * one inbox, and each chain has exactly one writer (crypto's lock). A broken chain is never skipped.
 */
function openSlot(ctx: OuterContext): AuditAppender {
  for (let slot = 1; ; slot++) {
    try {
      return openAuditLog(auditSlotFile(ctx.settings, slot));
    } catch (error) {
      if (errorCode(error) !== 'KEY_AUDIT_LOCKED' || slot >= AUDIT_SLOTS) throw error;
    }
  }
}

/**
 * The context's audit appender, opened on first use. Throws KEY_AUDIT_BROKEN (the chain is broken) or
 * KEY_AUDIT_LOCKED (another process writes the log): the node does not import unaudited.
 */
function auditOf(ctx: OuterContext): AuditRuntime {
  let runtime = audits.get(ctx);
  if (!runtime) {
    const created: AuditRuntime = { log: openSlot(ctx) };
    runtime = created;
    audits.set(ctx, created);
    ctx.cleanups.push(() => created.log.close());
  }
  return runtime;
}

/** Opens the audit log now (start-up), so a broken or locked log stops the node before any work. */
export function openNodeAudit(ctx: OuterContext): void {
  const runtime = auditOf(ctx);
  if (runtime.broken !== undefined) throw runtime.broken;
}

/**
 * Runs an append after the change it records has committed. A failure cannot undo the change, so it
 * is logged and the node refuses further work (assertAuditable) rather than continuing unaudited.
 */
function append(ctx: OuterContext, what: string, write: (log: AuditAppender) => void): void {
  const runtime = auditOf(ctx);
  try {
    write(runtime.log);
  } catch (error) {
    runtime.broken = error instanceof Error ? error : new Error(String(error));
    ctx.logger.error(
      { err: describeError(error), event: what },
      'audit log append failed; imports stop until the log is repaired (outer-node audit verify)',
    );
  }
}

/** Throws the audit failure, if any, so a worker does not apply a bundle it could not record. */
export function assertAuditable(ctx: OuterContext): void {
  const broken = audits.get(ctx)?.broken;
  if (broken !== undefined) throw broken;
}

export function auditApplied(
  ctx: OuterContext,
  header: BundleHeader,
  signer: PeerCertificate,
  rows: number,
  digest: string,
): void {
  append(ctx, 'bundle-applied', (log) =>
    log.append('bundle-applied', {
      bundleId: header.bundleId,
      stream: header.stream,
      dataset: header.dataset,
      sequence: header.sequence,
      rows,
      recipients: header.recipients.map((r) => r.keyId),
      digest,
      consentIds: [],
      signer: signer.name,
      signerKeyId: signer.keyId,
    }),
  );
}

export function auditQuarantined(
  ctx: OuterContext,
  detail: {
    bundleId?: string | undefined;
    stream?: string | undefined;
    sequence?: number | undefined;
    code: string;
  },
  file: string,
): void {
  append(ctx, 'bundle-quarantined', (log) =>
    log.append('bundle-quarantined', {
      bundleId: detail.bundleId ?? '-',
      stream: detail.stream ?? '-',
      sequence: detail.sequence ?? 0,
      code: detail.code,
      file,
    }),
  );
}

/** An annual rate in basis points as an exact decimal fraction: 490 as '0.0490'. */
function rateFraction(basisPoints: number): string {
  return `${Math.floor(basisPoints / 10_000)}.${String(basisPoints % 10_000).padStart(4, '0')}`;
}

/** A stored decision: ids, the masked ID number, outcome, score, line, rate, reasons and points. */
export function auditDecision(ctx: OuterContext, record: DecisionRecord, idNumber: string | undefined): void {
  append(ctx, 'decision', (log) =>
    log.append('decision', {
      applicationId: record.applicationId,
      consentId: record.consentId ?? '-',
      portraitDigest: record.portraitDigest ?? '-',
      modelVersion: record.modelVersion,
      policyVersion: record.policyVersion,
      // A decision without a score (a hard rule or a missing portrait decided it) has none here either.
      ...(record.score !== null ? { score: record.score } : {}),
      decision: record.decision,
      line: `${record.lineYuan}.00`,
      ...(record.rateBasisPoints !== null ? { rate: rateFraction(record.rateBasisPoints) } : {}),
      reasons: record.reasons.map((r) => r.code),
      points: record.points.map((p) => `${p.name}=${p.points}`),
      ...(idNumber !== undefined ? { idNumber: maskResidentId(idNumber) } : {}),
    }),
  );
}
