// The bridge CA and node key issuance (design 5): the verbs behind `bridge-keys`, callable in-process
// (the demo and tests call them directly). Every key event is appended to a hash-chained audit log.
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync } from 'node:fs';
import { basename, join } from 'node:path';
import { syncDirectory, writeFileAtomicSync } from '../shared/atomic-file.js';
import { KeyError } from '../shared/errors.js';
import { appendAuditEvent } from './audit-log.js';
import {
  NODE_NAME_PATTERN,
  ORGANISATION,
  certificateFacts,
  certificateToPem,
  crlToPem,
  roleAlternativeName,
  normaliseSerial,
  signCertificate,
  signCrl,
  x509,
  type SigningAlgorithm,
} from './certificates.js';
import {
  ENC_CERT_FILE,
  ENC_KEY_FILE,
  SIGN_CERT_FILE,
  SIGN_KEY_FILE,
  TOKEN_CONFIG_FILE,
  readNodeCertificate,
} from './identity.js';
import {
  readPrivateKeyFile,
  readTextFile,
  requirePassphrase,
  writePrivateKeyFile,
  writePublicFile,
} from './key-files.js';
import { keyIdOf, spkiDerOf } from './primitives.js';
import {
  CA_CERT_FILE,
  CRL_FILE,
  PEERS_DIR,
  certificateStatus,
  checkPeerCertificate,
  loadTrustStore,
  pemToDer,
  readCaCertificate,
  readCrl,
} from './trust-store.js';
import { generateSm2PrivateKey, isSm2Key } from './sm2.js';
import type { NodeRole, PeerCertificate, SuiteName } from './types.js';

export const CA_KEY_FILE = 'ca.key.pem';
export const CA_STATE_FILE = 'state.json';
export const CA_ISSUED_DIR = 'issued';
export const AUDIT_FILE = 'audit.log';
export const TRUST_EXPORT_DIR = 'trust-export';
const DAY_MS = 86_400_000;
/** Certificates start slightly in the past so that a peer with a slow clock accepts them at once. */
const BACKDATE_MS = 5 * 60 * 1000;
/** The CRL is re-signed at every revocation; nextUpdate tells relying parties how stale is too stale. */
const DEFAULT_CRL_DAYS = 30;

interface CaState {
  version: 1;
  revoked: { serial: string; revokedAt: string; reason: string }[];
}

export interface LoadedCa {
  dir: string;
  key: KeyObject;
  pem: string;
  subject: string;
  keyId: string;
}

export interface InitCaOptions {
  dir: string;
  passphrase: string;
  name?: string;
  days?: number;
  algorithm?: SigningAlgorithm;
  now?: Date;
}

export interface InitCaResult {
  certFile: string;
  subject: string;
  keyId: string;
  notAfter: Date;
}

function generateSigningKey(algorithm: SigningAlgorithm): KeyObject {
  if (algorithm === 'sm2') return generateSm2PrivateKey();
  return algorithm === 'ed25519'
    ? generateKeyPairSync('ed25519').privateKey
    : generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
}

/**
 * 16-byte random serial. The first byte is forced into 0x10..0x7f: positive as a DER INTEGER, and
 * without leading zero, so the hex form in certificates, CRLs and file names is the same (~124 random bits).
 */
function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x10;
  return bytes.toString('hex');
}

export function positiveDays(days: number, what: string): number {
  if (!Number.isInteger(days) || days < 1 || days > 36500) {
    throw new KeyError('KEY_INVALID', `${what} validity must be a whole number of days between 1 and 36500`);
  }
  return days;
}

/** Creates a CA folder: encrypted CA key (0600), self-signed CA certificate, empty CRL, state, audit log. */
export async function initCa(opts: InitCaOptions): Promise<InitCaResult> {
  requirePassphrase(opts.passphrase, 'the CA key');
  const now = opts.now ?? new Date();
  const days = positiveDays(opts.days ?? 3650, 'CA');
  const keyFile = join(opts.dir, CA_KEY_FILE);
  if (existsSync(keyFile) || existsSync(join(opts.dir, CA_CERT_FILE))) {
    throw new KeyError('KEY_CA_EXISTS', 'A CA already exists in this folder', {
      where: opts.dir,
      hint: 'Choose another --dir; never overwrite a CA that has issued certificates',
    });
  }
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  mkdirSync(join(opts.dir, CA_ISSUED_DIR), { recursive: true, mode: 0o700 });
  // An SM2 CA signs its certificates and CRLs SM2-with-SM3 (a fully national chain, bundle-format.md 11.6).
  const algorithm = opts.algorithm ?? 'ed25519';
  const key = generateSigningKey(algorithm);
  const publicKey = await x509.PublicKey.create(new Uint8Array(spkiDerOf(key)));
  const subject = new x509.Name([
    { CN: [opts.name ?? 'govbank-bridge CA'] },
    { O: [ORGANISATION] },
  ]).toString();
  const notAfter = new Date(now.getTime() + days * DAY_MS);
  const cert = await signCertificate(key, {
    serialNumber: newSerial(),
    subject,
    issuer: subject,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter,
    publicKey,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
    ],
  });
  writePrivateKeyFile(keyFile, key, opts.passphrase);
  const certFile = join(opts.dir, CA_CERT_FILE);
  writePublicFile(certFile, certificateToPem(cert));
  writeState(opts.dir, { version: 1, revoked: [] });
  const ca: LoadedCa = {
    dir: opts.dir,
    key,
    pem: cert.toString('pem'),
    subject: cert.subject,
    keyId: keyIdOf(key),
  };
  await writeCrl(ca, join(opts.dir, CRL_FILE), [], now, DEFAULT_CRL_DAYS);
  appendAuditEvent(
    join(opts.dir, AUDIT_FILE),
    'ca-init',
    { subject: cert.subject, keyId: ca.keyId, algorithm, notAfter: notAfter.toISOString() },
    now,
  );
  return { certFile, subject: cert.subject, keyId: ca.keyId, notAfter };
}

function writeState(dir: string, state: CaState): void {
  writeFileAtomicSync(join(dir, CA_STATE_FILE), `${JSON.stringify(state, null, 2)}\n`, 0o600);
}

function readState(dir: string): CaState {
  const file = join(dir, CA_STATE_FILE);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as CaState;
  } catch (error) {
    throw new KeyError('KEY_CA_MISSING', 'CA state file is missing or unreadable', {
      where: file,
      hint: 'Point --ca at a folder created by `bridge-keys ca init`',
      cause: error,
    });
  }
}

/** Loads the CA key and certificate, checking that they belong together. */
export function loadCa(dir: string, passphrase: string): LoadedCa {
  const certFile = join(dir, CA_CERT_FILE);
  if (!existsSync(certFile)) {
    throw new KeyError('KEY_CA_MISSING', 'No CA certificate in this folder', {
      where: certFile,
      hint: 'Create a CA with `bridge-keys ca init --dir DIR`, or point --ca at the right folder',
    });
  }
  const cert = readCaCertificate(certFile);
  const keyFile = join(dir, CA_KEY_FILE);
  const key = readPrivateKeyFile(keyFile, passphrase);
  if (keyIdOf(key) !== cert.keyId) {
    throw new KeyError('KEY_INVALID', 'CA key does not match ca.cert.pem', { where: keyFile });
  }
  return { dir, key, pem: cert.pem, subject: cert.subject, keyId: cert.keyId };
}

interface CertificateRequest {
  publicKey: KeyObject;
  name: string;
  role: NodeRole;
  usage: 'sign' | 'encrypt';
  days: number;
  now: Date;
}

/** Issues one node certificate: CN = name, OU = role, role SAN URI, keyUsage by usage. */
export async function issueCertificate(ca: LoadedCa, req: CertificateRequest): Promise<string> {
  const publicKey = await x509.PublicKey.create(new Uint8Array(spkiDerOf(req.publicKey)));
  const caCert = new x509.X509Certificate(ca.pem);
  const subject = new x509.Name([{ CN: [req.name] }, { OU: [req.role] }, { O: [ORGANISATION] }]).toString();
  // X25519 (and P-256) encryption keys agree on a key; SM2 encryption keys encipher the data key.
  const usage =
    req.usage === 'sign'
      ? x509.KeyUsageFlags.digitalSignature
      : isSm2Key(req.publicKey)
        ? x509.KeyUsageFlags.keyEncipherment
        : x509.KeyUsageFlags.keyAgreement;
  const cert = await signCertificate(ca.key, {
    serialNumber: newSerial(),
    subject,
    issuer: caCert.subject,
    notBefore: new Date(req.now.getTime() - BACKDATE_MS),
    // A certificate never outlives its CA: relying parties would reject the chain after that anyway.
    notAfter: new Date(Math.min(req.now.getTime() + req.days * DAY_MS, caCert.notAfter.getTime())),
    publicKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usage, true),
      roleAlternativeName(req.role),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  const pem = certificateToPem(cert);
  writePublicFile(join(ca.dir, CA_ISSUED_DIR, `${normaliseSerial(cert.serialNumber)}.cert.pem`), pem);
  return pem;
}

export interface IssueNodeKeysOptions {
  caDir: string;
  caPassphrase: string;
  role: NodeRole;
  name: string;
  /** The node's keys folder; must not already hold keys. */
  outDir: string;
  /** Encrypts the node's private keys. */
  passphrase: string;
  days?: number;
  signAlgorithm?: SigningAlgorithm;
  /** 'sm-v1' issues SM2 signing and encryption keys (national suite); default 'intl-v1'. */
  suite?: SuiteName;
  now?: Date;
}

export interface IssueNodeKeysResult {
  signCertificate: PeerCertificate;
  encCertificate: PeerCertificate;
  /** KEYS_DIR/trust-export: the certificates to hand to the peer (and ca.cert.pem). */
  exportDir: string;
}

export function checkNodeName(name: string): void {
  if (!NODE_NAME_PATTERN.test(name)) {
    throw new KeyError('KEY_INVALID', `Invalid node name "${name}"`, {
      hint: 'Use 1-64 characters: letters, digits, dot, underscore, hyphen; starting with a letter or digit',
    });
  }
}

export function checkRole(role: string): asserts role is NodeRole {
  if (role !== 'inner' && role !== 'outer') {
    throw new KeyError('KEY_INVALID', `Invalid role "${role}"`, { hint: 'Use inner or outer' });
  }
}

/** Generates a node's signing and encryption key pairs and certificates, and its trust-export folder. */
export async function issueNodeKeys(opts: IssueNodeKeysOptions): Promise<IssueNodeKeysResult> {
  checkNodeName(opts.name);
  checkRole(opts.role);
  requirePassphrase(opts.passphrase, 'the node keys');
  const now = opts.now ?? new Date();
  const days = positiveDays(opts.days ?? 365, 'Node certificate');
  const ca = loadCa(opts.caDir, opts.caPassphrase);
  for (const file of [SIGN_KEY_FILE, ENC_KEY_FILE]) {
    if (existsSync(join(opts.outDir, file))) {
      throw new KeyError('KEY_EXISTS', 'Keys folder already holds node keys', {
        where: join(opts.outDir, file),
        hint: 'Use `bridge-keys rotate` to replace an encryption key, or choose an empty --out folder',
      });
    }
  }
  mkdirSync(opts.outDir, { recursive: true, mode: 0o700 });
  const national = opts.suite === 'sm-v1' || opts.signAlgorithm === 'sm2';
  if (national && opts.signAlgorithm !== undefined && opts.signAlgorithm !== 'sm2') {
    throw new KeyError('KEY_INVALID', `Suite sm-v1 signs with SM2, not ${opts.signAlgorithm}`);
  }
  if (national && opts.suite === 'intl-v1') {
    throw new KeyError('KEY_INVALID', 'Suite intl-v1 cannot use SM2 keys; use suite sm-v1');
  }
  const signKey = generateSigningKey(national ? 'sm2' : (opts.signAlgorithm ?? 'ed25519'));
  const encKey = national ? generateSm2PrivateKey() : generateKeyPairSync('x25519').privateKey;
  const common = { name: opts.name, role: opts.role, days, now };
  const signPem = await issueCertificate(ca, { ...common, publicKey: signKey, usage: 'sign' });
  const encPem = await issueCertificate(ca, { ...common, publicKey: encKey, usage: 'encrypt' });
  writePrivateKeyFile(join(opts.outDir, SIGN_KEY_FILE), signKey, opts.passphrase);
  writePrivateKeyFile(join(opts.outDir, ENC_KEY_FILE), encKey, opts.passphrase);
  writePublicFile(join(opts.outDir, SIGN_CERT_FILE), signPem);
  writePublicFile(join(opts.outDir, ENC_CERT_FILE), encPem);
  writePublicFile(join(opts.outDir, CA_CERT_FILE), ca.pem + '\n');
  const signCertificate = readNodeCertificate(join(opts.outDir, SIGN_CERT_FILE), 'sign');
  const encCertificate = readNodeCertificate(join(opts.outDir, ENC_CERT_FILE), 'encrypt');
  const exportDir = join(opts.outDir, TRUST_EXPORT_DIR);
  exportCertificates({ keysDir: opts.outDir, outDir: exportDir });
  appendAuditEvent(
    join(opts.caDir, AUDIT_FILE),
    'issue',
    {
      name: opts.name,
      role: opts.role,
      signSerial: signCertificate.serial,
      signKeyId: signCertificate.keyId,
      encSerial: encCertificate.serial,
      encKeyId: encCertificate.keyId,
      notAfter: signCertificate.notAfter.toISOString(),
      suite: national ? 'sm-v1' : 'intl-v1',
    },
    now,
  );
  return { signCertificate, encCertificate, exportDir };
}

/** Copies a node's current certificates (and the CA certificate) into a folder for its peer. */
export function exportCertificates(opts: { keysDir: string; outDir: string }): string[] {
  const sign = readNodeCertificate(join(opts.keysDir, SIGN_CERT_FILE), 'sign');
  const enc = readNodeCertificate(join(opts.keysDir, ENC_CERT_FILE), 'encrypt');
  mkdirSync(opts.outDir, { recursive: true });
  const written = [
    join(opts.outDir, `${sign.name}-sign.cert.pem`),
    join(opts.outDir, `${enc.name}-enc.cert.pem`),
  ];
  writePublicFile(written[0]!, sign.pem + '\n');
  writePublicFile(written[1]!, enc.pem + '\n');
  const caFile = join(opts.keysDir, CA_CERT_FILE);
  if (existsSync(caFile)) {
    written.push(join(opts.outDir, CA_CERT_FILE));
    copyFileSync(caFile, join(opts.outDir, CA_CERT_FILE));
  }
  return written;
}

export interface ImportCertificatesOptions {
  trustDir: string;
  files: string[];
  /** Installs this CA certificate as the trust anchor if the trust folder has none yet. */
  caCertFile?: string;
  now?: Date;
}

/**
 * Copies peer certificates into TRUST_DIR/peers after checking each chains to the trust folder's CA,
 * is a node certificate, is currently valid and not revoked. A copy of the trust anchor itself among
 * the files is skipped, so a whole trust-export folder can be imported at once.
 */
export async function importCertificates(opts: ImportCertificatesOptions): Promise<PeerCertificate[]> {
  const now = opts.now ?? new Date();
  const caFile = join(opts.trustDir, CA_CERT_FILE);
  mkdirSync(join(opts.trustDir, PEERS_DIR), { recursive: true });
  if (opts.caCertFile) {
    const offered = readCaCertificate(opts.caCertFile);
    if (!existsSync(caFile)) {
      writePublicFile(caFile, offered.pem + '\n');
    } else if (readCaCertificate(caFile).keyId !== offered.keyId) {
      throw new KeyError('KEY_INVALID', 'The trust folder already trusts a different CA', {
        where: caFile,
        hint: 'Replacing a trust anchor is a deliberate act: move the old trust folder away first',
      });
    }
  }
  const trust = await loadTrustStore(opts.trustDir);
  // Check every file first, so a bad one among several leaves the trust folder unchanged.
  const accepted: PeerCertificate[] = [];
  for (const file of opts.files) {
    const pem = readTextFile(file, 'Certificate');
    const facts = certificateFacts(pem, file);
    if (facts.isCa) {
      if (facts.keyId === trust.caKeyId) continue;
      throw new KeyError('KEY_INVALID', 'This is a different CA certificate, not a node certificate', {
        where: file,
        hint: 'Only certificates issued by the trusted CA can be imported',
      });
    }
    const checked = checkPeerCertificate(pem, file, trust.caPem);
    if ('reason' in checked) {
      throw new KeyError('KEY_INVALID', `Refusing to import: ${checked.reason}`, {
        where: file,
        hint: `The trusted CA is "${trust.caSubject}"`,
      });
    }
    const status = certificateStatus(trust, checked, now);
    if (status === 'revoked') {
      throw new KeyError('KEY_REVOKED', `Refusing to import revoked certificate serial ${checked.serial}`, {
        where: file,
      });
    }
    if (status === 'expired') {
      throw new KeyError(
        'KEY_EXPIRED',
        `Refusing to import expired certificate (${checked.notAfter.toISOString()})`,
        {
          where: file,
        },
      );
    }
    const usageTag = checked.usage === 'sign' ? 'sign' : 'enc';
    let target = join(opts.trustDir, PEERS_DIR, `${checked.name}-${usageTag}.cert.pem`);
    if (existsSync(target)) {
      const existing = checkPeerCertificate(readTextFile(target, 'Peer certificate'), target, trust.caPem);
      // Several certificates per peer are kept during a rotation: a different key gets its own file.
      if ('reason' in existing || existing.keyId !== checked.keyId) {
        target = join(opts.trustDir, PEERS_DIR, `${checked.name}-${usageTag}-${checked.keyId}.cert.pem`);
      }
    }
    accepted.push({ ...checked, file: target });
  }
  const imported: PeerCertificate[] = [];
  for (const cert of accepted) {
    writePublicFile(cert.file, cert.pem + '\n');
    imported.push(cert);
    appendAuditEvent(
      join(opts.trustDir, AUDIT_FILE),
      'import-cert',
      {
        name: cert.name,
        role: cert.role,
        usage: cert.usage,
        serial: cert.serial,
        keyId: cert.keyId,
        file: basename(cert.file),
      },
      now,
    );
  }
  return imported;
}

export interface RevokeOptions {
  caDir: string;
  caPassphrase: string;
  serial?: string;
  certFile?: string;
  reason?: keyof typeof x509.X509CrlReason;
  now?: Date;
  crlDays?: number;
}

/** Revokes a certificate by serial (or from its file) and re-signs ca/crl.pem. */
export async function revokeCertificate(opts: RevokeOptions): Promise<{ serial: string; crlFile: string }> {
  const now = opts.now ?? new Date();
  const ca = loadCa(opts.caDir, opts.caPassphrase);
  let serial: string;
  if (opts.certFile)
    serial = certificateFacts(readTextFile(opts.certFile, 'Certificate'), opts.certFile).serial;
  else if (opts.serial && /^[0-9a-fA-F]+$/.test(opts.serial)) serial = normaliseSerial(opts.serial);
  else throw new KeyError('KEY_INVALID', 'Give the serial (hex) or the certificate file to revoke');
  const reason = opts.reason ?? 'unspecified';
  if (!(reason in x509.X509CrlReason))
    throw new KeyError('KEY_INVALID', `Unknown revocation reason ${reason}`);
  if (!existsSync(join(opts.caDir, CA_ISSUED_DIR, `${serial}.cert.pem`))) {
    throw new KeyError('KEY_NOT_FOUND', `This CA has not issued a certificate with serial ${serial}`, {
      where: join(opts.caDir, CA_ISSUED_DIR),
      hint: 'List issued certificates with `bridge-keys list --ca DIR`',
    });
  }
  const state = readState(opts.caDir);
  if (!state.revoked.some((r) => r.serial === serial)) {
    state.revoked.push({ serial, revokedAt: now.toISOString(), reason });
    writeState(opts.caDir, state);
  }
  const crlFile = join(opts.caDir, CRL_FILE);
  await writeCrl(ca, crlFile, state.revoked, now, opts.crlDays ?? DEFAULT_CRL_DAYS);
  appendAuditEvent(join(opts.caDir, AUDIT_FILE), 'revoke', { serial, reason }, now);
  return { serial, crlFile };
}

/** Writes a freshly signed CRL of every revocation to `out` (for distribution to the nodes). */
export async function createCrl(opts: {
  caDir: string;
  caPassphrase: string;
  out: string;
  days?: number;
  now?: Date;
}): Promise<{ file: string; revoked: number }> {
  const now = opts.now ?? new Date();
  const ca = loadCa(opts.caDir, opts.caPassphrase);
  const state = readState(opts.caDir);
  await writeCrl(ca, opts.out, state.revoked, now, opts.days ?? DEFAULT_CRL_DAYS);
  appendAuditEvent(
    join(opts.caDir, AUDIT_FILE),
    'crl',
    { file: basename(opts.out), revoked: state.revoked.length },
    now,
  );
  return { file: opts.out, revoked: state.revoked.length };
}

async function writeCrl(
  ca: LoadedCa,
  file: string,
  revoked: CaState['revoked'],
  now: Date,
  days: number,
): Promise<void> {
  const crl = await signCrl(ca.key, {
    issuer: new x509.X509Certificate(ca.pem).subject,
    thisUpdate: now,
    nextUpdate: new Date(now.getTime() + days * DAY_MS),
    entries: revoked.map((r) => ({
      serialNumber: r.serial,
      revocationDate: new Date(r.revokedAt),
      reason: x509.X509CrlReason[r.reason as keyof typeof x509.X509CrlReason],
    })),
  });
  writePublicFile(file, crlToPem(crl));
}

/** Installs a CRL into a trust folder after checking the CA signed it and it is not older than the current one. */
export async function importCrl(opts: {
  trustDir: string;
  crlFile: string;
  now?: Date;
}): Promise<{ revoked: number }> {
  const now = opts.now ?? new Date();
  const ca = readCaCertificate(join(opts.trustDir, CA_CERT_FILE));
  const offered = await readCrl(opts.crlFile, ca.pem);
  const target = join(opts.trustDir, CRL_FILE);
  if (existsSync(target)) {
    const current = await readCrl(target, ca.pem);
    if (offered.thisUpdate.getTime() < current.thisUpdate.getTime()) {
      throw new KeyError('KEY_INVALID', 'Offered CRL is older than the installed one', {
        where: opts.crlFile,
        hint: 'A CRL can only move forward; installing an older one would un-revoke certificates',
      });
    }
  }
  writePublicFile(
    target,
    x509.PemConverter.encode(pemToDer(readFileSync(opts.crlFile, 'utf8')), 'X509 CRL') + '\n',
  );
  appendAuditEvent(
    join(opts.trustDir, AUDIT_FILE),
    'import-crl',
    { revoked: offered.revoked.size, thisUpdate: offered.thisUpdate.toISOString() },
    now,
  );
  return { revoked: offered.revoked.size };
}

export interface RotateOptions {
  caDir: string;
  caPassphrase: string;
  keysDir: string;
  passphrase: string;
  /** Must match the node name in the keys folder (a guard against rotating the wrong node). */
  name?: string;
  days?: number;
  now?: Date;
}

/**
 * Issues a new encryption key and certificate for a node. The old key is kept as enc-<keyId>.key.pem
 * (and its certificate as enc-<keyId>.cert.pem) so bundles already in flight under it still open.
 */
export async function rotateEncryptionKey(
  opts: RotateOptions,
): Promise<{ encCertificate: PeerCertificate; previousKeyId: string; exportDir: string }> {
  // A token keys folder rotates inside its token (crypto/token-issue.ts); loaded only when needed.
  if (existsSync(join(opts.keysDir, TOKEN_CONFIG_FILE))) {
    const { rotateTokenEncryptionKey } = await import('./token-issue.js');
    return rotateTokenEncryptionKey(opts);
  }
  const now = opts.now ?? new Date();
  const days = positiveDays(opts.days ?? 365, 'Node certificate');
  const sign = readNodeCertificate(join(opts.keysDir, SIGN_CERT_FILE), 'sign');
  if (opts.name !== undefined && opts.name !== sign.name) {
    throw new KeyError('KEY_INVALID', `Keys folder belongs to ${sign.name}, not ${opts.name}`, {
      where: opts.keysDir,
    });
  }
  const ca = loadCa(opts.caDir, opts.caPassphrase);
  const oldKeyFile = join(opts.keysDir, ENC_KEY_FILE);
  const oldKey = readPrivateKeyFile(oldKeyFile, opts.passphrase);
  const previousKeyId = keyIdOf(oldKey);
  // The new key is of the same kind as the old one, so the node stays in its suite.
  const newKey = isSm2Key(oldKey) ? generateSm2PrivateKey() : generateKeyPairSync('x25519').privateKey;
  const pem = await issueCertificate(ca, {
    publicKey: newKey,
    name: sign.name,
    role: sign.role,
    usage: 'encrypt',
    days,
    now,
  });
  // Keep the old pair under its key id first, then publish the new pair; a crash in between leaves
  // the old key loadable under its kept name and the new one not yet in use.
  writePrivateKeyFile(join(opts.keysDir, `enc-${previousKeyId}.key.pem`), oldKey, opts.passphrase);
  const oldCert = join(opts.keysDir, ENC_CERT_FILE);
  if (existsSync(oldCert)) renameSync(oldCert, join(opts.keysDir, `enc-${previousKeyId}.cert.pem`));
  writePrivateKeyFile(oldKeyFile, newKey, opts.passphrase);
  writePublicFile(join(opts.keysDir, ENC_CERT_FILE), pem);
  syncDirectory(opts.keysDir);
  const encCertificate = readNodeCertificate(join(opts.keysDir, ENC_CERT_FILE), 'encrypt');
  const exportDir = join(opts.keysDir, TRUST_EXPORT_DIR);
  exportCertificates({ keysDir: opts.keysDir, outDir: exportDir });
  appendAuditEvent(
    join(opts.caDir, AUDIT_FILE),
    'rotate',
    {
      name: sign.name,
      role: sign.role,
      previousKeyId,
      keyId: encCertificate.keyId,
      serial: encCertificate.serial,
    },
    now,
  );
  return { encCertificate, previousKeyId, exportDir };
}

export interface CertificateListing {
  file: string;
  name: string;
  role: string;
  usage: string;
  keyId: string;
  serial: string;
  notAfter: Date;
  status: 'valid' | 'revoked' | 'expired' | 'not-yet-valid' | 'untrusted';
  /** Set when the certificate expires within the warning window. */
  expiresSoon: boolean;
  note?: string;
}

/** Lists the certificates a CA issued, or those in a trust folder, flagging ones that expire soon. */
export async function listCertificates(opts: {
  caDir?: string;
  trustDir?: string;
  now?: Date;
  warnDays?: number;
}): Promise<CertificateListing[]> {
  const now = opts.now ?? new Date();
  const warnMs = (opts.warnDays ?? 30) * DAY_MS;
  const soon = (notAfter: Date): boolean =>
    notAfter.getTime() > now.getTime() && notAfter.getTime() - now.getTime() <= warnMs;
  if (opts.trustDir) {
    const trust = await loadTrustStore(opts.trustDir);
    const rows: CertificateListing[] = trust.peers.map((c) => ({
      file: c.file,
      name: c.name,
      role: c.role,
      usage: c.usage,
      keyId: c.keyId,
      serial: c.serial,
      notAfter: c.notAfter,
      status: certificateStatus(trust, c, now),
      expiresSoon: soon(c.notAfter),
    }));
    for (const p of trust.problems) {
      rows.push({
        file: p.file,
        name: p.name ?? '?',
        role: '?',
        usage: '?',
        keyId: p.keyId ?? '?',
        serial: '?',
        notAfter: new Date(0),
        status: 'untrusted',
        expiresSoon: false,
        note: p.reason,
      });
    }
    return rows;
  }
  if (!opts.caDir) throw new KeyError('KEY_INVALID', 'Give a CA folder or a trust folder to list');
  const caPem = readCaCertificate(join(opts.caDir, CA_CERT_FILE)).pem;
  const state = readState(opts.caDir);
  const revoked = new Set(state.revoked.map((r) => r.serial));
  const issuedDir = join(opts.caDir, CA_ISSUED_DIR);
  const files = existsSync(issuedDir)
    ? readdirSync(issuedDir)
        .filter((f) => f.endsWith('.cert.pem'))
        .sort()
    : [];
  const rows: CertificateListing[] = [];
  for (const entry of files) {
    const file = join(issuedDir, entry);
    const checked = checkPeerCertificate(readTextFile(file, 'Certificate'), file, caPem);
    if ('reason' in checked) continue;
    const status = revoked.has(checked.serial)
      ? 'revoked'
      : now > checked.notAfter
        ? 'expired'
        : now < checked.notBefore
          ? 'not-yet-valid'
          : 'valid';
    rows.push({
      file,
      name: checked.name,
      role: checked.role,
      usage: checked.usage,
      keyId: checked.keyId,
      serial: checked.serial,
      notAfter: checked.notAfter,
      status,
      expiresSoon: status === 'valid' && soon(checked.notAfter),
    });
  }
  const ca = certificateFacts(caPem, join(opts.caDir, CA_CERT_FILE));
  rows.unshift({
    file: join(opts.caDir, CA_CERT_FILE),
    name: ca.name,
    role: 'ca',
    usage: 'ca',
    keyId: ca.keyId,
    serial: ca.serial,
    notAfter: ca.notAfter,
    status: now > ca.notAfter ? 'expired' : 'valid',
    expiresSoon: soon(ca.notAfter),
  });
  return rows;
}
