// The trust folder (design 5): ca.cert.pem, optional crl.pem, peers/*.cert.pem. Loading does the I/O and
// the signature checks of certificates and CRL once; deciding whether a certificate is usable at a given
// time is pure (style.md rule 4), so tests can pin `now` and step through a rotation.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { KeyError, VerificationError } from '../shared/errors.js';
import {
  NODE_NAME_PATTERN,
  certificateFacts,
  checkCrlSignature,
  checkIssuedBy,
  normaliseSerial,
  x509,
} from './certificates.js';
import { readTextFile } from './key-files.js';
import type { Identity, NodeRole, PeerCertificate, TrustProblem, TrustStore } from './types.js';

export const CA_CERT_FILE = 'ca.cert.pem';
export const CRL_FILE = 'crl.pem';
export const PEERS_DIR = 'peers';

const publicKeys = new Map<string, KeyObject>();

/** The public key of a certificate, parsed once per PEM. */
export function publicKeyOf(cert: { pem: string }): KeyObject {
  let key = publicKeys.get(cert.pem);
  if (!key) {
    key = createPublicKey(cert.pem);
    publicKeys.set(cert.pem, key);
  }
  return key;
}

export function pemToDer(pem: string): Buffer {
  const body = pem.replace(/-----(BEGIN|END) [A-Z0-9 ]+-----/g, '').replace(/\s+/g, '');
  return Buffer.from(body, 'base64');
}

/** Reads and checks a CA certificate file: it must be a self-signed CA certificate. */
export function readCaCertificate(file: string): { pem: string; subject: string; keyId: string } {
  const pem = readTextFile(file, 'CA certificate');
  const facts = certificateFacts(pem, file);
  if (!facts.isCa || facts.usage !== 'ca') {
    throw new KeyError('KEY_INVALID', 'Not a self-signed CA certificate with keyCertSign', {
      where: file,
      hint: 'Copy ca.cert.pem from the bridge CA folder (bridge-keys ca init)',
    });
  }
  // The self-signature is checked like any certificate signature (Ed25519, ECDSA or SM2-with-SM3).
  const selfSigned = checkIssuedBy(facts.pem, facts.pem, 'itself');
  if (!selfSigned.ok) {
    throw new KeyError(
      'KEY_INVALID',
      `Not a self-signed CA certificate with keyCertSign (${selfSigned.reason})`,
      {
        where: file,
        hint: 'Copy ca.cert.pem from the bridge CA folder (bridge-keys ca init); a CA certificate whose signature does not verify may have been altered',
      },
    );
  }
  return { pem: facts.pem, subject: facts.subject, keyId: facts.keyId };
}

/** Parses a CRL and checks that the CA signed it; returns revoked serials with their dates. */
export async function readCrl(
  file: string,
  caPem: string,
): Promise<{ revoked: Map<string, Date>; thisUpdate: Date; nextUpdate: Date | undefined }> {
  const text = readTextFile(file, 'CRL');
  let crl: x509.X509Crl;
  try {
    crl = new x509.X509Crl(pemToDer(text));
  } catch (error) {
    throw new KeyError('KEY_INVALID', 'CRL is not readable', { where: file, cause: error });
  }
  const ca = new x509.X509Certificate(caPem);
  // Issuer first, then the signature, dispatched on the CRL's algorithm OID (SM2-with-SM3 or the others).
  const signed =
    crl.issuer === ca.subject
      ? await checkCrlSignature(crl, caPem)
      : { ok: false as const, reason: `issuer "${crl.issuer}" is not the CA "${ca.subject}"` };
  if (!signed.ok) {
    throw new KeyError('KEY_INVALID', `CRL is not signed by the trusted CA: ${signed.reason}`, {
      where: file,
      hint: 'Install a CRL produced by `bridge-keys crl` for this CA; refusing to run with a forged CRL',
    });
  }
  const revoked = new Map<string, Date>();
  for (const entry of crl.entries) revoked.set(normaliseSerial(entry.serialNumber), entry.revocationDate);
  return { revoked, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate };
}

/** Loads ca.cert.pem, crl.pem (optional) and peers/*.cert.pem; validates each peer cert chains to the CA. */
export async function loadTrustStore(trustDir: string): Promise<TrustStore> {
  const caFile = join(trustDir, CA_CERT_FILE);
  if (!existsSync(caFile)) {
    throw new KeyError('KEY_CA_MISSING', 'Trust folder has no CA certificate', {
      where: caFile,
      hint: 'Copy ca.cert.pem from the bridge CA, or run `bridge-keys import-cert --trust DIR --ca-cert FILE`',
    });
  }
  const ca = readCaCertificate(caFile);
  const crlFile = join(trustDir, CRL_FILE);
  const crl = existsSync(crlFile) ? await readCrl(crlFile, ca.pem) : undefined;
  const peers: PeerCertificate[] = [];
  const problems: TrustProblem[] = [];
  const peersDir = join(trustDir, PEERS_DIR);
  const entries = existsSync(peersDir) ? readdirSync(peersDir).filter((f) => f.endsWith('.cert.pem')) : [];
  for (const entry of entries.sort()) {
    const file = join(peersDir, entry);
    const checked = checkPeerCertificate(readTextFile(file, 'Peer certificate'), file, ca.pem);
    if ('reason' in checked) problems.push(checked);
    else peers.push(checked);
  }
  return Object.freeze({
    dir: trustDir,
    caSubject: ca.subject,
    caKeyId: ca.keyId,
    caPem: ca.pem,
    peers: Object.freeze(peers),
    problems: Object.freeze(problems),
    revoked: crl?.revoked ?? new Map<string, Date>(),
    crlThisUpdate: crl?.thisUpdate,
    crlNextUpdate: crl?.nextUpdate,
  });
}

/** Checks one node certificate against the CA (signature, role, usage); pure apart from parsing. */
export function checkPeerCertificate(
  pem: string,
  file: string,
  caPem: string,
): PeerCertificate | TrustProblem {
  let facts;
  try {
    facts = certificateFacts(pem, file);
  } catch {
    return { file, reason: 'not a readable X.509 certificate' };
  }
  const known = { file, name: facts.name, keyId: facts.keyId };
  const issued = checkIssuedBy(facts.pem, caPem);
  if (!issued.ok) return { ...known, reason: issued.reason };
  // Names become file names and header fields; refuse anything outside the node-name alphabet.
  if (!NODE_NAME_PATTERN.test(facts.name))
    return { ...known, reason: 'node name (CN) outside the allowed characters' };
  if (!facts.role) return { ...known, reason: 'no consistent node role (OU and role extension)' };
  if (facts.usage !== 'sign' && facts.usage !== 'encrypt')
    return { ...known, reason: 'not a signing or encryption certificate' };
  return {
    name: facts.name,
    role: facts.role,
    usage: facts.usage,
    keyId: facts.keyId,
    notBefore: facts.notBefore,
    notAfter: facts.notAfter,
    serial: facts.serial,
    pem: facts.pem,
    file,
  };
}

export type CertificateStatus = 'valid' | 'revoked' | 'expired' | 'not-yet-valid';

/** Status of a chained certificate at `now`: revocation first, then the validity window. */
export function certificateStatus(trust: TrustStore, cert: PeerCertificate, now: Date): CertificateStatus {
  const revokedAt = trust.revoked.get(cert.serial);
  if (revokedAt && revokedAt.getTime() <= now.getTime()) return 'revoked';
  if (now.getTime() > cert.notAfter.getTime()) return 'expired';
  if (now.getTime() < cert.notBefore.getTime()) return 'not-yet-valid';
  return 'valid';
}

/** Current, valid (at `now`, not revoked) encryption certificates of a named peer; the newest first. */
export function recipientCertificates(trust: TrustStore, peerName: string, now: Date): PeerCertificate[] {
  return trust.peers
    .filter(
      (c) => c.name === peerName && c.usage === 'encrypt' && certificateStatus(trust, c, now) === 'valid',
    )
    .sort((a, b) => b.notBefore.getTime() - a.notBefore.getTime() || a.keyId.localeCompare(b.keyId));
}

/**
 * Finds the certificate that signed a bundle and checks it is usable at `now` for the expected role.
 * Each refusal has its own code (design 4): unknown sender, untrusted, revoked, expired, wrong role.
 */
export function resolveSigner(
  trust: TrustStore,
  sender: { name: string; keyId: string },
  now: Date,
  expectRole: NodeRole | undefined,
  where: string,
): PeerCertificate {
  const candidates = trust.peers.filter(
    (c) => c.usage === 'sign' && c.name === sender.name && c.keyId === sender.keyId,
  );
  if (candidates.length === 0) {
    const untrusted = trust.problems.find((p) => p.name === sender.name && p.keyId === sender.keyId);
    if (untrusted) {
      throw new VerificationError(
        'VERIFY_UNTRUSTED_CERTIFICATE',
        `Sender ${sender.name}'s signing certificate is not trusted: ${untrusted.reason} (${untrusted.file})`,
        { where, hint: 'Quarantine the bundle; only certificates issued by the bridge CA are accepted' },
      );
    }
    const sameName = trust.peers.some((c) => c.name === sender.name && c.usage === 'sign');
    throw new VerificationError(
      'VERIFY_UNKNOWN_SENDER',
      sameName
        ? `Sender ${sender.name} is known, but not with signing key ${sender.keyId}`
        : `Unknown sender ${sender.name} (key ${sender.keyId})`,
      {
        where,
        hint: `Import the sender's current signing certificate with \`bridge-keys import-cert --trust ${trust.dir}\` if it is legitimate`,
      },
    );
  }
  const statuses = candidates.map((c) => ({ cert: c, status: certificateStatus(trust, c, now) }));
  const usable = statuses.filter((s) => s.status === 'valid');
  if (usable.length === 0) {
    const revoked = statuses.find((s) => s.status === 'revoked');
    if (revoked) {
      throw new VerificationError(
        'VERIFY_CERTIFICATE_REVOKED',
        `Sender ${sender.name}'s signing certificate (serial ${revoked.cert.serial}) is revoked`,
        { where, hint: 'Quarantine the bundle; ask the sender to re-send it signed with a current key' },
      );
    }
    const first = statuses[0]!;
    throw new VerificationError(
      'VERIFY_CERTIFICATE_EXPIRED',
      first.status === 'expired'
        ? `Sender ${sender.name}'s signing certificate expired at ${first.cert.notAfter.toISOString()}`
        : `Sender ${sender.name}'s signing certificate is not valid before ${first.cert.notBefore.toISOString()}`,
      { where, hint: 'Check both clocks; otherwise renew the certificate and import it' },
    );
  }
  const rightRole = usable.find((s) => expectRole === undefined || s.cert.role === expectRole);
  if (!rightRole) {
    throw new VerificationError(
      'VERIFY_WRONG_ROLE',
      `Sender ${sender.name} has role ${usable[0]!.cert.role}, but bundles here must come from a ${String(expectRole)} node`,
      { where, hint: 'Quarantine the bundle; a node may only send on its own lane' },
    );
  }
  return rightRole.cert;
}

export interface CertificateExpiry {
  /** Node name (subject CN) of the certificate. */
  name: string;
  usage: 'sign' | 'encrypt';
  notBefore: Date;
  notAfter: Date;
}

/**
 * The certificates a node holds (its signing certificate) and trusts (the peers in its trust folder),
 * revoked ones left out, for expiry warnings in metrics, reports and the doctor. Per name and usage
 * only the one that lasts longest is kept: during a rotation the old one expiring is expected, and
 * what an alert must watch is the newest.
 */
export function nodeCertificates(
  identity: Pick<Identity, 'signCertificate'>,
  trust: TrustStore,
  now: Date = new Date(),
): CertificateExpiry[] {
  const byName = new Map<string, CertificateExpiry>();
  const candidates = [
    identity.signCertificate,
    ...trust.peers.filter((c) => certificateStatus(trust, c, now) !== 'revoked'),
  ];
  for (const c of candidates) {
    const key = `${c.name}\u0000${c.usage}`;
    const previous = byName.get(key);
    if (!previous || c.notAfter.getTime() > previous.notAfter.getTime()) {
      byName.set(key, { name: c.name, usage: c.usage, notBefore: c.notBefore, notAfter: c.notAfter });
    }
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name) || a.usage.localeCompare(b.usage));
}
