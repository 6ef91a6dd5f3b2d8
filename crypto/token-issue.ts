// Issuing and rotating node keys that live in a PKCS#11 token (design 5): the key pairs are generated
// inside the token (sensitive, not extractable), the bridge CA certifies their public keys, and the
// keys folder receives certificates and token.yaml only. Every key event goes to the CA's audit log.
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { syncDirectory } from '../shared/atomic-file.js';
import { KeyError } from '../shared/errors.js';
import { appendAuditEvent } from './audit-log.js';
import {
  AUDIT_FILE,
  TRUST_EXPORT_DIR,
  checkNodeName,
  checkRole,
  exportCertificates,
  issueCertificate,
  loadCa,
  positiveDays,
  type IssueNodeKeysResult,
  type RotateOptions,
} from './authority.js';
import {
  ENC_CERT_FILE,
  ENC_KEY_FILE,
  SIGN_CERT_FILE,
  SIGN_KEY_FILE,
  TOKEN_CONFIG_FILE,
  readNodeCertificate,
} from './identity.js';
import { writePublicFile } from './key-files.js';
import { DEFAULT_TOKEN_MODULE, Pkcs11Token } from './pkcs11-token.js';
import {
  readTokenConfig,
  tokenKeyLabels,
  tokenSpecOf,
  writeTokenConfig,
  type TokenConfig,
} from './token-config.js';
import { CA_CERT_FILE } from './trust-store.js';
import type { NodeRole, PeerCertificate } from './types.js';

export interface TokenOptions {
  /** PKCS#11 module path; default /usr/lib/softhsm/libsofthsm2.so. */
  module?: string;
  label: string;
  /** Exactly one: a 0600 file holding the user PIN, or an environment variable holding it. */
  pinFile?: string;
  pinEnv?: string;
}

export interface IssueTokenNodeKeysOptions {
  caDir: string;
  caPassphrase: string;
  role: NodeRole;
  name: string;
  outDir: string;
  token: TokenOptions;
  days?: number;
  now?: Date;
}

function tokenConfigOf(token: TokenOptions, name: string, role: NodeRole): TokenConfig {
  if ((token.pinFile === undefined) === (token.pinEnv === undefined)) {
    throw new KeyError(
      'KEY_TOKEN',
      'Give exactly one PIN source for the token: --pin-file FILE or --pin-env VAR',
      {
        hint: 'The PIN is never taken on the command line',
      },
    );
  }
  return {
    module: token.module ?? DEFAULT_TOKEN_MODULE,
    token_label: token.label,
    ...(token.pinFile !== undefined ? { pin_file: token.pinFile } : { pin_env: token.pinEnv }),
    keys: tokenKeyLabels(name, role),
  };
}

/** Generates a node's signing and encryption key pairs (P-256) in a token and certifies them. */
export async function issueTokenNodeKeys(opts: IssueTokenNodeKeysOptions): Promise<IssueNodeKeysResult> {
  checkNodeName(opts.name);
  checkRole(opts.role);
  const now = opts.now ?? new Date();
  const days = positiveDays(opts.days ?? 365, 'Node certificate');
  const ca = loadCa(opts.caDir, opts.caPassphrase);
  for (const file of [SIGN_KEY_FILE, ENC_KEY_FILE, SIGN_CERT_FILE, TOKEN_CONFIG_FILE]) {
    if (existsSync(join(opts.outDir, file))) {
      throw new KeyError('KEY_EXISTS', 'Keys folder already holds node keys', {
        where: join(opts.outDir, file),
        hint: 'Use `bridge-keys rotate` to replace an encryption key, or choose an empty --out folder',
      });
    }
  }
  const config = tokenConfigOf(opts.token, opts.name, opts.role);
  const token = Pkcs11Token.open(tokenSpecOf(config, opts.outDir));
  const generated: string[] = [];
  try {
    const sign = token.generateP256KeyPair(config.keys.sign, 'sign');
    generated.push(sign.keyId);
    const enc = token.generateP256KeyPair(config.keys.encrypt, 'encrypt');
    generated.push(enc.keyId);
    const common = { name: opts.name, role: opts.role, days, now };
    const signPem = await issueCertificate(ca, { ...common, publicKey: sign.publicKey, usage: 'sign' });
    const encPem = await issueCertificate(ca, { ...common, publicKey: enc.publicKey, usage: 'encrypt' });
    mkdirSync(opts.outDir, { recursive: true, mode: 0o700 });
    writePublicFile(join(opts.outDir, SIGN_CERT_FILE), signPem);
    writePublicFile(join(opts.outDir, ENC_CERT_FILE), encPem);
    writePublicFile(join(opts.outDir, CA_CERT_FILE), ca.pem + '\n');
    writeTokenConfig(opts.outDir, config);
  } catch (error) {
    // Keys nobody holds a certificate for would only confuse the next officer: remove them.
    for (const keyId of generated) {
      try {
        token.destroyKeyPair(keyId);
      } catch {
        // The original failure is the one to report.
      }
    }
    throw error;
  }
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
      token: config.token_label,
      signSerial: signCertificate.serial,
      signKeyId: signCertificate.keyId,
      encSerial: encCertificate.serial,
      encKeyId: encCertificate.keyId,
      notAfter: signCertificate.notAfter.toISOString(),
    },
    now,
  );
  return { signCertificate, encCertificate, exportDir };
}

/**
 * Rotates the encryption key of a token keys folder: a new pair is generated in the token, the old
 * private key stays in the token (found by its CKA_ID) and its certificate is kept as
 * enc-<keyId>.cert.pem, so bundles in flight under it still open (design 5).
 */
export async function rotateTokenEncryptionKey(
  opts: RotateOptions,
): Promise<{ encCertificate: PeerCertificate; previousKeyId: string; exportDir: string }> {
  const now = opts.now ?? new Date();
  const days = positiveDays(opts.days ?? 365, 'Node certificate');
  const sign = readNodeCertificate(join(opts.keysDir, SIGN_CERT_FILE), 'sign');
  if (opts.name !== undefined && opts.name !== sign.name) {
    throw new KeyError('KEY_INVALID', `Keys folder belongs to ${sign.name}, not ${opts.name}`, {
      where: opts.keysDir,
    });
  }
  const ca = loadCa(opts.caDir, opts.caPassphrase);
  const config = readTokenConfig(opts.keysDir);
  const previous = readNodeCertificate(join(opts.keysDir, ENC_CERT_FILE), 'encrypt');
  const token = Pkcs11Token.open(tokenSpecOf(config, opts.keysDir));
  const fresh = token.generateP256KeyPair(config.keys.encrypt, 'encrypt');
  let pem: string;
  try {
    pem = await issueCertificate(ca, {
      publicKey: fresh.publicKey,
      name: sign.name,
      role: sign.role,
      usage: 'encrypt',
      days,
      now,
    });
  } catch (error) {
    token.destroyKeyPair(fresh.keyId);
    throw error;
  }
  // Keep the old certificate under its key id first, then publish the new one (as for key files).
  renameSync(join(opts.keysDir, ENC_CERT_FILE), join(opts.keysDir, `enc-${previous.keyId}.cert.pem`));
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
      token: config.token_label,
      previousKeyId: previous.keyId,
      keyId: encCertificate.keyId,
      serial: encCertificate.serial,
    },
    now,
  );
  return { encCertificate, previousKeyId: previous.keyId, exportDir };
}
