// SM2-with-SM3 certificates and CRLs for a fully national chain (docs/bundle-format.md 11.6): the
// TBSCertificate / TBSCertList is built with @peculiar/asn1-x509 and its exact DER is signed with
// crypto/sm2.ts (signer id 1234567812345678, SM3 over Z_A || TBS, DER SEQUENCE { r, s }), because
// @peculiar/x509 signs through webcrypto, which has no SM2 (docs/decisions-crypto.md C9). This file
// also splits any signed X.509 object into the exact TBS bytes, algorithm and signature, which is what
// the verification dispatch in certificates.ts works on.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import {
  AlgorithmIdentifier,
  Certificate,
  CertificateList,
  CRLReason,
  Extension,
  Extensions,
  Name,
  RevokedCertificate,
  SubjectPublicKeyInfo,
  TBSCertList,
  TBSCertificate,
  Time,
  Validity,
  Version,
  id_ce_cRLReasons,
} from '@peculiar/asn1-x509';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { KeyError } from '../shared/errors.js';
import { isSm2Key, readTlv, sm2Sign, sm2Verify } from './sm2.js';

/** SM2-with-SM3 (GM/T 0006 / GM/T 0015): AlgorithmIdentifier with no parameters, as openssl 3 writes it. */
export const SM2_WITH_SM3_OID = '1.2.156.10197.1.501';

/**
 * DER (de)serialisation of @peculiar/asn1-x509 objects through @peculiar/x509's AsnData, which owns
 * the one copy of the ASN.1 schema engine both libraries register their classes with.
 */
class AsnDer<T> extends x509.AsnData<T> {
  protected onInit(): void {
    // Nothing to precompute: this class only converts between objects and DER.
  }
  get value(): T {
    return this.asn;
  }
}

function toDer(value: object): Buffer {
  return Buffer.from(new AsnDer(value).rawData);
}

function fromDer<T>(der: Uint8Array | ArrayBuffer, type: new () => T): T {
  return new AsnDer<T>(der instanceof ArrayBuffer ? der : Uint8Array.from(der), type).value;
}

function sm2WithSm3(): AlgorithmIdentifier {
  return new AlgorithmIdentifier({ algorithm: SM2_WITH_SM3_OID });
}

/** A positive DER INTEGER body for a hex serial (a leading zero only if the high bit is set). */
function serialBytes(hex: string): ArrayBuffer {
  const bytes = Buffer.from(hex.length % 2 === 1 ? `0${hex}` : hex, 'hex');
  const positive = bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
  return Uint8Array.from(positive).buffer;
}

function requireSm2SigningKey(key: KeyObject): void {
  if (key.type !== 'private' || !isSm2Key(key)) {
    throw new KeyError('KEY_INVALID', 'SM2-with-SM3 signing needs an SM2 private key', {
      hint: 'Only a CA created with `bridge-keys ca init --alg sm2` signs SM2-with-SM3',
    });
  }
}

/** The CA refuses to publish what it cannot vouch for: a failed self-check stops issuance. */
function signingFault(what: string): KeyError {
  return new KeyError('KEY_INVALID', `SM2-with-SM3 ${what}; nothing was written`, {
    hint: 'Retry; if it repeats, the CA key file or this installation is damaged: report it to the crypto owners',
  });
}

/** Signs `tbs` and checks the signature once before it leaves (a faulty signature never gets published). */
function signTbs(key: KeyObject, tbs: Buffer): ArrayBuffer {
  const signature = sm2Sign(key, tbs);
  if (!sm2Verify(createPublicKey(key), tbs, signature)) throw signingFault('signature failed its own check');
  return Uint8Array.from(signature).buffer;
}

export interface Sm2CertificateFields {
  /** Hex serial (positive). */
  serialNumber: string;
  /** DER of the issuer and subject Names. */
  issuer: ArrayBuffer;
  subject: ArrayBuffer;
  notBefore: Date;
  notAfter: Date;
  /** SubjectPublicKeyInfo DER of the certified key (any key type the bridge certifies). */
  subjectPublicKeyInfo: Uint8Array;
  /** DER of each Extension, in order. */
  extensions: ArrayBuffer[];
}

/** An X.509 v3 certificate signed SM2-with-SM3 by `caKey`; returns the certificate DER. */
export function createSm2Certificate(caKey: KeyObject, fields: Sm2CertificateFields): Buffer {
  requireSm2SigningKey(caKey);
  const tbsCertificate = new TBSCertificate({
    version: Version.v3,
    serialNumber: serialBytes(fields.serialNumber),
    signature: sm2WithSm3(),
    issuer: fromDer(fields.issuer, Name),
    validity: new Validity({ notBefore: fields.notBefore, notAfter: fields.notAfter }),
    subject: fromDer(fields.subject, Name),
    subjectPublicKeyInfo: fromDer(fields.subjectPublicKeyInfo, SubjectPublicKeyInfo),
    extensions: new Extensions(fields.extensions.map((e) => fromDer(e, Extension))),
  });
  const tbs = toDer(tbsCertificate);
  const der = toDer(
    new Certificate({
      tbsCertificate,
      signatureAlgorithm: sm2WithSm3(),
      signatureValue: signTbs(caKey, tbs),
    }),
  );
  // The signed bytes must be the embedded bytes: re-serialisation is deterministic, but prove it.
  if (!splitSignedObject(der).tbs.equals(tbs)) throw signingFault('certificate changed after signing');
  return der;
}

export interface Sm2CrlFields {
  issuer: ArrayBuffer;
  thisUpdate: Date;
  nextUpdate: Date;
  entries: { serialNumber: string; revocationDate: Date; reason: number }[];
}

/**
 * An X.509 v2 CRL signed SM2-with-SM3; entries carry a reasonCode extension unless the reason is
 * unspecified (0), exactly like the CRLs @peculiar/x509 writes for the other CA keys.
 */
export function createSm2Crl(caKey: KeyObject, fields: Sm2CrlFields): Buffer {
  requireSm2SigningKey(caKey);
  const tbsCertList = new TBSCertList({
    version: Version.v2,
    signature: sm2WithSm3(),
    issuer: fromDer(fields.issuer, Name),
    thisUpdate: new Time(fields.thisUpdate),
    nextUpdate: new Time(fields.nextUpdate),
  });
  if (fields.entries.length > 0) {
    tbsCertList.revokedCertificates = fields.entries.map((entry) => {
      const revoked = new RevokedCertificate({
        userCertificate: serialBytes(entry.serialNumber),
        revocationDate: new Time(entry.revocationDate),
      });
      if (entry.reason !== 0) {
        const reason = new x509.Extension(id_ce_cRLReasons, false, toDer(new CRLReason(entry.reason)));
        revoked.crlEntryExtensions = [fromDer(reason.rawData, Extension)];
      }
      return revoked;
    });
  }
  const tbs = toDer(tbsCertList);
  const der = toDer(
    new CertificateList({ tbsCertList, signatureAlgorithm: sm2WithSm3(), signature: signTbs(caKey, tbs) }),
  );
  if (!splitSignedObject(der).tbs.equals(tbs)) throw signingFault('CRL changed after signing');
  return der;
}

// --- reading a signed object -------------------------------------------------------------------------

export interface SignedObjectParts {
  /** The exact TBSCertificate / TBSCertList bytes as received (what the signature covers). */
  tbs: Buffer;
  /** signatureAlgorithm OID, dotted. */
  algorithm: string;
  /** The DER of the parameters, or undefined when absent. */
  parameters: Buffer | undefined;
  /** The signature bit string's content (whole bytes only). */
  signature: Buffer;
}

/** Dotted text of a DER OBJECT IDENTIFIER body. */
function oidText(body: Uint8Array): string {
  const arcs: bigint[] = [];
  let value = 0n;
  for (const byte of body) {
    value = (value << 7n) | BigInt(byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(value);
      value = 0n;
    }
  }
  if (body.length === 0 || body[body.length - 1]! & 0x80) throw new RangeError('DER: bad OID');
  const first = arcs.shift()!;
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...arcs].join('.');
}

/** The AlgorithmIdentifier SEQUENCE at `at`: OID and raw parameters; throws on malformed DER. */
function readAlgorithm(der: Buffer, at: number): { end: number; algorithm: string; parameters?: Buffer } {
  const sequence = readTlv(der, at, 0x30);
  const oid = readTlv(der, sequence.start, 0x06);
  const algorithm = oidText(der.subarray(oid.start, oid.end));
  return oid.end === sequence.end
    ? { end: sequence.end, algorithm }
    : { end: sequence.end, algorithm, parameters: der.subarray(oid.end, sequence.end) };
}

/**
 * Splits a DER Certificate or CertificateList into TBS, algorithm and signature, strictly: one outer
 * SEQUENCE and nothing after it, a BIT STRING with no unused bits, and the algorithm inside the TBS
 * byte-identical to the outer one (RFC 5280 4.1.1.2 / 5.1.1.2). Throws RangeError on anything else.
 */
export function splitSignedObject(input: Uint8Array): SignedObjectParts {
  const der = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const outer = readTlv(der, 0, 0x30);
  if (outer.end !== der.length) throw new RangeError('DER: bytes after the signed object');
  const tbs = readTlv(der, outer.start, 0x30);
  const algorithm = readAlgorithm(der, tbs.end);
  const bits = readTlv(der, algorithm.end, 0x03);
  if (bits.end !== outer.end) throw new RangeError('DER: extra fields after the signature');
  if (bits.end - bits.start < 2 || der[bits.start] !== 0) throw new RangeError('DER: bad signature bits');
  // Inside the TBS: [0] version (certificates) or INTEGER version (CRLs v2), [serial], then the algorithm.
  let at = tbs.start;
  if (der[at] === 0xa0) at = readTlv(der, at, 0xa0).end;
  if (der[at] === 0x02) at = readTlv(der, at, 0x02).end;
  if (der[at] === 0x02) at = readTlv(der, at, 0x02).end;
  const inner = readAlgorithm(der, at);
  if (!der.subarray(at, inner.end).equals(der.subarray(tbs.end, algorithm.end)))
    throw new RangeError('DER: signature algorithm inside the TBS differs from the outer one');
  return {
    // The TBS is the first element of the outer SEQUENCE: its tag starts where the outer content does.
    tbs: der.subarray(outer.start, tbs.end),
    algorithm: algorithm.algorithm,
    parameters: algorithm.parameters,
    signature: der.subarray(bits.start + 1, bits.end),
  };
}

/** True when `parts` is an SM2-with-SM3 signature (no parameters) by the SM2 key `issuerKey`. */
export function sm2SignatureValid(parts: SignedObjectParts, issuerKey: KeyObject): boolean {
  return (
    parts.algorithm === SM2_WITH_SM3_OID &&
    parts.parameters === undefined &&
    isSm2Key(issuerKey) &&
    sm2Verify(issuerKey, parts.tbs, parts.signature)
  );
}
