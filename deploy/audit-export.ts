// Moved to crypto/audit-export.ts (the one door to cryptography, style.md rule 2); kept as a re-export
// for existing imports. New code imports from crypto/index.ts.
export {
  AUDIT_EXPORT_FORMAT,
  appendNodeAuditEvent,
  exportAuditLog,
  recordNodeEvent,
  verifyAuditExport,
  type AuditExport,
  type BundleCrossingDetails,
  type ConsentReceivedDetails,
  type DecisionDetails,
  type NodeAuditDetails,
  type QuarantineDetails,
} from '../crypto/audit-export.js';
export type { NodeAuditEventName } from '../crypto/audit-log.js';
