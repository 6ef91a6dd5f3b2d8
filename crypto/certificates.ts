// X.509 for the bridge: generation with @peculiar/x509 over Node's webcrypto, parsing of the fields the
// bridge relies on (node name, role, usage, key id, validity), and signature checks with node:crypto.
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
/** Node signing keys; 'sm2' only for national-suite nodes (the CA itself is Ed25519 or P-256). */
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

/** True when `certPem` names `issuerPem` as issuer and carries a valid signature by its key. */
export function isIssuedBy(certPem: string, issuerPem: string): boolean {
  try {
    const cert = new NodeX509Certificate(certPem);
    const issuer = new NodeX509Certificate(issuerPem);
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
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
    hint: 'The CA key must be Ed25519 or ECDSA P-256',
  });
}

/** PEM for CRLs with the label OpenSSL expects ("X509 CRL"). */
export function crlToPem(crl: x509.X509Crl): string {
  return x509.PemConverter.encode(crl.rawData, 'X509 CRL') + '\n';
}

export function certificateToPem(cert: x509.X509Certificate): string {
  return cert.toString('pem') + '\n';
}
