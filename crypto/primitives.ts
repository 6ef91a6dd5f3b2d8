// Small pure helpers: hashing, canonical JSON, identifiers and key ids.
import { X509Certificate, createHash, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';

export function sha256(data: string | Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

export function sha256Hex(data: string | Uint8Array): string {
  return sha256(data).toString('hex');
}

/**
 * Canonical JSON: no whitespace, object keys sorted recursively by UTF-16 code units (as RFC 8785
 * does), arrays in order, `undefined` members omitted. Only finite numbers are allowed, because a
 * NaN would serialise to null and two different values would share one fingerprint.
 */
export function canonicalJson(value: unknown): string {
  return serialise(value, '$');
}

function serialise(value: unknown, path: string): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: non-finite number at ${path}`);
      return JSON.stringify(value);
    case 'object': {
      if (value instanceof Date) return JSON.stringify(value.toISOString());
      if (Array.isArray(value)) {
        return `[${value.map((item, index) => serialise(item ?? null, `${path}[${index}]`)).join(',')}]`;
      }
      const record = value as Record<string, unknown>;
      const members = Object.keys(record)
        .filter((key) => record[key] !== undefined)
        .sort()
        .map((key) => `${JSON.stringify(key)}:${serialise(record[key], `${path}.${key}`)}`);
      return `{${members.join(',')}}`;
    }
    default:
      throw new TypeError(`canonicalJson: cannot serialise a ${typeof value} at ${path}`);
  }
}

/** Contract fingerprint: 'sha256:' + hex SHA-256 of the contract's canonical JSON. */
export function fingerprintContract(contract: unknown): string {
  return `sha256:${sha256Hex(canonicalJson(contract))}`;
}

/** 128 random bits as 32 lowercase hex characters. */
export function randomBundleId(): string {
  return randomBytes(16).toString('hex');
}

export const KEY_ID_PATTERN = /^[0-9a-f]{32}$/;

/**
 * Key id of a public key: the first 16 bytes of SHA-256 over its SubjectPublicKeyInfo DER, in hex.
 * Accepts a PEM public key, a PEM certificate, SPKI DER bytes or a KeyObject (public or private).
 */
export function keyIdOf(publicKeyPemOrDer: string | Uint8Array | KeyObject): string {
  return sha256(spkiDerOf(publicKeyPemOrDer)).subarray(0, 16).toString('hex');
}

/** SubjectPublicKeyInfo DER of a PEM key or certificate, SPKI or certificate DER, or a KeyObject. */
export function spkiDerOf(key: string | Uint8Array | KeyObject): Buffer {
  let publicKey: KeyObject;
  if (typeof key === 'string') publicKey = createPublicKey(key);
  else if (key instanceof Uint8Array) publicKey = publicKeyFromDer(Buffer.from(key));
  else publicKey = key.type === 'public' ? key : createPublicKey(key);
  return publicKey.export({ type: 'spki', format: 'der' });
}

function publicKeyFromDer(der: Buffer): KeyObject {
  try {
    return createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch {
    // Not an SPKI: accept a DER certificate too, as callers may hold certificates in binary form.
    return new X509Certificate(der).publicKey;
  }
}
