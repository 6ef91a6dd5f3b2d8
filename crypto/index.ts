// The one door to cryptography (style.md rule 2): nodes import only from here.
export * from './types.js';
export { sha256Hex, fingerprintContract, randomBundleId, keyIdOf, canonicalJson } from './primitives.js';
export { loadIdentity, readNodeCertificate, ENC_CERT_FILE } from './identity.js';
export {
  loadTrustStore,
  recipientCertificates,
  certificateStatus,
  checkPeerCertificate,
  type CertificateStatus,
  nodeCertificates,
  type CertificateExpiry,
} from './trust-store.js';
export { trustWatcher, watchNodeTrust, watchTrustFolder, TRUST_CHECK_MS } from './trust-watch.js';
export { sealBundle, type SealRequest, type SealResult } from './seal.js';
export { openBundle, readBundleHeader, type OpenRequest, type OpenedBundle } from './open.js';
export {
  initCa,
  issueNodeKeys,
  importCertificates,
  exportCertificates,
  revokeCertificate,
  createCrl,
  importCrl,
  rotateEncryptionKey,
  listCertificates,
  type InitCaOptions,
  type InitCaResult,
  type IssueNodeKeysOptions,
  type IssueNodeKeysResult,
  type ImportCertificatesOptions,
  type RevokeOptions,
  type RotateOptions,
  type CertificateListing,
} from './authority.js';
export { inspectBundle, extractBundleEvidence, type BundleInspection } from './inspect.js';
export {
  appendAuditEvent,
  openAuditLog,
  verifyAuditLog,
  entryHash,
  GENESIS_HASH,
  type AuditAppender,
  type AuditDetails,
  type AuditEntry,
  type AuditEventName,
  type AuditVerification,
  type KeyAuditEventName,
  type NodeAuditEventName,
  type RecordedHead,
} from './audit-log.js';
export {
  AUDIT_EXPORT_FORMAT,
  appendNodeAuditEvent,
  exportAuditLog,
  exportAuditChains,
  verifyAuditChains,
  type AuditReport,
  recordNodeEvent,
  verifyAuditExport,
  type AuditExport,
  type BundleCrossingDetails,
  type ConsentReceivedDetails,
  type DecisionDetails,
  type NodeAuditDetails,
  type QuarantineDetails,
} from './audit-export.js';
export * as bundleLimits from './limits.js';
