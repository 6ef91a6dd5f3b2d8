// Private keys at rest (design 5): encrypted PKCS#8 PEM, mode 0600, refused when group or others can
// read them. Certificates and other public files are written 0644.
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { writeFileAtomicSync } from '../shared/atomic-file.js';
import { KeyError } from '../shared/errors.js';

/** OpenSSL's PBES2 with AES-256-CBC; the KDF is the library default (PBKDF2-HMAC-SHA256). */
const PRIVATE_KEY_CIPHER = 'aes-256-cbc';

export function encryptPrivateKeyPem(key: KeyObject, passphrase: string): string {
  requirePassphrase(passphrase, 'encrypting a private key');
  return key.export({ type: 'pkcs8', format: 'pem', cipher: PRIVATE_KEY_CIPHER, passphrase }) as string;
}

export function writePrivateKeyFile(path: string, key: KeyObject, passphrase: string): void {
  writeFileAtomicSync(path, encryptPrivateKeyPem(key, passphrase), 0o600);
}

export function writePublicFile(path: string, data: string | Uint8Array): void {
  writeFileAtomicSync(path, data, 0o644);
}

export function requirePassphrase(passphrase: string, purpose: string): void {
  if (typeof passphrase !== 'string' || passphrase.length === 0) {
    throw new KeyError('KEY_PASSPHRASE', `Empty passphrase for ${purpose}`, {
      hint: 'Provide it with --passphrase-file FILE or the BRIDGE_KEY_PASSPHRASE environment variable',
    });
  }
}

/** Reads and decrypts an encrypted PKCS#8 private key, refusing files readable by group or others. */
export function readPrivateKeyFile(path: string, passphrase: string): KeyObject {
  if (!existsSync(path)) {
    throw new KeyError('KEY_NOT_FOUND', 'Private key file not found', {
      where: path,
      hint: 'Issue keys with `bridge-keys issue` or point the configuration at the right keys folder',
    });
  }
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new KeyError(
      'KEY_PERMISSIONS',
      `Private key file is accessible by group or others (mode ${mode.toString(8).padStart(4, '0')})`,
      { where: path, hint: `Run: chmod 600 ${path}` },
    );
  }
  const pem = readFileSync(path, 'utf8');
  if (!pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----')) {
    throw new KeyError('KEY_INVALID', 'Private key file is not an encrypted PKCS#8 PEM key', {
      where: path,
      hint: 'Private keys must be stored encrypted; re-issue the key with bridge-keys',
    });
  }
  requirePassphrase(passphrase, path);
  try {
    return createPrivateKey({ key: pem, format: 'pem', passphrase });
  } catch (error) {
    // The cause from OpenSSL says only "bad decrypt"; it never contains the passphrase.
    throw new KeyError('KEY_PASSPHRASE', 'Cannot decrypt private key: wrong passphrase or damaged file', {
      where: path,
      hint: path.endsWith('ca.key.pem')
        ? 'Check the CA passphrase source (--ca-passphrase-file / BRIDGE_CA_PASSPHRASE)'
        : 'Check the node passphrase source (--passphrase-file / BRIDGE_KEY_PASSPHRASE or the node configuration)',
      cause: error,
    });
  }
}

export function readTextFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new KeyError('KEY_NOT_FOUND', `${what} not found or unreadable`, { where: path, cause: error });
  }
}
