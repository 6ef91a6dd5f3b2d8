// Private keys in a PKCS#11 token (design 5), with SoftHSM2 standing in for the HSM: keys generated in
// the token and not extractable, bundles sealed for and opened with a token key (ECDH in the token),
// bundles signed in the token and verified with the ordinary trust store, clear PIN and absent-token
// errors, no session leak, rotation (in flight, overlap, new-only), and a whole bridge whose bank keeps
// its keys in a token.
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCrl,
  importCertificates,
  importCrl,
  loadIdentity,
  loadTrustStore,
  openBundle,
  recipientCertificates,
  revokeCertificate,
  rotateEncryptionKey,
  type Identity,
} from '../../crypto/index.js';
import { P256_WRAP_ALG, parseHeader, encodeHeader } from '../../crypto/header.js';
import { unwrapDataKey, wrapDataKey } from '../../crypto/key-wrap.js';
import { Pkcs11Token, ecdsaRawToDer, tokenSessionCounters } from '../../crypto/pkcs11-token.js';
import { issueTokenNodeKeys } from '../../crypto/token-issue.js';
import { KeyError } from '../../shared/errors.js';
import { BIN, querySqlite, runCli, temporaryBridge } from '../support/bridge.js';
import { CA_PASSPHRASE, collect, createWorld, seal, type World } from './fixtures.js';
import { SOFTHSM_MODULE, USER_PIN, createSoftHsm, softhsmMissing } from './softhsm.js';

const PIN_ENV = 'GBB_TEST_TOKEN_PIN';

describe('P-256 key wrap (p256-hkdf-sha256-aes256gcm), in software', () => {
  it('wraps for a P-256 key, unwraps with it, and refuses other keys and forged entries', () => {
    const recipient = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const dataKey = Buffer.alloc(32, 7);
    const bundleId = 'ab'.repeat(16);
    const entry = wrapDataKey(dataKey, bundleId, recipient.publicKey);
    expect(entry.alg).toBe(P256_WRAP_ALG);
    expect(Buffer.from(entry['epk'] ?? '', 'base64')).toHaveLength(65);
    expect(unwrapDataKey(entry, bundleId, recipient.privateKey)).toEqual(dataKey);
    // Bound to the bundle id, and to the recipient key.
    expect(unwrapDataKey(entry, 'cd'.repeat(16), recipient.privateKey)).toBeUndefined();
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    expect(unwrapDataKey(entry, bundleId, other)).toBeUndefined();
    expect(unwrapDataKey(entry, bundleId, generateKeyPairSync('x25519').privateKey)).toBeUndefined();
    // An ephemeral point off the curve is refused before any ECDH.
    const offCurve = Buffer.from(entry['epk'] ?? '', 'base64');
    offCurve[64] = (offCurve[64] ?? 0) ^ 1;
    expect(
      unwrapDataKey({ ...entry, epk: offCurve.toString('base64') }, bundleId, recipient.privateKey),
    ).toBeUndefined();
  });

  it('is accepted by the header guard with a 65-byte epk, and refused with a 32-byte one', () => {
    const recipient = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
    const entry = wrapDataKey(Buffer.alloc(32, 1), '00'.repeat(16), recipient);
    const header = {
      format: 1 as const,
      suite: 'intl-v1' as const,
      bundleId: '00'.repeat(16),
      sender: { name: 'gov', keyId: '11'.repeat(16) },
      recipients: [entry],
      dataset: 'residents',
      contract: '-',
      stream: 's',
      sequence: 1,
      rowCount: 0,
      kind: 'rows' as const,
      createdAt: '2026-01-01T00:00:00.000Z',
      expiresAt: '2026-01-02T00:00:00.000Z',
      segmentSize: 1024,
    };
    expect(parseHeader(encodeHeader(header), 'test').recipients[0]?.alg).toBe(P256_WRAP_ALG);
    const short = { ...entry, epk: Buffer.alloc(32, 4).toString('base64') };
    expect(() => parseHeader(encodeHeader({ ...header, recipients: [short] }), 'test')).toThrow(
      /epk must be base64 of 65 bytes/,
    );
  });

  it('converts a raw ECDSA signature to the DER the format stores', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    for (let i = 0; i < 50; i++) {
      const message = Buffer.from(`message ${i}`);
      const raw = sign('sha256', message, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      expect(verify('sha256', message, { key: publicKey, dsaEncoding: 'der' }, ecdsaRawToDer(raw))).toBe(
        true,
      );
    }
  });
});

const missing = softhsmMissing();

describe.skipIf(missing !== undefined)(
  `PKCS#11 token keys (SoftHSM2)${missing ? ` — skipped: ${missing}` : ''}`,
  () => {
    let root: string;
    let world: World;
    let bankT: Identity;
    let govT: Identity;
    const keysOf = (name: string): string => join(world.root, 'keys', name);

    beforeAll(async () => {
      root = mkdtempSync(join(tmpdir(), 'bridge-token-'));
      // Every token first: SoftHSM reads its slots once, when this process first loads the module.
      createSoftHsm(root, ['bridge-test', 'pin-test', 'bank-a-hsm']);
      process.env[PIN_ENV] = USER_PIN;
      world = await createWorld();
      const token = { module: SOFTHSM_MODULE, label: 'bridge-test', pinEnv: PIN_ENV };
      for (const [name, role] of [
        ['bank-t', 'outer'],
        ['gov-t', 'inner'],
      ] as const) {
        await issueTokenNodeKeys({
          caDir: world.caDir,
          caPassphrase: CA_PASSPHRASE,
          role,
          name,
          outDir: keysOf(name),
          token,
        });
      }
      const exported = (name: string): string[] =>
        [`${name}-sign.cert.pem`, `${name}-enc.cert.pem`].map((f) => join(keysOf(name), 'trust-export', f));
      await importCertificates({ trustDir: world.trustDir('gov'), files: exported('bank-t') });
      await importCertificates({ trustDir: world.trustDir('bank-a'), files: exported('gov-t') });
      world.trust['gov'] = await loadTrustStore(world.trustDir('gov'));
      world.trust['bank-a'] = await loadTrustStore(world.trustDir('bank-a'));
      bankT = await loadIdentity({ keysDir: keysOf('bank-t'), passphrase: 'unused for a token identity' });
      govT = await loadIdentity({ keysDir: keysOf('gov-t'), passphrase: '' });
      world.identities['gov-t'] = govT;
      world.identities['bank-t'] = bankT;
    });

    afterAll(() => {
      world?.cleanup();
      if (root) rmSync(root, { recursive: true, force: true });
    });

    function openToken(): Pkcs11Token {
      return Pkcs11Token.open({
        module: SOFTHSM_MODULE,
        label: 'bridge-test',
        pin: USER_PIN,
        pinSource: 'test',
      });
    }

    it('generates the keys in the token: certificates and token.yaml in the folder, no key files', () => {
      const files = readdirSync(keysOf('bank-t')).sort();
      expect(files).toEqual(['ca.cert.pem', 'enc.cert.pem', 'sign.cert.pem', 'token.yaml', 'trust-export']);
      const yaml = readFileSync(join(keysOf('bank-t'), 'token.yaml'), 'utf8');
      expect(yaml).toContain('token_label: "bridge-test"');
      expect(yaml).toContain(`pin_env: "${PIN_ENV}"`);
      expect(yaml).toContain('sign: "bank-t/outer/sign"');
      expect(yaml).not.toContain(USER_PIN);
      expect(bankT.signAlgorithm).toBe('ecdsa-p256');
      expect(bankT.signKeyId).toBe(bankT.signCertificate.keyId);
      expect(bankT.encKeyIds).toHaveLength(1);
    });

    it('keeps the private keys sensitive and not extractable (CKA_VALUE cannot be read)', () => {
      const token = openToken();
      for (const [label, keyId] of [
        ['bank-t/outer/sign', bankT.signKeyId],
        ['bank-t/outer/encrypt', bankT.encKeyIds[0] ?? ''],
      ] as const) {
        expect(token.privateKeyFlags({ label, keyId })).toEqual({
          sensitive: true,
          extractable: false,
          onToken: true,
        });
        let refused: unknown;
        try {
          token.tryReadPrivateValue({ label, keyId });
        } catch (error) {
          refused = error;
        }
        expect(refused).toBeInstanceOf(KeyError);
        expect(String(refused)).toContain('CKR_ATTRIBUTE_SENSITIVE');
      }
    });

    it('seals a bundle for a token-held encryption key and opens it with the key in the token', async () => {
      const recipients = recipientCertificates(world.trust['gov']!, 'bank-t', new Date());
      expect(recipients.map((c) => c.keyId)).toEqual([bankT.encKeyIds[0]]);
      const body = Buffer.from('rows for the bank whose keys are in an HSM\n'.repeat(500));
      const sealed = await seal(world, 'gov', recipients, body, 'for-token.gbb', { segmentSize: 4096 });
      expect(sealed.header.recipients[0]?.alg).toBe(P256_WRAP_ALG);
      const trustOfBankT = await trustFor(world, 'bank-t', ['gov']);
      const opened = await openBundle({
        path: sealed.path,
        identity: bankT,
        trust: trustOfBankT,
        now: new Date(),
        expectSenderRole: 'inner',
      });
      expect(await collect(opened.body)).toEqual(body);
      expect(opened.plaintextDigest()).toBe(sealed.plaintextDigest);
    });

    it('signs a bundle in the token; the receiver verifies it with its ordinary trust store', async () => {
      const bankA = world.identities['bank-a']!;
      const recipients = recipientCertificates(world.trust['gov']!, 'bank-a', new Date());
      const body = Buffer.from('signed inside the token');
      const sealed = await seal(world, 'gov-t', recipients, body, 'from-token.gbb');
      expect(sealed.header.sender).toEqual({ name: 'gov-t', keyId: govT.signKeyId });
      const opened = await openBundle({
        path: sealed.path,
        identity: bankA,
        trust: world.trust['bank-a']!,
        now: new Date(),
        expectSenderRole: 'inner',
      });
      expect(opened.signer.name).toBe('gov-t');
      expect(await collect(opened.body)).toEqual(body);
    });

    it('refuses a wrong PIN with a KeyError naming the token and what to do, never the PIN', async () => {
      // A folder for the never-logged-in token 'pin-test', so the token itself judges the PIN.
      const dir = join(root, 'pin-test-keys');
      cpSync(keysOf('bank-t'), dir, { recursive: true });
      const yaml = readFileSync(join(dir, 'token.yaml'), 'utf8').replace('"bridge-test"', '"pin-test"');
      writeFileSync(join(dir, 'token.yaml'), yaml.replace(`pin_env: "${PIN_ENV}"`, 'pin_file: "pin"'));
      writeFileSync(join(dir, 'pin'), '987654\n', { mode: 0o600 });
      const error = await loadIdentity({ keysDir: dir, passphrase: '' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KeyError);
      expect((error as KeyError).code).toBe('KEY_TOKEN');
      expect(String(error)).toContain('Token "pin-test" refused the PIN');
      expect(String(error)).toContain(`pin_file ${join(dir, 'pin')}`);
      expect(String(error)).not.toContain('987654');
      // A wrong PIN for a token this process is already logged in to is refused too.
      process.env['GBB_WRONG_PIN'] = '111111';
      const other = join(root, 'wrong-pin-keys');
      cpSync(keysOf('bank-t'), other, { recursive: true });
      const text = readFileSync(join(other, 'token.yaml'), 'utf8').replace(PIN_ENV, 'GBB_WRONG_PIN');
      writeFileSync(join(other, 'token.yaml'), text);
      const again = await loadIdentity({ keysDir: other, passphrase: '' }).catch((e: unknown) => e);
      expect(String(again)).toContain('Token "bridge-test" refused the PIN');
      expect(String(again)).not.toContain('111111');
      // A PIN file others can read is refused before it is used.
      chmodSync(join(dir, 'pin'), 0o644);
      const loose = await loadIdentity({ keysDir: dir, passphrase: '' }).catch((e: unknown) => e);
      expect((loose as KeyError).code).toBe('KEY_PERMISSIONS');
    });

    it('says which token is missing, and which module, when the token or module is absent', async () => {
      const dir = join(root, 'absent-keys');
      cpSync(keysOf('bank-t'), dir, { recursive: true });
      const yaml = readFileSync(join(dir, 'token.yaml'), 'utf8');
      writeFileSync(join(dir, 'token.yaml'), yaml.replace('"bridge-test"', '"vault-7"'));
      const absent = await loadIdentity({ keysDir: dir, passphrase: '' }).catch((e: unknown) => e);
      expect((absent as KeyError).code).toBe('KEY_TOKEN');
      expect(String(absent)).toMatch(/Token "vault-7" is not present.*tokens present: .*"bridge-test"/);
      writeFileSync(join(dir, 'token.yaml'), yaml.replace(SOFTHSM_MODULE, '/nonexistent/libpkcs11.so'));
      const noModule = await loadIdentity({ keysDir: dir, passphrase: '' }).catch((e: unknown) => e);
      expect(String(noModule)).toMatch(/PKCS#11 module not found.*\/nonexistent\/libpkcs11\.so/);
      delete process.env['GBB_UNSET_PIN'];
      writeFileSync(join(dir, 'token.yaml'), yaml.replace(PIN_ENV, 'GBB_UNSET_PIN'));
      const noPin = await loadIdentity({ keysDir: dir, passphrase: '' }).catch((e: unknown) => e);
      expect(String(noPin)).toContain('environment variable GBB_UNSET_PIN is not set');
    });

    it('closes every session and leaves no derived secret behind over 200 seals and opens', async () => {
      const token = openToken();
      const before = { ...tokenSessionCounters };
      const recipients = recipientCertificates(world.trust['gov']!, 'bank-t', new Date());
      const trustOfBankT = await trustFor(world, 'bank-t', ['gov-t']);
      const govTrust = world.trust['gov']!;
      expect(recipients).toHaveLength(1);
      for (let i = 0; i < 200; i++) {
        // Signed in the token (gov-t) and unwrapped in the token (bank-t): three token operations each.
        const sealed = await seal(
          world,
          'gov-t',
          recipientCertificates(govTrust, 'bank-t', new Date()),
          Buffer.from(`n${i}`),
          `leak-${i}.gbb`,
        );
        const opened = await openBundle({
          path: sealed.path,
          identity: bankT,
          trust: trustOfBankT,
          now: new Date(),
          expectSenderRole: 'inner',
        });
        expect((await collect(opened.body)).toString()).toBe(`n${i}`);
        rmSync(sealed.path);
      }
      const opened = tokenSessionCounters.opened - before.opened;
      expect(opened).toBeGreaterThanOrEqual(600);
      expect(tokenSessionCounters.closed - before.closed).toBe(opened);
      expect(token.countSessionObjects()).toBe(0);
    });

    it('rotates a token encryption key; bundles sealed to the old key still open', async () => {
      const recipients = recipientCertificates(world.trust['gov']!, 'bank-t', new Date());
      const old = await seal(world, 'gov', recipients, Buffer.from('in flight'), 'before-rotation.gbb');
      const rotated = await rotateEncryptionKey({
        caDir: world.caDir,
        caPassphrase: CA_PASSPHRASE,
        keysDir: keysOf('bank-t'),
        passphrase: '',
      });
      expect(rotated.previousKeyId).toBe(bankT.encKeyIds[0]);
      expect(existsSync(join(keysOf('bank-t'), `enc-${rotated.previousKeyId}.cert.pem`))).toBe(true);
      const reloaded = await loadIdentity({ keysDir: keysOf('bank-t'), passphrase: '' });
      expect(reloaded.encKeyIds).toEqual([rotated.encCertificate.keyId, rotated.previousKeyId]);
      const opened = await openBundle({
        path: old.path,
        identity: reloaded,
        trust: await trustFor(world, 'bank-t', ['gov']),
        now: new Date(),
        expectSenderRole: 'inner',
      });
      expect((await collect(opened.body)).toString()).toBe('in flight');
    });

    /**
     * A token bank of its own (keys in the 'bridge-test' token under its own labels), its encryption
     * certificate imported at a county trust folder of its own, then rotated a minute later: a copy of the
     * keys folder from before the rotation holds only the old key, one without enc-<oldKeyId>.cert.pem
     * only the new one.
     */
    async function rotatedTokenBank(name: string) {
      const t0 = new Date();
      await issueTokenNodeKeys({
        caDir: world.caDir,
        caPassphrase: CA_PASSPHRASE,
        role: 'outer',
        name,
        outDir: keysOf(name),
        token: { module: SOFTHSM_MODULE, label: 'bridge-test', pinEnv: PIN_ENV },
      });
      const countyTrust = join(world.root, 'trust', `gov-for-${name}`);
      const exportedEnc = join(keysOf(name), 'trust-export', `${name}-enc.cert.pem`);
      await importCertificates({
        trustDir: countyTrust,
        caCertFile: join(world.caDir, 'ca.cert.pem'),
        files: [exportedEnc],
      });
      const oldOnly = join(root, `${name}-old-only`);
      cpSync(keysOf(name), oldOnly, { recursive: true });
      const rotated = await rotateEncryptionKey({
        caDir: world.caDir,
        caPassphrase: CA_PASSPHRASE,
        keysDir: keysOf(name),
        passphrase: '',
        now: new Date(t0.getTime() + 60_000),
      });
      const newOnly = join(root, `${name}-new-only`);
      cpSync(keysOf(name), newOnly, { recursive: true });
      rmSync(join(newOnly, `enc-${rotated.previousKeyId}.cert.pem`));
      // Announced: the county imports the new certificate beside the old one.
      await importCertificates({ trustDir: countyTrust, files: [exportedEnc] });
      return {
        t0,
        countyTrust,
        bankTrust: await trustFor(world, name, ['gov']),
        oldKeyId: rotated.previousKeyId,
        newKeyId: rotated.encCertificate.keyId,
        identities: {
          both: await loadIdentity({ keysDir: keysOf(name), passphrase: '' }),
          oldOnly: await loadIdentity({ keysDir: oldOnly, passphrase: '' }),
          newOnly: await loadIdentity({ keysDir: newOnly, passphrase: '' }),
        },
      };
    }

    it('rotates a token encryption key, overlap: the county seals to the new and the old token key; the bank opens with both keys, with only the old key and with only the new key', async () => {
      const bank = await rotatedTokenBank('bank-t-overlap');
      expect(bank.identities.both.encKeyIds).toEqual([bank.newKeyId, bank.oldKeyId]);
      expect(bank.identities.oldOnly.encKeyIds).toEqual([bank.oldKeyId]);
      expect(bank.identities.newOnly.encKeyIds).toEqual([bank.newKeyId]);
      const recipients = recipientCertificates(
        await loadTrustStore(bank.countyTrust),
        'bank-t-overlap',
        new Date(bank.t0.getTime() + 120_000),
      );
      expect(recipients.map((c) => c.keyId)).toEqual([bank.newKeyId, bank.oldKeyId]);
      const body = Buffer.from('sealed to both token keys during the overlap');
      const sealed = await seal(world, 'gov', recipients, body, 'token-overlap.gbb');
      expect(sealed.header.recipients.map((r) => [r.keyId, r.alg])).toEqual([
        [bank.newKeyId, P256_WRAP_ALG],
        [bank.oldKeyId, P256_WRAP_ALG],
      ]);
      for (const identity of Object.values(bank.identities)) {
        const opened = await openBundle({
          path: sealed.path,
          identity,
          trust: bank.bankTrust,
          now: new Date(),
          expectSenderRole: 'inner',
        });
        expect(await collect(opened.body)).toEqual(body);
      }
    });

    it('rotates a token encryption key, new-only: after the CRL revoking the old certificate is installed at the county, bundles are sealed to the new token key alone; a bank with only the old key cannot open them', async () => {
      const bank = await rotatedTokenBank('bank-t-new-only');
      const oldCert = (await loadTrustStore(bank.countyTrust)).peers.find((c) => c.keyId === bank.oldKeyId);
      await revokeCertificate({
        caDir: world.caDir,
        caPassphrase: CA_PASSPHRASE,
        serial: oldCert?.serial ?? 'missing',
        reason: 'superseded',
      });
      const crlFile = join(root, 'crl-token-new-only.pem');
      await createCrl({ caDir: world.caDir, caPassphrase: CA_PASSPHRASE, out: crlFile });
      await importCrl({ trustDir: bank.countyTrust, crlFile });
      const recipients = recipientCertificates(
        await loadTrustStore(bank.countyTrust),
        'bank-t-new-only',
        new Date(),
      );
      expect(recipients.map((c) => c.keyId)).toEqual([bank.newKeyId]);
      const body = Buffer.from('sealed to the new token key only');
      const sealed = await seal(world, 'gov', recipients, body, 'token-new-only.gbb');
      expect(sealed.header.recipients.map((r) => r.keyId)).toEqual([bank.newKeyId]);
      for (const identity of [bank.identities.both, bank.identities.newOnly]) {
        const opened = await openBundle({
          path: sealed.path,
          identity,
          trust: bank.bankTrust,
          now: new Date(),
          expectSenderRole: 'inner',
        });
        expect(await collect(opened.body)).toEqual(body);
      }
      await expect(
        openBundle({
          path: sealed.path,
          identity: bank.identities.oldOnly,
          trust: bank.bankTrust,
          now: new Date(),
          expectSenderRole: 'inner',
        }),
      ).rejects.toMatchObject({ code: 'VERIFY_NOT_FOR_US' });
    });

    describe.skipIf(!existsSync(BIN.keys))('a whole bridge whose bank keeps its keys in a token', () => {
      let bridge: Awaited<ReturnType<typeof temporaryBridge>>;
      beforeAll(async () => {
        bridge = await temporaryBridge(400, 5);
      });
      afterAll(() => bridge?.cleanup());

      it('issues token keys with bridge-keys, then exports, ferries and imports through the compiled CLIs', async () => {
        const tokenKeys = join(bridge.dir, 'bank-a-token-keys');
        const issued = await runCli(BIN.keys, [
          'issue',
          '--ca',
          bridge.caDir,
          '--ca-passphrase-file',
          join(bridge.dir, 'ca.passphrase'),
          '--role',
          'outer',
          '--name',
          'bank-a',
          '--out',
          tokenKeys,
          '--token-module',
          SOFTHSM_MODULE,
          '--token-label',
          'bank-a-hsm',
          '--pin-env',
          PIN_ENV,
        ]);
        expect(issued.stdout).toContain('in token "bank-a-hsm"');
        expect(readdirSync(tokenKeys).filter((f) => f.endsWith('.key.pem'))).toEqual([]);

        // The bank's keys folder becomes the token one. The node configuration still names a
        // passphrase file; it is kept, though a token identity does not use it.
        const outerKeys = join(bridge.outerDir, 'keys');
        renameSync(outerKeys, join(bridge.outerDir, 'keys.software'));
        renameSync(tokenKeys, outerKeys);
        copyFileSync(join(bridge.outerDir, 'keys.software', 'passphrase'), join(outerKeys, 'passphrase'));
        chmodSync(join(outerKeys, 'passphrase'), 0o600);

        // The county now trusts only the bank's token certificates.
        const peers = join(bridge.innerDir, 'trust', 'peers');
        for (const f of readdirSync(peers)) if (f.startsWith('bank-a-')) rmSync(join(peers, f));
        const exportDir = join(outerKeys, 'trust-export');
        await runCli(BIN.keys, [
          'import-cert',
          '--trust',
          join(bridge.innerDir, 'trust'),
          ...readdirSync(exportDir).map((f) => join(exportDir, f)),
        ]);

        const exported = await runCli(BIN.inner, ['export', '--config', bridge.innerConfig]);
        expect(exported.stdout).toMatch(/residents: 400 rows in 1 bundle\(s\)/);
        await runCli(BIN.ferry, [
          '--from',
          join(bridge.innerDir, 'outbox'),
          '--to',
          join(bridge.outerDir, 'inbox'),
        ]);
        const imported = await runCli(BIN.outer, ['import', '--config', bridge.outerConfig, '--settle', '0']);
        expect(imported.stdout).toMatch(/0 quarantined/);
        const rows = querySqlite<{ n: number }>(bridge.bankDb, 'SELECT COUNT(*) AS n FROM GOV_RESIDENT');
        expect(rows[0]?.n).toBe(400);
        const ledger = querySqlite<{ row_count: number }>(
          bridge.bankDb,
          "SELECT row_count FROM bridge_ledger WHERE stream = 'county.bank-a.residents'",
        );
        expect(ledger).toEqual([{ row_count: 400 }]);
      });
    });
  },
);

/** A trust folder for a token node: the CA and the given peers' certificates. */
async function trustFor(
  world: World,
  name: string,
  peers: string[],
): Promise<Awaited<ReturnType<typeof loadTrustStore>>> {
  const dir = world.trustDir(name);
  mkdirSync(dir, { recursive: true });
  await importCertificates({
    trustDir: dir,
    caCertFile: join(world.caDir, 'ca.cert.pem'),
    files: peers.flatMap((peer) =>
      [`${peer}-sign.cert.pem`, `${peer}-enc.cert.pem`].map((f) =>
        join(world.keysDir(peer), 'trust-export', f),
      ),
    ),
  });
  return loadTrustStore(dir);
}
