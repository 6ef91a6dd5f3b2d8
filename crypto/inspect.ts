// Operator inspection of a bundle without decrypting it (`bridge-keys inspect`), and extraction of the
// exact signed bytes so a security officer can re-check the header signature and the certificate chain
// with stock openssl (docs/key-rotation.md, "Checking a bundle with openssl").
import { X509Certificate as NodeX509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BridgeError } from '../shared/errors.js';
import { certificateFacts, type CertificateFacts } from './certificates.js';
import { readTextFile, writePublicFile } from './key-files.js';
import { MAX_CLOCK_SKEW_MS } from './limits.js';
import { readBundleEnvelope, verifyEnvelopeSignature, type BundleEnvelope } from './open.js';
import { headerSignaturePreimage } from './preimage.js';
import { createSuiteHash, labelledDigest, suiteNamed } from './suites.js';
import {
  CA_CERT_FILE,
  CRL_FILE,
  certificateStatus,
  publicKeyOf,
  type CertificateStatus,
} from './trust-store.js';
import type { BundleHeader, NodeRole, PeerCertificate, TrustStore } from './types.js';

/** The certificate the header names as signer, as found in the trust folder (trusted or not). */
export interface SignerCertificateReport {
  name: string;
  /** Undefined only for an untrusted certificate without a consistent role. */
  role: NodeRole | undefined;
  keyId: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  file: string;
  /** At the inspection time; 'untrusted' when the certificate does not chain to the trust folder's CA. */
  status: CertificateStatus | 'untrusted';
  /** Chains to the trusted CA, inside its validity window and not revoked at the inspection time. */
  validNow: boolean;
  /** The header signature verifies with this certificate's public key (whatever the verdict). */
  headerSignatureValid: boolean;
}

/** One certificate of the chain from the signer up to the trust anchor. */
export interface ChainLink {
  subject: string;
  issuer: string;
  /** Key id of the certified public key (first 16 bytes of SHA-256 over the SPKI, hex). */
  keyId: string;
  serial: string;
  /** SHA-256 over the DER certificate, as `openssl x509 -noout -fingerprint -sha256` prints it. */
  fingerprint: string;
  notBefore: Date;
  notAfter: Date;
}

export interface RevocationReport {
  /** 'no-crl': the trust folder holds no crl.pem, so revocation was not checked. */
  status: 'not-revoked' | 'revoked' | 'no-crl';
  revokedAt?: Date;
  crlThisUpdate?: Date;
  crlNextUpdate?: Date;
  /** The CRL is past its nextUpdate: fetch a fresh one from the CA (`bridge-keys crl`, `import-crl`). */
  crlOutdated?: boolean;
}

export interface ChainReport {
  /** The signer certificate first, then the trust folder's CA when the signer chains to it. */
  links: ChainLink[];
  /** The signer certificate's signature verifies with the trust folder's CA (the trusted root). */
  trustedRoot: boolean;
  /** Why the chain does not reach the trusted root. */
  problem?: string;
  revocation: RevocationReport;
}

export interface BundleValidityReport {
  createdAt: string;
  expiresAt: string;
  /** expiresAt has passed at the inspection time. */
  expired: boolean;
  /** createdAt lies further in the future than the allowed clock skew. */
  notYetValid: boolean;
}

export interface BundleInspection {
  header: BundleHeader;
  headerBytes: number;
  headerDigest: string;
  /** Present when a trust store was given and the sender's certificate was found and usable. */
  signer?: PeerCertificate;
  verdict: { ok: boolean; code: string; message: string };
  /** The time every check below was made at. */
  checkedAt: Date;
  bundleValidity: BundleValidityReport;
  /** The trust folder's CA (with a trust store). */
  trustAnchor?: ChainLink;
  /**
   * The certificate the header names as signer, whenever the trust folder holds it: also when the
   * verdict is negative (revoked, expired, untrusted, bad signature, expired bundle).
   */
  signerCertificate?: SignerCertificateReport;
  /** Signer certificate to trust anchor, with revocation; present with `signerCertificate`. */
  chain?: ChainReport;
}

/** Reads the header and, with a trust store, checks sender, certificate and header signature at `now`. */
export async function inspectBundle(opts: {
  path: string;
  trust?: TrustStore;
  now?: Date;
  expectSenderRole?: NodeRole;
}): Promise<BundleInspection> {
  const envelope = await readBundleEnvelope(opts.path);
  const now = opts.now ?? new Date();
  const { header } = envelope;
  const base = {
    header,
    headerBytes: envelope.headerBytes.length,
    headerDigest: labelledDigest(
      suiteNamed(header.suite),
      createSuiteHash(suiteNamed(header.suite)).update(envelope.headerBytes).digest(),
    ),
  };
  const bundleValidity: BundleValidityReport = {
    createdAt: header.createdAt,
    expiresAt: header.expiresAt,
    expired: now.getTime() >= Date.parse(header.expiresAt),
    notYetValid: Date.parse(header.createdAt) > now.getTime() + MAX_CLOCK_SKEW_MS,
  };
  if (!opts.trust) {
    return {
      ...base,
      verdict: { ok: false, code: 'UNVERIFIED', message: 'No trust folder given: header not verified' },
      checkedAt: now,
      bundleValidity,
    };
  }
  const trust = opts.trust;
  let signer: PeerCertificate | undefined;
  let verdict: BundleInspection['verdict'];
  try {
    signer = verifyEnvelopeSignature(
      envelope,
      trust,
      now,
      opts.expectSenderRole,
      `${opts.path}, bundle ${header.bundleId}`,
    );
    verdict = {
      ok: true,
      code: 'HEADER_VERIFIED',
      message: `Header signed by ${signer.name} (${signer.role}), certificate serial ${signer.serial} chains to ${trust.caSubject}; body not checked (needs the recipient's key)`,
    };
  } catch (error) {
    if (!(error instanceof BridgeError)) throw error;
    const { code, message } = error as BridgeError<string>;
    verdict = { ok: false, code, message };
  }
  const found = findSignerCertificate(trust, header.sender, now, signer);
  const reports = found ? describeSigner(found, trust, envelope, now) : undefined;
  return {
    ...base,
    ...(signer ? { signer } : {}),
    verdict,
    checkedAt: now,
    bundleValidity,
    trustAnchor: chainLink(certificateFacts(trust.caPem, join(trust.dir, CA_CERT_FILE))),
    ...(reports ?? {}),
  };
}

/** A signer certificate found in the trust folder: chained to its CA, or among its untrusted files. */
type FoundSigner =
  | { trusted: true; cert: PeerCertificate; facts: CertificateFacts }
  | { trusted: false; file: string; reason: string; facts: CertificateFacts };

/**
 * The certificate the header names (name and key id): the one the verification used, else the best
 * chained candidate (valid, then revoked, then any), else an untrusted file in peers/ with that key.
 */
function findSignerCertificate(
  trust: TrustStore,
  sender: { name: string; keyId: string },
  now: Date,
  verified?: PeerCertificate,
): FoundSigner | undefined {
  const candidates = trust.peers.filter(
    (c) => c.usage === 'sign' && c.name === sender.name && c.keyId === sender.keyId,
  );
  const rank = (c: PeerCertificate): number =>
    ({ valid: 0, revoked: 1, expired: 2, 'not-yet-valid': 3 })[certificateStatus(trust, c, now)];
  const cert = verified ?? [...candidates].sort((a, b) => rank(a) - rank(b))[0];
  if (cert) return { trusted: true, cert, facts: certificateFacts(cert.pem, cert.file) };
  const problem = trust.problems.find((p) => p.name === sender.name && p.keyId === sender.keyId);
  if (!problem) return undefined;
  try {
    const facts = certificateFacts(readTextFile(problem.file, 'Peer certificate'), problem.file);
    return { trusted: false, file: problem.file, reason: problem.reason, facts };
  } catch {
    return undefined;
  }
}

function chainLink(facts: CertificateFacts): ChainLink {
  return {
    subject: facts.subject,
    issuer: facts.issuer,
    keyId: facts.keyId,
    serial: facts.serial,
    fingerprint: new NodeX509Certificate(facts.pem).fingerprint256,
    notBefore: facts.notBefore,
    notAfter: facts.notAfter,
  };
}

function describeSigner(
  found: FoundSigner,
  trust: TrustStore,
  envelope: BundleEnvelope,
  now: Date,
): { signerCertificate: SignerCertificateReport; chain: ChainReport } {
  const { facts } = found;
  const status = found.trusted ? certificateStatus(trust, found.cert, now) : 'untrusted';
  let headerSignatureValid = false;
  try {
    const suite = suiteNamed(envelope.header.suite);
    headerSignatureValid = suite.verify(
      publicKeyOf(facts),
      headerSignaturePreimage(envelope.headerBytes, suite.name),
      envelope.headerSignature,
    );
  } catch {
    // A key of another suite (an Ed25519 key under sm-v1, say) simply does not verify.
  }
  const revokedAt = trust.revoked.get(facts.serial);
  const crl = {
    ...(trust.crlThisUpdate ? { crlThisUpdate: trust.crlThisUpdate } : {}),
    ...(trust.crlNextUpdate
      ? { crlNextUpdate: trust.crlNextUpdate, crlOutdated: now.getTime() > trust.crlNextUpdate.getTime() }
      : {}),
  };
  const revocation: RevocationReport = !trust.crlThisUpdate
    ? { status: 'no-crl' }
    : revokedAt && revokedAt.getTime() <= now.getTime()
      ? { status: 'revoked', revokedAt, ...crl }
      : { status: 'not-revoked', ...crl };
  const signerLink = chainLink(facts);
  return {
    signerCertificate: {
      name: facts.name,
      role: found.trusted ? found.cert.role : facts.role,
      keyId: facts.keyId,
      serial: facts.serial,
      notBefore: facts.notBefore,
      notAfter: facts.notAfter,
      file: found.trusted ? found.cert.file : found.file,
      status,
      validNow: status === 'valid',
      headerSignatureValid,
    },
    chain: found.trusted
      ? {
          links: [signerLink, chainLink(certificateFacts(trust.caPem, join(trust.dir, CA_CERT_FILE)))],
          trustedRoot: true,
          revocation,
        }
      : { links: [signerLink], trustedRoot: false, problem: found.reason, revocation },
  };
}

const iso = (d: Date): string => d.toISOString();

/** The text `bridge-keys inspect` prints: header, signer, chain, bundle validity, verdict. */
export function describeInspection(r: BundleInspection): string[] {
  const h = r.header;
  const lines = [
    `header: ${r.headerBytes} bytes, ${r.headerDigest}`,
    `  format: ${h.format}`,
    `  suite: ${h.suite}`,
    `  bundleId: ${h.bundleId}`,
    `  kind: ${h.kind}`,
    `  dataset: ${h.dataset}`,
    `  contract: ${h.contract}`,
    `  stream: ${h.stream}`,
    `  sequence: ${h.sequence}`,
    `  rowCount: ${h.rowCount}`,
    `  segmentSize: ${h.segmentSize}`,
    `  sender: ${h.sender.name} key ${h.sender.keyId}`,
    ...h.recipients.map((e) => `  recipient: key ${e.keyId} (${e.alg})`),
    `  createdAt: ${h.createdAt}`,
    `  expiresAt: ${h.expiresAt}`,
  ];
  const s = r.signerCertificate;
  if (!r.trustAnchor) {
    lines.push(`signer: not checked (no --trust folder given)`, `chain: not checked`);
  } else if (!s || !r.chain) {
    lines.push(
      `signer: not found: the trust folder has no signing certificate of ${h.sender.name} with key ${h.sender.keyId}`,
      'chain: -',
      `  trusted root: ${r.trustAnchor.subject} key ${r.trustAnchor.keyId}`,
      `    fingerprint: SHA256 ${r.trustAnchor.fingerprint}`,
    );
  } else {
    const why = s.validNow ? 'yes' : `no (${s.status})`;
    lines.push(
      `signer: ${s.name} (${s.role ?? 'no role'}) key ${s.keyId} serial ${s.serial}`,
      `  certificate: ${s.file}`,
      `  validity: ${iso(s.notBefore)} to ${iso(s.notAfter)}, valid now: ${why}`,
      `  header signature: ${s.headerSignatureValid ? 'verifies with this certificate' : 'DOES NOT VERIFY with this certificate'}`,
      'chain:',
    );
    r.chain.links.forEach((link, index) => {
      const selfSigned = link.subject === link.issuer ? ' (self-signed)' : '';
      lines.push(
        `  ${index + 1}. subject: ${link.subject}`,
        `     issuer: ${link.issuer}${selfSigned}`,
        `     key: ${link.keyId} serial ${link.serial}`,
        `     validity: ${iso(link.notBefore)} to ${iso(link.notAfter)}`,
        `     fingerprint: SHA256 ${link.fingerprint}`,
      );
    });
    lines.push(
      r.chain.trustedRoot
        ? `  trusted root: yes (the trust folder's CA, key ${r.trustAnchor.keyId})`
        : `  trusted root: NO (${r.chain.problem ?? 'does not chain to the trust folder CA'}; trusted CA is ${r.trustAnchor.subject} key ${r.trustAnchor.keyId})`,
      `  revocation: ${describeRevocation(r.chain.revocation)}`,
    );
  }
  const v = r.bundleValidity;
  const state = v.expired
    ? 'EXPIRED'
    : v.notYetValid
      ? 'NOT YET VALID (created in the future)'
      : 'not expired';
  lines.push(
    `bundle validity: created ${v.createdAt}, expires ${v.expiresAt}: ${state} at ${iso(r.checkedAt)}`,
    `verdict: ${r.verdict.ok ? 'OK' : 'NOT VERIFIED'} [${r.verdict.code}] ${r.verdict.message}`,
  );
  return lines;
}

function describeRevocation(rev: RevocationReport): string {
  if (rev.status === 'no-crl') return 'not checked: the trust folder has no CRL (bridge-keys import-crl)';
  const crl = `CRL of ${rev.crlThisUpdate ? iso(rev.crlThisUpdate) : '?'}, next update ${rev.crlNextUpdate ? iso(rev.crlNextUpdate) : '-'}${rev.crlOutdated ? ', OUTDATED: install a fresh CRL' : ''}`;
  return rev.status === 'revoked'
    ? `REVOKED at ${rev.revokedAt ? iso(rev.revokedAt) : '?'} (${crl})`
    : `not revoked (${crl})`;
}

/**
 * Writes the evidence for an independent check: header.json (the exact signed header bytes),
 * header.preimage (what the signature covers), header.sig (raw signature), the signer's certificate and
 * public key (the one `inspectBundle` reports, also when the verdict is negative), the CA certificate
 * and, when present, the CRL.
 */
export async function extractBundleEvidence(opts: {
  path: string;
  trust: TrustStore;
  outDir: string;
  now?: Date;
}): Promise<string[]> {
  const envelope = await readBundleEnvelope(opts.path);
  const found = findSignerCertificate(opts.trust, envelope.header.sender, opts.now ?? new Date());
  mkdirSync(opts.outDir, { recursive: true });
  const written: string[] = [];
  const put = (name: string, data: string | Uint8Array): void => {
    const file = join(opts.outDir, name);
    writePublicFile(file, data);
    written.push(file);
  };
  put('header.json', envelope.headerBytes);
  put('header.preimage', headerSignaturePreimage(envelope.headerBytes, envelope.header.suite));
  put('header.sig', envelope.headerSignature);
  put('ca.cert.pem', opts.trust.caPem + '\n');
  const crl = join(opts.trust.dir, CRL_FILE);
  if (existsSync(crl)) {
    copyFileSync(crl, join(opts.outDir, 'crl.pem'));
    written.push(join(opts.outDir, 'crl.pem'));
  }
  if (found) {
    put('signer.cert.pem', found.facts.pem + '\n');
    put('signer.pub.pem', publicKeyOf(found.facts).export({ type: 'spki', format: 'pem' }));
  }
  return written;
}
