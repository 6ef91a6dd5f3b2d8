// A PKCS#11 token (hardware security module; SoftHSM2 in tests) holding a node's private keys (design 5:
// "inside a PKCS#11 token, where they never leave the token"). This file is the only user of the
// native binding (pkcs11js). It opens the module once per process, logs in once per token, and runs
// every operation in its own session that is closed afterwards, so no session or object outlives it.
import { createHash, createHmac, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import pkcs11js, { type ECDH1 } from 'pkcs11js';
import { KeyError } from '../shared/errors.js';
import { p256PublicKeyFromPoint } from './key-wrap-p256.js';
import { keyIdOf } from './primitives.js';

type Handle = Buffer;
type Module = InstanceType<typeof pkcs11js.PKCS11>;

export const DEFAULT_TOKEN_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
/** DER of the prime256v1 OID, the CKA_EC_PARAMS of every key this bridge creates. */
const P256_EC_PARAMS = Buffer.from('06082a8648ce3d030107', 'hex');
const P256_COORDINATE_LENGTH = 32;
/** Session states of a logged-in user (PKCS#11 CKS_RO_USER_FUNCTIONS, CKS_RW_USER_FUNCTIONS). */
const USER_SESSION_STATES = new Set([1, 3]);

export type TokenKeyUsage = 'sign' | 'encrypt';

/** Where a token is and how to log in; `pinSource` describes the PIN's origin for messages, never the PIN. */
export interface TokenSpec {
  module: string;
  label: string;
  pin: string;
  pinSource: string;
}

/** Sessions opened and closed by this process, for the leak check in the tests. */
export const tokenSessionCounters = { opened: 0, closed: 0 };

const modules = new Map<string, Module>();
/** One login per token per process: PKCS#11 login state belongs to the application, not to a session. */
const logins = new Map<string, { session: Handle; pinTag: Buffer }>();
/** PINs are compared by HMAC under a per-process key; the PIN itself is not kept in this table. */
const PIN_TAG_KEY = randomBytes(32);

function pinTag(pin: string): Buffer {
  return createHmac('sha256', PIN_TAG_KEY).update(pin, 'utf8').digest();
}

function ckrName(error: unknown): string | undefined {
  if (error instanceof pkcs11js.Pkcs11Error) return error.message;
  return undefined;
}

function describeToken(spec: { module: string; label: string }): string {
  return `${spec.module}, token "${spec.label}"`;
}

/**
 * Turns a PKCS#11 failure into a KeyError that says which token, what failed and what to do. The
 * binding's messages carry only the CKR_ code and the function name, never arguments such as the PIN.
 */
export function tokenError(
  error: unknown,
  what: string,
  spec: { module: string; label: string; pinSource?: string },
): KeyError {
  if (error instanceof KeyError) return error;
  const ckr = ckrName(error) ?? (error instanceof Error ? error.message : String(error));
  const where = describeToken(spec);
  switch (ckr) {
    case 'CKR_PIN_INCORRECT':
    case 'CKR_PIN_LEN_RANGE':
      return new KeyError('KEY_TOKEN', `Token "${spec.label}" refused the PIN (${ckr}) while ${what}`, {
        where,
        hint: `Check the PIN in ${spec.pinSource ?? 'the PIN source named in token.yaml'}; the token locks after several wrong PINs, so do not retry in a loop`,
        cause: error,
      });
    case 'CKR_PIN_LOCKED':
    case 'CKR_PIN_EXPIRED':
      return new KeyError('KEY_TOKEN', `Token "${spec.label}" is locked or its PIN expired (${ckr})`, {
        where,
        hint: 'A security officer must reset the user PIN with the SO PIN (softhsm2-util / the vendor tool), then update the PIN source',
        cause: error,
      });
    case 'CKR_TOKEN_NOT_PRESENT':
    case 'CKR_DEVICE_REMOVED':
    case 'CKR_DEVICE_ERROR':
    case 'CKR_TOKEN_NOT_RECOGNIZED':
      return new KeyError(
        'KEY_TOKEN',
        `Token "${spec.label}" is not present or not responding (${ckr}) while ${what}`,
        {
          where,
          hint: 'Reconnect the token (HSM) and restart the node; nothing is signed or decrypted without it',
          cause: error,
        },
      );
    default:
      return new KeyError('KEY_TOKEN', `PKCS#11 error while ${what}: ${ckr}`, {
        where,
        hint: 'Check the token with the vendor tool (softhsm2-util --show-slots) and the module path in token.yaml',
        cause: error,
      });
  }
}

function loadModule(path: string, label: string): Module {
  const known = modules.get(path);
  if (known) return known;
  if (!existsSync(path)) {
    throw new KeyError('KEY_TOKEN', `PKCS#11 module not found for token "${label}"`, {
      where: path,
      hint: 'Install the token vendor library (SoftHSM2: apt-get install softhsm2) or correct `module` in token.yaml',
    });
  }
  const module = new pkcs11js.PKCS11();
  try {
    module.load(path);
    module.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (error) {
    if (ckrName(error) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') {
      throw tokenError(error, 'loading the PKCS#11 module', { module: path, label });
    }
  }
  modules.set(path, module);
  return module;
}

function findSlot(module: Module, spec: { module: string; label: string }): Handle {
  let slots: Handle[];
  try {
    slots = module.C_GetSlotList(true);
  } catch (error) {
    throw tokenError(error, 'listing slots', spec);
  }
  const seen: string[] = [];
  for (const slot of slots) {
    const label = module.C_GetTokenInfo(slot).label.trimEnd();
    if (label === spec.label) return slot;
    seen.push(`"${label}"`);
  }
  throw new KeyError('KEY_TOKEN', `Token "${spec.label}" is not present`, {
    where: spec.module,
    hint: `Connect the token, or correct token_label in token.yaml (tokens present: ${seen.length > 0 ? seen.join(', ') : 'none'})`,
  });
}

/** A logged-in token. Operations run in short sessions of their own (withSession). */
export class Pkcs11Token {
  private constructor(
    private readonly module: Module,
    private readonly slot: Handle,
    readonly spec: Omit<TokenSpec, 'pin'>,
  ) {}

  /** Loads the module, finds the token by label and logs in (once per token and process). */
  static open(spec: TokenSpec): Pkcs11Token {
    const module = loadModule(spec.module, spec.label);
    const slot = findSlot(module, spec);
    const key = `${spec.module}\0${slot.toString('hex')}`;
    const tag = pinTag(spec.pin);
    const { pin: _pin, ...publicSpec } = spec;
    const token = new Pkcs11Token(module, slot, publicSpec);
    const existing = logins.get(key);
    if (existing && token.loginAlive(existing.session)) {
      // Already logged in with a PIN the token accepted: a different PIN here is a wrong one.
      if (!existing.pinTag.equals(tag))
        throw tokenError(new pkcs11js.Pkcs11Error('CKR_PIN_INCORRECT'), 'logging in', spec);
      return token;
    }
    let session: Handle;
    try {
      session = module.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      tokenSessionCounters.opened++;
    } catch (error) {
      throw tokenError(error, 'opening a session', spec);
    }
    try {
      try {
        module.C_Login(session, pkcs11js.CKU_USER, spec.pin);
      } catch (error) {
        if (ckrName(error) !== 'CKR_USER_ALREADY_LOGGED_IN') throw error;
        // Logged in by a login this process no longer tracks: log in again so this PIN is checked.
        module.C_Logout(session);
        module.C_Login(session, pkcs11js.CKU_USER, spec.pin);
      }
    } catch (error) {
      token.closeSession(session);
      throw tokenError(error, 'logging in', spec);
    }
    logins.set(key, { session, pinTag: tag });
    return token;
  }

  private loginAlive(session: Handle): boolean {
    try {
      return USER_SESSION_STATES.has(this.module.C_GetSessionInfo(session).state);
    } catch {
      return false;
    }
  }

  private closeSession(session: Handle): void {
    try {
      this.module.C_CloseSession(session);
    } catch {
      // Already gone with the token; nothing left to release.
    }
    tokenSessionCounters.closed++;
  }

  /** Runs `fn` in a fresh session that is closed afterwards, whatever happens. */
  withSession<T>(what: string, fn: (module: Module, session: Handle) => T, readWrite = false): T {
    let session: Handle;
    try {
      const flags = pkcs11js.CKF_SERIAL_SESSION | (readWrite ? pkcs11js.CKF_RW_SESSION : 0);
      session = this.module.C_OpenSession(this.slot, flags);
      tokenSessionCounters.opened++;
    } catch (error) {
      throw tokenError(error, what, this.spec);
    }
    try {
      return fn(this.module, session);
    } catch (error) {
      throw tokenError(error, what, this.spec);
    } finally {
      this.closeSession(session);
    }
  }

  /** Generates a P-256 key pair inside the token: sensitive, never extractable, stored on the token. */
  generateP256KeyPair(label: string, usage: TokenKeyUsage): { publicKey: KeyObject; keyId: string } {
    return this.withSession(
      `generating the ${usage} key "${label}"`,
      (m, session) => {
        const sign = usage === 'sign';
        const common = [
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_LABEL, value: label },
          { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC },
        ];
        const pair = m.C_GenerateKeyPair(
          session,
          { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
          [
            ...common,
            { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
            { type: pkcs11js.CKA_EC_PARAMS, value: P256_EC_PARAMS },
            { type: pkcs11js.CKA_VERIFY, value: sign },
            { type: pkcs11js.CKA_DERIVE, value: !sign },
          ],
          [
            ...common,
            { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
            { type: pkcs11js.CKA_PRIVATE, value: true },
            { type: pkcs11js.CKA_SENSITIVE, value: true },
            { type: pkcs11js.CKA_EXTRACTABLE, value: false },
            { type: pkcs11js.CKA_SIGN, value: sign },
            { type: pkcs11js.CKA_DERIVE, value: !sign },
          ],
        );
        try {
          const publicKey = publicKeyOfObject(m, session, pair.publicKey);
          const keyId = keyIdOf(publicKey);
          // CKA_ID = key id (the bridge's name for the key), set once the public key is known.
          const id = [{ type: pkcs11js.CKA_ID, value: Buffer.from(keyId, 'hex') }];
          m.C_SetAttributeValue(session, pair.publicKey, id);
          m.C_SetAttributeValue(session, pair.privateKey, id);
          return { publicKey, keyId };
        } catch (error) {
          m.C_DestroyObject(session, pair.privateKey);
          m.C_DestroyObject(session, pair.publicKey);
          throw error;
        }
      },
      true,
    );
  }

  /** Removes a key pair this bridge generated (used when issuance fails half-way). */
  destroyKeyPair(keyId: string): void {
    this.withSession(
      `removing key ${keyId}`,
      (m, session) => {
        for (const handle of findObjects(m, session, [
          { type: pkcs11js.CKA_ID, value: Buffer.from(keyId, 'hex') },
        ])) {
          m.C_DestroyObject(session, handle);
        }
      },
      true,
    );
  }

  /** Signs a 32-byte SHA-256 digest with CKM_ECDSA inside the token; returns r || s (64 bytes). */
  signDigest(key: TokenKeyRef, digest: Buffer): Buffer {
    return this.withSession(`signing with key ${key.keyId}`, (m, session) => {
      const handle = findPrivateKey(m, session, key, this.spec);
      m.C_SignInit(session, { mechanism: pkcs11js.CKM_ECDSA }, handle);
      return Buffer.from(m.C_Sign(session, digest, Buffer.alloc(2 * P256_COORDINATE_LENGTH + 8)));
    });
  }

  /**
   * ECDH (CKM_ECDH1_DERIVE, no KDF) of our private key with a peer point, inside the token. The
   * result is a session object that is read once and destroyed: the shared secret of one ephemeral
   * exchange leaves the token (HKDF and AES-GCM run outside), the private key never does.
   */
  deriveSharedSecret(key: TokenKeyRef, peerPoint: Buffer): Buffer {
    return this.withSession(`unwrapping with key ${key.keyId}`, (m, session) => {
      const handle = findPrivateKey(m, session, key, this.spec);
      const parameter: ECDH1 = {
        type: pkcs11js.CK_PARAMS_EC_DH,
        kdf: pkcs11js.CKD_NULL,
        publicData: peerPoint,
      };
      const derived = m.C_DeriveKey(session, { mechanism: pkcs11js.CKM_ECDH1_DERIVE, parameter }, handle, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_GENERIC_SECRET },
        { type: pkcs11js.CKA_VALUE_LEN, value: P256_COORDINATE_LENGTH },
        { type: pkcs11js.CKA_TOKEN, value: false },
        { type: pkcs11js.CKA_SENSITIVE, value: false },
        { type: pkcs11js.CKA_EXTRACTABLE, value: true },
      ]);
      try {
        const [value] = m.C_GetAttributeValue(session, derived, [{ type: pkcs11js.CKA_VALUE }]);
        return Buffer.from(value?.value ?? Buffer.alloc(0));
      } finally {
        m.C_DestroyObject(session, derived);
      }
    });
  }

  /** Attributes of a private key, for the officer's check that it is sensitive and not extractable. */
  privateKeyFlags(key: TokenKeyRef): { sensitive: boolean; extractable: boolean; onToken: boolean } {
    return this.withSession(`reading the attributes of key ${key.keyId}`, (m, session) => {
      const handle = findPrivateKey(m, session, key, this.spec);
      const values = m.C_GetAttributeValue(session, handle, [
        { type: pkcs11js.CKA_SENSITIVE },
        { type: pkcs11js.CKA_EXTRACTABLE },
        { type: pkcs11js.CKA_TOKEN },
      ]);
      const flag = (index: number): boolean => values[index]?.value[0] === 1;
      return { sensitive: flag(0), extractable: flag(1), onToken: flag(2) };
    });
  }

  /** Tries to read the private value (CKA_VALUE); a correct token refuses. For tests and audits. */
  tryReadPrivateValue(key: TokenKeyRef): Buffer {
    return this.withSession(`reading the private value of key ${key.keyId}`, (m, session) => {
      const handle = findPrivateKey(m, session, key, this.spec);
      const [value] = m.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_VALUE }]);
      return Buffer.from(value?.value ?? Buffer.alloc(0));
    });
  }

  /** Number of session objects visible to a new session: derived secrets must not pile up. */
  countSessionObjects(): number {
    return this.withSession(
      'counting session objects',
      (m, session) => findObjects(m, session, [{ type: pkcs11js.CKA_TOKEN, value: false }]).length,
    );
  }
}

/** A token key as the bridge names it: label plus CKA_ID (= key id). */
export interface TokenKeyRef {
  /** CKA_LABEL, or undefined to find the key by id alone (kept older keys). */
  label: string | undefined;
  keyId: string;
}

function findObjects(
  m: Module,
  session: Handle,
  template: { type: number; value: number | boolean | string | Buffer }[],
): Handle[] {
  m.C_FindObjectsInit(session, template);
  try {
    const found: Handle[] = [];
    for (;;) {
      const batch = m.C_FindObjects(session, 16);
      if (batch.length === 0) return found;
      found.push(...batch);
    }
  } finally {
    m.C_FindObjectsFinal(session);
  }
}

function findPrivateKey(
  m: Module,
  session: Handle,
  key: TokenKeyRef,
  spec: { module: string; label: string },
): Handle {
  const template = [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
    { type: pkcs11js.CKA_ID, value: Buffer.from(key.keyId, 'hex') },
    ...(key.label === undefined ? [] : [{ type: pkcs11js.CKA_LABEL, value: key.label }]),
  ];
  const found = findObjects(m, session, template);
  if (found.length === 1 && found[0]) return found[0];
  throw new KeyError(
    'KEY_NOT_FOUND',
    found.length === 0
      ? `Private key ${key.label ? `"${key.label}" ` : ''}with id ${key.keyId} is not in token "${spec.label}"`
      : `Token "${spec.label}" holds ${found.length} private keys with id ${key.keyId}`,
    {
      where: describeToken(spec),
      hint: 'Check token_label and keys in token.yaml against the certificates in the keys folder; keys are never copied between tokens',
    },
  );
}

function publicKeyOfObject(m: Module, session: Handle, handle: Handle): KeyObject {
  const [attribute] = m.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_EC_POINT }]);
  let point = Buffer.from(attribute?.value ?? Buffer.alloc(0));
  // CKA_EC_POINT is a DER OCTET STRING around the point (some tokens return the bare point).
  if (point.length === 67 && point[0] === 0x04 && point[1] === 0x41) point = point.subarray(2);
  return p256PublicKeyFromPoint(point);
}

/** ECDSA r || s (fixed 32-byte halves) to the DER Ecdsa-Sig-Value the bundle format stores. */
export function ecdsaRawToDer(raw: Buffer): Buffer {
  if (raw.length !== 2 * P256_COORDINATE_LENGTH)
    throw new RangeError('ECDSA P-256 signature must be 64 bytes');
  const integer = (bytes: Buffer): Buffer => {
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) start++;
    let value = bytes.subarray(start);
    if ((value[0] ?? 0) & 0x80) value = Buffer.concat([Buffer.from([0]), value]);
    return Buffer.concat([Buffer.from([0x02, value.length]), value]);
  };
  const body = Buffer.concat([integer(raw.subarray(0, 32)), integer(raw.subarray(32))]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

export function sha256Digest(preimage: Uint8Array): Buffer {
  return createHash('sha256').update(preimage).digest();
}
