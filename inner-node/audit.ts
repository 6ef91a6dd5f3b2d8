// The inner node's audit log of what crossed (issue 8, docs/audit.md): 'bundle-sent' right after the
// state transaction that records a sealed bundle (the moment its cursor moves). One appender per
// process (crypto's openAuditLog: verified once, then O(1) appends; a lock file keeps a second writer
// out), opened before an export seals anything and closed with the context. A daemon and an 'export'
// command beside it each write their own chain (audit.log, audit-2.log, ...).
import { openAuditLog, recordNodeEvent, type AuditAppender, type SealResult } from '../crypto/index.js';
import { describeError, errorCode } from '../shared/errors.js';
import { AUDIT_SLOTS, auditSlotFile } from './config.js';
import type { InnerContext } from './context.js';

interface AuditRuntime {
  log: AuditAppender;
  /** Set when an append failed: the node seals nothing more until an operator has looked. */
  broken?: Error;
}

const audits = new WeakMap<InnerContext, AuditRuntime>();

/** Opens the first slot no other running process holds; a broken chain is never skipped. */
function openSlot(ctx: InnerContext): AuditAppender {
  for (let slot = 1; ; slot++) {
    try {
      return openAuditLog(auditSlotFile(ctx.settings, slot));
    } catch (error) {
      if (errorCode(error) !== 'KEY_AUDIT_LOCKED' || slot >= AUDIT_SLOTS) throw error;
    }
  }
}

function auditOf(ctx: InnerContext): AuditRuntime {
  let runtime = audits.get(ctx);
  if (!runtime) {
    const created: AuditRuntime = { log: openSlot(ctx) };
    runtime = created;
    audits.set(ctx, created);
    ctx.cleanups.push(() => {
      created.log.close();
      audits.delete(ctx);
    });
  }
  return runtime;
}

/**
 * Opens the audit log (or rethrows an earlier append failure), so a broken (KEY_AUDIT_BROKEN) or
 * locked log stops an export before it seals anything: the node does not send unaudited.
 */
export function assertAuditable(ctx: InnerContext): void {
  const runtime = auditOf(ctx);
  if (runtime.broken !== undefined) throw runtime.broken;
}

/**
 * Records a sealed bundle; called right after recordSealed commits. A failure cannot undo the commit,
 * so it is logged and the next seal is refused (assertAuditable) rather than going on unaudited.
 */
export function auditSent(
  ctx: InnerContext,
  sent: SealResult,
  dataset: string,
  rows: number,
  consentIds: readonly string[] = [],
): void {
  const runtime = auditOf(ctx);
  try {
    recordNodeEvent(runtime.log, 'bundle-sent', {
      bundleId: sent.header.bundleId,
      stream: sent.header.stream,
      dataset,
      sequence: sent.header.sequence,
      rows,
      recipients: sent.header.recipients.map((r) => r.keyId),
      digest: sent.plaintextDigest,
      consentIds: [...consentIds],
    });
  } catch (error) {
    runtime.broken = error instanceof Error ? error : new Error(String(error));
    ctx.logger.error(
      { err: describeError(error), bundleId: sent.header.bundleId },
      'audit log append failed; exports stop until the log is repaired (inner-node audit verify)',
    );
  }
}
