// X.509 for the bridge: generation with @peculiar/x509 over Node's webcrypto (Ed25519 and P-256 CAs) or
// hand-built TBS signed with SM2-with-SM3 (SM2 CAs, sm2-x509.ts), parsing of the fields the bridge relies
// on (node name, role, usage, key id, validity), and signature checks dispatched on the algorithm OID.
// tsyringe (used inside @peculiar/x509) needs the Reflect metadata API before the library loads.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import {
  X509Certificate as NodeX509Certificate,
  createPublicKey,
  webcrypto,
  type KeyObject,
} from 'node:crypto';
import { KeyError } from '../shared/errors.js';
import { keyIdOf } from './primitives.js';
import { MAX_NAME_LENGTH } from './limits.js';
import { isSm2Key } from './sm2.js';
import {
  SM2_WITH_SM3_OID,
  createSm2Certificate,
  createSm2Crl,
  sm2SignatureValid,
  splitSignedObject,
} from './sm2-x509.js';
import type { NodeRole } from './types.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };

/**
 * The node role is stated twice, and both must agree: in the subject OU (for people reading the
 * certificate) and as a subjectAltName URI (for programs). A private-OID extension was the first
 * choice, but @peculiar/x509 re-encodes OIDs with arcs above 2^53 (the unregistered 2.25.<uuid> arc)
 * incorrectly, so the standard SAN extension carries it instead (docs/decisions-crypto.md).
 */
export const ROLE_URI_PREFIX = 'urn:x-govbank-bridge:role:';
export const ORGANISATION = 'govbank-bridge';

/** Node names end up in file names and headers, so they are restricted to a safe alphabet. */
export const NODE_NAME_PATTERN = new RegExp(`^[A-Za-z0-9][A-Za-z0-9._-]{0,${MAX_NAME_LENGTH - 1}}$`);

export type CertificateUsage = 'sign' | 'encrypt' | 'ca';
/** Node and CA signing keys; 'sm2' for national-suite nodes and for an SM2 CA (SM2-with-SM3 chain). */
export type SigningAlgorithm = 'ed25519' | 'ecdsa-p256' | 'sm2';

/** What the bridge reads out of one certificate. */
export interface CertificateFacts {
  name: string;
  role: NodeRole | undefined;
  usage: CertificateUsage | undefined;
  keyId: string;
  keyType: string;
  notBefore: Date;
  notAfter: Date;
  /** Lowercase hex without leading zeros, the same normalisation as CRL entries. */
  serial: string;
  issuer: string;
  subject: string;
  pem: string;
  publicKey: KeyObject;
  isCa: boolean;
}

export function normaliseSerial(serial: string): string {
  const hex = serial.toLowerCase().replace(/^0+/, '');
  return hex === '' ? '0' : hex;
}

export function roleAlternativeName(role: NodeRole): x509.SubjectAlternativeNameExtension {
  return new x509.SubjectAlternativeNameExtension(
    [{ type: 'url', value: `${ROLE_URI_PREFIX}${role}` }],
    false,
  );
}

function roleFromAlternativeName(cert: x509.X509Certificate): string | undefined {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const uris = (san?.names.items ?? [])
    .filter((n) => n.type === 'url' && n.value.startsWith(ROLE_URI_PREFIX))
    .map((n) => n.value.slice(ROLE_URI_PREFIX.length));
  return uris.length === 1 ? uris[0] : undefined;
}

/** Parses a PEM certificate into the facts the bridge uses; throws KeyError KEY_INVALID naming `where`. */
export function certificateFacts(pem: string, where: string): CertificateFacts {
  let cert: x509.X509Certificate;
  let publicKey: KeyObject;
  try {
    cert = new x509.X509Certificate(pem);
    publicKey = createPublicKey(pem);
  } catch (error) {
    throw new KeyError('KEY_INVALID', 'Not a readable X.509 certificate', {
      where,
      hint: 'Check that the file is a PEM certificate produced by bridge-keys',
      cause: error,
    });
  }
  const name = cert.subjectName.getField('CN')[0] ?? '';
  const ou = cert.subjectName.getField('OU')[0];
  const extensionRole = roleFromAlternativeName(cert);
  // Role must be stated consistently: the SAN URI is authoritative, OU must agree with it.
  let role: NodeRole | undefined;
  if (extensionRole === 'inner' || extensionRole === 'outer')
    role = ou === extensionRole ? extensionRole : undefined;
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  const isCa = basic?.ca === true;
  const keyUsage = cert.getExtension(x509.KeyUsagesExtension);
  const flags = keyUsage?.usages ?? 0;
  const sm2Key = isSm2Key(publicKey);
  const keyType = publicKey.asymmetricKeyType ?? (sm2Key ? 'sm2' : 'unknown');
  let usage: CertificateUsage | undefined;
  if (isCa && flags & x509.KeyUsageFlags.keyCertSign) usage = 'ca';
  // Encryption keys are X25519, or P-256 when held in a PKCS#11 token (docs/bundle-format.md, 6.2).
  else if (flags & x509.KeyUsageFlags.keyAgreement && (keyType === 'x25519' || isP256(publicKey)))
    usage = 'encrypt';
  // National suite (sm-v1): SM2 encryption keys encipher the data key; SM2 signing keys sign.
  else if (flags & x509.KeyUsageFlags.keyEncipherment && sm2Key) usage = 'encrypt';
  else if (
    flags & x509.KeyUsageFlags.digitalSignature &&
    (keyType === 'ed25519' || isP256(publicKey) || sm2Key)
  )
    usage = 'sign';
  return {
    name,
    role,
    usage,
    keyId: keyIdOf(publicKey),
    keyType,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    serial: normaliseSerial(cert.serialNumber),
    issuer: cert.issuer,
    subject: cert.subject,
    pem: cert.toString('pem'),
    publicKey,
    isCa,
  };
}

export function isP256(key: KeyObject): boolean {
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
}

export function signingAlgorithmOf(key: KeyObject): SigningAlgorithm | undefined {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (isP256(key)) return 'ecdsa-p256';
  if (isSm2Key(key)) return 'sm2';
  return undefined;
}

/**
 * Signature algorithms a bridge certificate or CRL may carry, by OID. Ed25519 and ECDSA are checked by
 * node:crypto / @peculiar/x509 as before; SM2-with-SM3 by crypto/sm2.ts with the signer id
 * 1234567812345678 (OpenSSL 3.0 would use an empty id). Anything else is refused by name.
 */
export const CERTIFICATE_SIGNATURE_ALGORITHMS: Readonly<Record<string, string>> = {
  '1.3.101.112': 'Ed25519',
  '1.2.840.10045.4.3.2': 'ECDSA with SHA-256',
  '1.2.840.10045.4.3.3': 'ECDSA with SHA-384',
  '1.2.840.10045.4.3.4': 'ECDSA with SHA-512',
  [SM2_WITH_SM3_OID]: 'SM2-with-SM3',
};

const SUPPORTED_SIGNATURES = 'Ed25519, ECDSA (P-256) or SM2-with-SM3';

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

/** Why a signature algorithm is refused, or undefined when the bridge can check it. */
export function unsupportedSignatureAlgorithm(oid: string): string | undefined {
  return CERTIFICATE_SIGNATURE_ALGORITHMS[oid] === undefined
    ? `signature algorithm ${oid} is not supported (only ${SUPPORTED_SIGNATURES})`
    : undefined;
}

/**
 * Checks that `certPem` names `issuerPem` as issuer and carries a valid signature by its key. The
 * signature check dispatches on the certificate's signatureAlgorithm OID: SM2-with-SM3 goes to
 * sm2-x509.ts, Ed25519 and ECDSA to node:crypto; other algorithms are refused with their OID.
 */
export function checkIssuedBy(
  certPem: string,
  issuerPem: string,
  issuerLabel = 'the trusted CA',
): SignatureCheck {
  let cert: NodeX509Certificate;
  let issuer: NodeX509Certificate;
  let parts;
  try {
    cert = new NodeX509Certificate(certPem);
    issuer = new NodeX509Certificate(issuerPem);
    parts = splitSignedObject(cert.raw);
  } catch {
    return { ok: false, reason: 'not a readable X.509 certificate' };
  }
  const unsupported = unsupportedSignatureAlgorithm(parts.algorithm);
  if (unsupported) return { ok: false, reason: `not issued by ${issuerLabel}: ${unsupported}` };
  try {
    const valid =
      cert.checkIssued(issuer) &&
      (parts.algorithm === SM2_WITH_SM3_OID
        ? sm2SignatureValid(parts, issuer.publicKey)
        : cert.verify(issuer.publicKey));
    return valid ? { ok: true } : { ok: false, reason: `not issued by ${issuerLabel}` };
  } catch {
    return { ok: false, reason: `not issued by ${issuerLabel}` };
  }
}

/** True when `certPem` names `issuerPem` as issuer and carries a valid signature by its key. */
export function isIssuedBy(certPem: string, issuerPem: string): boolean {
  return checkIssuedBy(certPem, issuerPem).ok;
}

/**
 * Checks a CRL's signature with the CA certificate, dispatching on its signatureAlgorithm OID like
 * checkIssuedBy (the issuer name is compared by the caller).
 */
export async function checkCrlSignature(crl: x509.X509Crl, caPem: string): Promise<SignatureCheck> {
  let parts;
  try {
    parts = splitSignedObject(new Uint8Array(crl.rawData));
  } catch {
    return { ok: false, reason: 'CRL is not well-formed DER' };
  }
  const unsupported = unsupportedSignatureAlgorithm(parts.algorithm);
  if (unsupported) return { ok: false, reason: unsupported };
  const valid =
    parts.algorithm === SM2_WITH_SM3_OID
      ? sm2SignatureValid(parts, createPublicKey(caPem))
      : await crl.verify({ publicKey: new x509.X509Certificate(caPem) }).catch(() => false);
  return valid ? { ok: true } : { ok: false, reason: 'signature does not verify with the CA key' };
}

/** What a certificate says, before the CA signs it (the same fields for every CA key type). */
export interface CertificateTemplate {
  serialNumber: string;
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  publicKey: x509.PublicKey;
  extensions: x509.Extension[];
}

/**
 * Signs a certificate with the CA key: Ed25519 and P-256 through @peculiar/x509 on webcrypto (as
 * always), SM2 through a hand-built TBSCertificate signed SM2-with-SM3 (webcrypto has no SM2).
 */
export async function signCertificate(
  caKey: KeyObject,
  template: CertificateTemplate,
): Promise<x509.X509Certificate> {
  if (isSm2Key(caKey)) {
    const der = createSm2Certificate(caKey, {
      serialNumber: template.serialNumber,
      // The same string-to-Name conversion @peculiar/x509 uses, so issuer and CA subject match byte for byte.
      issuer: new x509.Name(template.issuer).toArrayBuffer(),
      subject: new x509.Name(template.subject).toArrayBuffer(),
      notBefore: template.notBefore,
      notAfter: template.notAfter,
      subjectPublicKeyInfo: new Uint8Array(template.publicKey.rawData),
      extensions: template.extensions.map((e) => e.rawData),
    });
    return new x509.X509Certificate(der);
  }
  const signer = await webcryptoSigningKey(caKey);
  return x509.X509CertificateGenerator.create({
    ...template,
    signingKey: signer.key,
    signingAlgorithm: signer.algorithm,
  });
}

export interface CrlTemplate {
  issuer: string;
  thisUpdate: Date;
  nextUpdate: Date;
  entries: { serialNumber: string; revocationDate: Date; reason: x509.X509CrlReason }[];
}

/** Signs a CRL with the CA key: @peculiar/x509 for Ed25519 and P-256, SM2-with-SM3 for an SM2 CA. */
export async function signCrl(caKey: KeyObject, template: CrlTemplate): Promise<x509.X509Crl> {
  if (isSm2Key(caKey)) {
    const der = createSm2Crl(caKey, {
      issuer: new x509.Name(template.issuer).toArrayBuffer(),
      thisUpdate: template.thisUpdate,
      nextUpdate: template.nextUpdate,
      entries: template.entries,
    });
    return new x509.X509Crl(der);
  }
  const signer = await webcryptoSigningKey(caKey);
  return x509.X509CrlGenerator.create({
    ...template,
    signingKey: signer.key,
    signingAlgorithm: signer.algorithm,
  });
}

/** Converts a node:crypto private key into a non-extractable webcrypto signing key for @peculiar/x509. */
export async function webcryptoSigningKey(
  privateKey: KeyObject,
): Promise<{ key: webcrypto.CryptoKey; algorithm: webcrypto.Algorithm | webcrypto.EcdsaParams }> {
  const der = privateKey.export({ type: 'pkcs8', format: 'der' });
  if (privateKey.asymmetricKeyType === 'ed25519') {
    const key = await webcrypto.subtle.importKey('pkcs8', der, { name: 'Ed25519' }, false, ['sign']);
    return { key, algorithm: { name: 'Ed25519' } };
  }
  if (isP256(privateKey)) {
    const key = await webcrypto.subtle.importKey(
      'pkcs8',
      der,
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['sign'],
    );
    return { key, algorithm: { name: 'ECDSA', hash: 'SHA-256' } };
  }
  throw new KeyError('KEY_INVALID', `Unsupported CA key type ${privateKey.asymmetricKeyType ?? 'unknown'}`, {
    hint: 'The CA key must be Ed25519, ECDSA P-256 or SM2 (SM2 CAs sign without webcrypto)',
  });
}

/** PEM for CRLs with the label OpenSSL expects ("X509 CRL"). */
export function crlToPem(crl: x509.X509Crl): string {
  return x509.PemConverter.encode(crl.rawData, 'X509 CRL') + '\n';
}

export function certificateToPem(cert: x509.X509Certificate): string {
  return cert.toString('pem') + '\n';
}
