// A node identity whose private keys stay in a PKCS#11 token (design 5): certificates from the keys
// folder, a Signer and Unwrappers that call into the token. loadIdentity() comes here when the folder
// holds a token.yaml, so the nodes use a token without any change.
import { diffieHellman, generateKeyPairSync, verify, type KeyObject } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { KeyError } from '../shared/errors.js';
import { isP256 } from './certificates.js';
import {
  ENC_CERT_FILE,
  ENC_KEY_FILE,
  OLD_ENC_CERT_PATTERN,
  SIGN_CERT_FILE,
  SIGN_KEY_FILE,
  identityFromProviders,
  readNodeCertificate,
  type Signer,
  type Unwrapper,
} from './identity.js';
import { rawP256Point, unwrapDataKeyP256 } from './key-wrap-p256.js';
import { Pkcs11Token, ecdsaRawToDer, sha256Digest, type TokenKeyRef } from './pkcs11-token.js';
import { readTokenConfig, tokenSpecOf } from './token-config.js';
import { publicKeyOf } from './trust-store.js';
import type { Identity, PeerCertificate, RecipientEntry } from './types.js';

/** Signs inside the token: CKM_ECDSA over a SHA-256 digest computed here, returned as DER. */
export class TokenSigner implements Signer {
  readonly algorithm = 'ecdsa-p256' as const;
  constructor(
    private readonly token: Pkcs11Token,
    private readonly key: TokenKeyRef,
  ) {}

  get keyId(): string {
    return this.key.keyId;
  }

  sign(preimage: Uint8Array): Buffer {
    return ecdsaRawToDer(this.token.signDigest(this.key, sha256Digest(preimage)));
  }
}

/** Unwraps P-256 recipient entries with ECDH inside the token. */
export class TokenUnwrapper implements Unwrapper {
  private readonly point: Buffer;
  constructor(
    private readonly token: Pkcs11Token,
    private readonly key: TokenKeyRef,
    publicKey: KeyObject,
  ) {
    this.point = rawP256Point(publicKey);
  }

  get keyId(): string {
    return this.key.keyId;
  }

  unwrap(entry: RecipientEntry, bundleId: string): Buffer | undefined {
    return unwrapDataKeyP256(entry, bundleId, this.point, (_ephemeral, ephemeralPoint) =>
      this.token.deriveSharedSecret(this.key, ephemeralPoint),
    );
  }
}

function requireP256(cert: PeerCertificate): KeyObject {
  const key = publicKeyOf(cert);
  if (!isP256(key)) {
    throw new KeyError(
      'KEY_INVALID',
      `Certificate of a token key must hold a P-256 key, not ${key.asymmetricKeyType ?? '?'}`,
      {
        where: cert.file,
        hint: 'Issue token keys with `bridge-keys issue --token-label ...`',
      },
    );
  }
  return key;
}

const SELF_TEST = Buffer.from('govbank-bridge/token-self-test\0', 'ascii');

/**
 * Proves at load time that the token's keys are the certified ones, so a wrong token or label is
 * reported here and not as refused bundles later: a test signature verified with the certificate,
 * and an ECDH with a throw-away key compared with the same ECDH computed from the certificate.
 */
function checkTokenKeys(
  signer: TokenSigner,
  signCert: PeerCertificate,
  unwrapper: TokenUnwrapper,
  encCert: PeerCertificate,
  token: Pkcs11Token,
): void {
  const signature = signer.sign(SELF_TEST);
  if (!verify('sha256', SELF_TEST, { key: requireP256(signCert), dsaEncoding: 'der' }, signature)) {
    throw new KeyError(
      'KEY_INVALID',
      `Signing key in token "${token.spec.label}" does not match ${SIGN_CERT_FILE}`,
      {
        where: signCert.file,
        hint: "Point token.yaml at the token that holds this node's keys, or issue new token keys",
      },
    );
  }
  const probe = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const expected = diffieHellman({ privateKey: probe.privateKey, publicKey: requireP256(encCert) });
  const actual = token.deriveSharedSecret(
    { label: undefined, keyId: unwrapper.keyId },
    rawP256Point(probe.publicKey),
  );
  if (!actual.equals(expected)) {
    throw new KeyError(
      'KEY_INVALID',
      `Encryption key in token "${token.spec.label}" does not match ${ENC_CERT_FILE}`,
      {
        where: encCert.file,
        hint: "Point token.yaml at the token that holds this node's keys, or issue new token keys",
      },
    );
  }
}

/** Loads the identity of a keys folder whose token.yaml names a PKCS#11 token. */
export function loadTokenIdentity(keysDir: string): Identity {
  for (const file of [SIGN_KEY_FILE, ENC_KEY_FILE]) {
    if (existsSync(join(keysDir, file))) {
      throw new KeyError('KEY_INVALID', 'Keys folder holds both token.yaml and private key files', {
        where: join(keysDir, file),
        hint: 'A node uses either a token or key files: move the key files or token.yaml away',
      });
    }
  }
  const config = readTokenConfig(keysDir);
  const signCertificate = readNodeCertificate(join(keysDir, SIGN_CERT_FILE), 'sign');
  const encCertificate = readNodeCertificate(join(keysDir, ENC_CERT_FILE), 'encrypt');
  const token = Pkcs11Token.open(tokenSpecOf(config, keysDir));
  const signer = new TokenSigner(token, { label: config.keys.sign, keyId: signCertificate.keyId });
  requireP256(signCertificate);
  const current = new TokenUnwrapper(
    token,
    { label: config.keys.encrypt, keyId: encCertificate.keyId },
    requireP256(encCertificate),
  );
  checkTokenKeys(signer, signCertificate, current, encCertificate, token);
  const unwrappers: Unwrapper[] = [current];
  // Kept older encryption keys after a rotation stay in the token; their certificates name them by id.
  for (const entry of readdirSync(keysDir).sort()) {
    const match = OLD_ENC_CERT_PATTERN.exec(entry);
    if (!match?.[1] || match[1] === encCertificate.keyId) continue;
    const cert = readNodeCertificate(join(keysDir, entry), 'encrypt');
    if (cert.keyId !== match[1]) {
      throw new KeyError(
        'KEY_INVALID',
        'Kept encryption certificate does not match the key id in its file name',
        {
          where: join(keysDir, entry),
        },
      );
    }
    unwrappers.push(new TokenUnwrapper(token, { label: undefined, keyId: cert.keyId }, requireP256(cert)));
  }
  return identityFromProviders({
    name: signCertificate.name,
    role: signCertificate.role,
    keysDir,
    signer,
    signCertificate,
    unwrappers,
  });
}
