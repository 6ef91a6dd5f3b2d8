// Loading a node's own keys (design 5): sign.key.pem + sign.cert.pem, enc.key.pem + enc.cert.pem, and
// kept older decryption keys enc-<keyId>.key.pem, so bundles sealed before a rotation still open. A keys
// folder with a token.yaml holds certificates only: its private keys stay in a PKCS#11 token, used
// through the Signer and Unwrapper interfaces below (crypto/token-identity.ts).
import type { KeyObject } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { KeyError } from '../shared/errors.js';
import { certificateFacts, signingAlgorithmOf, type SigningAlgorithm } from './certificates.js';
import { readPrivateKeyFile, readTextFile } from './key-files.js';
import { keyIdOf } from './primitives.js';
import { isSm2Key } from './sm2.js';
import type { Identity, NodeRole, PeerCertificate, RecipientEntry } from './types.js';

export const SIGN_KEY_FILE = 'sign.key.pem';
export const SIGN_CERT_FILE = 'sign.cert.pem';
export const ENC_KEY_FILE = 'enc.key.pem';
export const ENC_CERT_FILE = 'enc.cert.pem';
export const OLD_ENC_KEY_PATTERN = /^enc-([0-9a-f]{32})\.key\.pem$/;
/** A kept older encryption certificate; in a token keys folder it names a kept token key (by CKA_ID). */
export const OLD_ENC_CERT_PATTERN = /^enc-([0-9a-f]{32})\.cert\.pem$/;
export const TOKEN_CONFIG_FILE = 'token.yaml';

/** A signing key used without holding it (style.md rule 7): a PKCS#11 token signs inside the token. */
export interface Signer {
  readonly keyId: string;
  readonly algorithm: SigningAlgorithm;
  /** Signs a pre-image exactly as signPreimage would with a key of `algorithm` (same encoding). */
  sign(preimage: Uint8Array): Buffer;
}

/** A decryption key used without holding it: unwraps a recipient entry addressed to `keyId`. */
export interface Unwrapper {
  readonly keyId: string;
  /**
   * The data key, or undefined if the entry does not open with this key (malformed or forged). Throws
   * KeyError when the key is unreachable (token absent, PIN refused): that is not the bundle's fault.
   */
  unwrap(entry: RecipientEntry, bundleId: string): Buffer | undefined;
}

export type SigningKey = KeyObject | Signer;
export type DecryptionKey = KeyObject | Unwrapper;

interface IdentitySecrets {
  signKey: SigningKey;
  /** Decryption keys by key id. */
  encKeys: Map<string, DecryptionKey>;
}

const secrets = new WeakMap<Identity, IdentitySecrets>();

export function identitySecrets(identity: Identity): IdentitySecrets {
  const found = secrets.get(identity);
  if (!found) {
    throw new KeyError('KEY_INVALID', `Identity ${identity.name} was not created by loadIdentity`, {
      hint: 'Obtain identities only from loadIdentity()',
    });
  }
  return found;
}

/** Builds an Identity from key objects (used by loadIdentity and the test-vector generator). */
export function identityFromKeys(parts: {
  name: string;
  role: NodeRole;
  keysDir: string;
  signKey: KeyObject;
  signCertificate: PeerCertificate;
  encKeys: KeyObject[];
}): Identity {
  const signAlgorithm: SigningAlgorithm | undefined = signingAlgorithmOf(parts.signKey);
  if (!signAlgorithm) {
    throw new KeyError('KEY_INVALID', 'Signing key must be Ed25519, ECDSA P-256 or SM2', {
      where: parts.keysDir,
    });
  }
  const encKeys = new Map<string, KeyObject>();
  for (const key of parts.encKeys) {
    if (key.asymmetricKeyType !== 'x25519' && !isSm2Key(key)) {
      throw new KeyError('KEY_INVALID', 'Encryption keys must be X25519 (or SM2 for sm-v1)', {
        where: parts.keysDir,
      });
    }
    encKeys.set(keyIdOf(key), key);
  }
  return registerIdentity({
    ...parts,
    signKeyId: keyIdOf(parts.signKey),
    signAlgorithm,
    signKey: parts.signKey,
    encKeys,
  });
}

/** Builds an Identity from a Signer and Unwrappers whose keys stay elsewhere (a PKCS#11 token). */
export function identityFromProviders(parts: {
  name: string;
  role: NodeRole;
  keysDir: string;
  signer: Signer;
  signCertificate: PeerCertificate;
  /** The current decryption key first, then kept older ones. */
  unwrappers: Unwrapper[];
}): Identity {
  const encKeys = new Map<string, DecryptionKey>(parts.unwrappers.map((u) => [u.keyId, u]));
  return registerIdentity({
    ...parts,
    signKeyId: parts.signer.keyId,
    signAlgorithm: parts.signer.algorithm,
    signKey: parts.signer,
    encKeys,
  });
}

function registerIdentity(parts: {
  name: string;
  role: NodeRole;
  keysDir: string;
  signKeyId: string;
  signAlgorithm: SigningAlgorithm;
  signCertificate: PeerCertificate;
  signKey: SigningKey;
  encKeys: Map<string, DecryptionKey>;
}): Identity {
  const identity: Identity = Object.freeze({
    name: parts.name,
    role: parts.role,
    signKeyId: parts.signKeyId,
    signAlgorithm: parts.signAlgorithm,
    encKeyIds: Object.freeze([...parts.encKeys.keys()]),
    keysDir: parts.keysDir,
    signCertificate: parts.signCertificate,
  });
  secrets.set(identity, { signKey: parts.signKey, encKeys: parts.encKeys });
  return identity;
}

/** Reads a certificate file into a PeerCertificate, requiring a node role and a usage. */
export function readNodeCertificate(file: string, expectedUsage?: 'sign' | 'encrypt'): PeerCertificate {
  const facts = certificateFacts(readTextFile(file, 'Certificate'), file);
  if (!facts.role || (facts.usage !== 'sign' && facts.usage !== 'encrypt')) {
    throw new KeyError(
      'KEY_INVALID',
      'Certificate is not a bridge node certificate (role or usage missing)',
      {
        where: file,
        hint: 'Use certificates issued by `bridge-keys issue`',
      },
    );
  }
  if (expectedUsage && facts.usage !== expectedUsage) {
    throw new KeyError('KEY_INVALID', `Certificate has usage ${facts.usage}, expected ${expectedUsage}`, {
      where: file,
    });
  }
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

/**
 * Loads a node's key material from its keys folder; the passphrase decrypts the PKCS#8 private keys.
 * With a token.yaml in the folder, the keys are in a PKCS#11 token and the passphrase is not used.
 */
export async function loadIdentity(opts: { keysDir: string; passphrase: string }): Promise<Identity> {
  if (existsSync(join(opts.keysDir, TOKEN_CONFIG_FILE))) {
    // Loaded on demand, so nodes without a token never load the native PKCS#11 binding.
    const { loadTokenIdentity } = await import('./token-identity.js');
    return loadTokenIdentity(opts.keysDir);
  }
  // The work is a few small local reads; a throw inside the executor becomes the rejection.
  return new Promise((resolve) => resolve(loadIdentitySync(opts)));
}

function loadIdentitySync(opts: { keysDir: string; passphrase: string }): Identity {
  const { keysDir, passphrase } = opts;
  const signCertificate = readNodeCertificate(join(keysDir, SIGN_CERT_FILE), 'sign');
  const signKeyFile = join(keysDir, SIGN_KEY_FILE);
  const signKey = readPrivateKeyFile(signKeyFile, passphrase);
  if (keyIdOf(signKey) !== signCertificate.keyId) {
    throw new KeyError('KEY_INVALID', 'Signing key does not match sign.cert.pem', {
      where: signKeyFile,
      hint: 'Restore the matching key and certificate pair, or issue new keys',
    });
  }
  const encKeyFile = join(keysDir, ENC_KEY_FILE);
  const encKeys = [readPrivateKeyFile(encKeyFile, passphrase)];
  const encCertFile = join(keysDir, ENC_CERT_FILE);
  if (existsSync(encCertFile)) {
    const encCert = readNodeCertificate(encCertFile, 'encrypt');
    if (keyIdOf(encKeys[0]!) !== encCert.keyId) {
      throw new KeyError('KEY_INVALID', 'Encryption key does not match enc.cert.pem', { where: encKeyFile });
    }
  }
  // Older decryption keys kept after rotation, so bundles in flight under them still open (design 5).
  for (const entry of readdirSync(keysDir).sort()) {
    const match = OLD_ENC_KEY_PATTERN.exec(entry);
    if (!match) continue;
    const file = join(keysDir, entry);
    const key = readPrivateKeyFile(file, passphrase);
    if (keyIdOf(key) !== match[1]) {
      throw new KeyError('KEY_INVALID', 'Kept encryption key does not match the key id in its file name', {
        where: file,
      });
    }
    encKeys.push(key);
  }
  return identityFromKeys({
    name: signCertificate.name,
    role: signCertificate.role,
    keysDir,
    signKey,
    signCertificate,
    encKeys,
  });
}
