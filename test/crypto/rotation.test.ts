// The rotation matrix of docs/key-rotation.md (sections 3 and 4), for each suite: a bank's encryption
// key (old-only, overlap, new-only, in flight after the switch, revoked), the county's signing key
// (overlap, revoked), expired, wrong role and unknown CA. Every case seals and opens a real bundle
// through crypto/index.js; time is moved with `now` arguments, never by sleeping. Each case issues its
// own nodes and trust folders, so a revocation in one case never leaks into another.
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCrl,
  importCertificates,
  importCrl,
  initCa,
  issueNodeKeys,
  loadIdentity,
  loadTrustStore,
  openBundle,
  readNodeCertificate,
  recipientCertificates,
  revokeCertificate,
  rotateEncryptionKey,
  sealBundle,
  type BundleDescription,
  type Identity,
  type InitCaOptions,
  type IssueNodeKeysOptions,
  type NodeRole,
  type PeerCertificate,
  type RevokeOptions,
  type SealResult,
  type SuiteName,
} from '../../crypto/index.js';
import { checkCertificateAnnouncement } from '../../inner-node/reverse-certificates.js';
import { CA_PASSPHRASE, NODE_PASSPHRASE, chunks, collect, description } from './fixtures.js';

interface Variant {
  label: string;
  suite: SuiteName;
  signAlgorithm: NonNullable<IssueNodeKeysOptions['signAlgorithm']>;
  caAlgorithm: NonNullable<InitCaOptions['algorithm']>;
}

const VARIANTS: Variant[] = [
  {
    label: 'intl-v1 (Ed25519 signer, Ed25519 CA)',
    suite: 'intl-v1',
    signAlgorithm: 'ed25519',
    caAlgorithm: 'ed25519',
  },
  {
    label: 'intl-v1 (ECDSA P-256 signer, P-256 CA)',
    suite: 'intl-v1',
    signAlgorithm: 'ecdsa-p256',
    caAlgorithm: 'ecdsa-p256',
  },
  { label: 'sm-v1 (SM2 signer, SM2 CA)', suite: 'sm-v1', signAlgorithm: 'sm2', caAlgorithm: 'sm2' },
];

const MINUTE = 60_000;
const DAY = 86_400_000;
const later = (base: Date, ms: number): Date => new Date(base.getTime() + ms);
const keyIdsOf = (certs: readonly { keyId: string }[]): string[] => certs.map((c) => c.keyId);

describe.each(VARIANTS)('key rotation matrix, suite $label', (variant) => {
  const tag = `[${variant.label}]`;
  let root: string;
  let caDir: string;
  let caCertFile: string;
  let county: string;
  let countyId: Identity;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'bridge-rotation-'));
    caDir = join(root, 'ca');
    caCertFile = join(caDir, 'ca.cert.pem');
    await initCa({
      dir: caDir,
      passphrase: CA_PASSPHRASE,
      name: 'Rotation Test CA',
      algorithm: variant.caAlgorithm,
    });
    county = await issue('county', 'inner');
    countyId = await identityOf(county);
  });
  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** Issues a node of this variant's suite into keys/<dir>; returns the keys folder. */
  async function issue(
    name: string,
    role: NodeRole,
    extra: { dir?: string; days?: number; now?: Date; caDir?: string } = {},
  ): Promise<string> {
    const outDir = join(root, 'keys', extra.dir ?? name);
    await issueNodeKeys({
      caDir: extra.caDir ?? caDir,
      caPassphrase: CA_PASSPHRASE,
      role,
      name,
      outDir,
      passphrase: NODE_PASSPHRASE,
      suite: variant.suite,
      signAlgorithm: variant.signAlgorithm,
      ...(extra.days ? { days: extra.days } : {}),
      ...(extra.now ? { now: extra.now } : {}),
    });
    return outDir;
  }

  const identityOf = (keysDir: string): Promise<Identity> =>
    loadIdentity({ keysDir, passphrase: NODE_PASSPHRASE });
  /** The certificate a node's trust-export folder holds for its peer. */
  const exported = (keysDir: string, name: string, usage: 'sign' | 'enc'): string =>
    join(keysDir, 'trust-export', `${name}-${usage}.cert.pem`);

  /** A trust folder trusting this variant's CA and the given certificate files. */
  async function trustFolder(dir: string, files: string[]): Promise<string> {
    const trustDir = join(root, 'trust', dir);
    await importCertificates({ trustDir, caCertFile, files });
    return trustDir;
  }

  async function recipientsAt(trustDir: string, peer: string, now: Date): Promise<PeerCertificate[]> {
    return recipientCertificates(await loadTrustStore(trustDir), peer, now);
  }

  async function sealAs(
    identity: Identity,
    recipients: PeerCertificate[],
    body: Buffer,
    file: string,
    overrides: Partial<BundleDescription> = {},
  ): Promise<SealResult> {
    return sealBundle({
      identity,
      recipients,
      description: description(overrides),
      body: chunks(body),
      outputPath: join(root, 'out', file),
    });
  }

  /** Opens with the trust folder as it is on disk now (a node that reloaded it), returning the body. */
  async function openAs(
    path: string,
    identity: Identity,
    trustDir: string,
    now = new Date(),
    expectSenderRole: NodeRole = 'inner',
  ): Promise<Buffer> {
    const opened = await openBundle({
      path,
      identity,
      trust: await loadTrustStore(trustDir),
      now,
      expectSenderRole,
    });
    return collect(opened.body);
  }

  /** Revokes a certificate at the CA and installs a fresh CRL into each trust folder. */
  async function revokeAndInstall(
    serial: string,
    reason: RevokeOptions['reason'],
    trustDirs: string[],
  ): Promise<void> {
    await revokeCertificate({ caDir, caPassphrase: CA_PASSPHRASE, serial, reason });
    const crlFile = join(root, 'out', `crl-${serial}.pem`);
    await createCrl({ caDir, caPassphrase: CA_PASSPHRASE, out: crlFile });
    for (const trustDir of trustDirs) await importCrl({ trustDir, crlFile });
  }

  /**
   * A bank with its encryption certificate imported at the county, the county's signing certificate
   * imported at the bank, and a copy of its keys folder as it was before any rotation (a bank holding
   * only the old key).
   */
  async function bankForRotation(name: string, days?: number) {
    const keysDir = await issue(name, 'outer', days ? { days } : {});
    const oldOnlyDir = join(root, 'keys', `${name}-old-only`);
    cpSync(keysDir, oldOnlyDir, { recursive: true });
    const countyTrust = await trustFolder(`county-for-${name}`, [exported(keysDir, name, 'enc')]);
    const bankTrust = await trustFolder(name, [exported(county, 'county', 'sign')]);
    const oldCert = readNodeCertificate(join(keysDir, 'enc.cert.pem'), 'encrypt');
    return { keysDir, oldOnlyDir, countyTrust, bankTrust, oldCert };
  }

  /** Rotates the bank's encryption key a minute after `t0`, so the two certificates differ in notBefore. */
  async function rotate(keysDir: string, name: string, t0: Date) {
    const rotated = await rotateEncryptionKey({
      caDir,
      caPassphrase: CA_PASSPHRASE,
      keysDir,
      passphrase: NODE_PASSPHRASE,
      name,
      now: later(t0, MINUTE),
    });
    // A bank that holds only the new key: the kept old key deleted.
    const newOnlyDir = join(root, 'keys', `${name}-new-only`);
    cpSync(keysDir, newOnlyDir, { recursive: true });
    rmSync(join(newOnlyDir, `enc-${rotated.previousKeyId}.key.pem`));
    return { ...rotated, newKeyId: rotated.encCertificate.keyId, newOnlyDir };
  }

  describe('encryption key rotation of the bank', () => {
    it(`${tag} old-only: before the new certificate reaches the county, bundles are sealed to the old key alone and open at the bank before and after it rotated`, async () => {
      const t0 = new Date();
      const bank = await bankForRotation('bank-old-only');
      const body = Buffer.from(`old-only ${variant.label}`);

      const before = await recipientsAt(bank.countyTrust, 'bank-old-only', t0);
      expect(keyIdsOf(before)).toEqual([bank.oldCert.keyId]);
      const first = await sealAs(countyId, before, body, 'old-only-1.gbb');
      expect(first.header.suite).toBe(variant.suite);
      expect(await openAs(first.path, await identityOf(bank.keysDir), bank.bankTrust)).toEqual(body);

      // The bank rotated; the county has not imported the new certificate yet: still the old key only.
      const rotated = await rotate(bank.keysDir, 'bank-old-only', t0);
      const rotatedBank = await identityOf(bank.keysDir);
      expect(rotatedBank.encKeyIds).toEqual([rotated.newKeyId, bank.oldCert.keyId]);
      const stillOld = await recipientsAt(bank.countyTrust, 'bank-old-only', later(t0, 2 * MINUTE));
      expect(keyIdsOf(stillOld)).toEqual([bank.oldCert.keyId]);
      const second = await sealAs(countyId, stillOld, body, 'old-only-2.gbb');
      expect(keyIdsOf(second.header.recipients)).toEqual([bank.oldCert.keyId]);
      expect(await openAs(second.path, rotatedBank, bank.bankTrust)).toEqual(body);
    });

    it(`${tag} overlap: with both certificates imported the county seals to the new and the old key (newest first); the bank opens with both keys, with only the old key and with only the new key`, async () => {
      const t0 = new Date();
      const bank = await bankForRotation('bank-overlap');
      const rotated = await rotate(bank.keysDir, 'bank-overlap', t0);
      await importCertificates({
        trustDir: bank.countyTrust,
        files: [exported(bank.keysDir, 'bank-overlap', 'enc')],
      });
      // Both certificates are kept, each in its own file.
      expect(readdirSync(join(bank.countyTrust, 'peers')).sort()).toEqual([
        `bank-overlap-enc-${rotated.newKeyId}.cert.pem`,
        'bank-overlap-enc.cert.pem',
      ]);

      const overlap = await recipientsAt(bank.countyTrust, 'bank-overlap', later(t0, 2 * MINUTE));
      expect(keyIdsOf(overlap)).toEqual([rotated.newKeyId, bank.oldCert.keyId]);
      const body = Buffer.from(`overlap ${variant.label}`);
      const sealed = await sealAs(countyId, overlap, body, 'overlap.gbb');
      expect(keyIdsOf(sealed.header.recipients)).toEqual([rotated.newKeyId, bank.oldCert.keyId]);

      for (const keysDir of [bank.keysDir, bank.oldOnlyDir, rotated.newOnlyDir]) {
        expect(await openAs(sealed.path, await identityOf(keysDir), bank.bankTrust)).toEqual(body);
      }
      expect((await identityOf(bank.oldOnlyDir)).encKeyIds).toEqual([bank.oldCert.keyId]);
      expect((await identityOf(rotated.newOnlyDir)).encKeyIds).toEqual([rotated.newKeyId]);
    });

    it(`${tag} new-only: once the CRL revoking the old certificate is installed at the county, bundles are sealed to the new key alone; a bank holding only the old key cannot open them (VERIFY_NOT_FOR_US)`, async () => {
      const t0 = new Date();
      const bank = await bankForRotation('bank-new-only');
      const rotated = await rotate(bank.keysDir, 'bank-new-only', t0);
      await importCertificates({
        trustDir: bank.countyTrust,
        files: [exported(bank.keysDir, 'bank-new-only', 'enc')],
      });
      await revokeAndInstall(bank.oldCert.serial, 'superseded', [bank.countyTrust]);

      const newOnly = await recipientsAt(bank.countyTrust, 'bank-new-only', new Date());
      expect(keyIdsOf(newOnly)).toEqual([rotated.newKeyId]);
      const body = Buffer.from(`new-only ${variant.label}`);
      const sealed = await sealAs(countyId, newOnly, body, 'new-only.gbb');
      expect(keyIdsOf(sealed.header.recipients)).toEqual([rotated.newKeyId]);

      expect(await openAs(sealed.path, await identityOf(bank.keysDir), bank.bankTrust)).toEqual(body);
      expect(await openAs(sealed.path, await identityOf(rotated.newOnlyDir), bank.bankTrust)).toEqual(body);
      await expect(
        openAs(sealed.path, await identityOf(bank.oldOnlyDir), bank.bankTrust),
      ).rejects.toMatchObject({ code: 'VERIFY_NOT_FOR_US' });
    });

    it(`${tag} in flight after the switch: a bundle sealed to the old key alone before the rotation opens after the bank rotated and the county moved to the new key, because the old key is kept; deleting the kept key makes it VERIFY_NOT_FOR_US, restoring it opens it again`, async () => {
      const t0 = new Date();
      const bank = await bankForRotation('bank-in-flight');
      const body = Buffer.from(`in flight ${variant.label}`);
      const inFlight = await sealAs(
        countyId,
        await recipientsAt(bank.countyTrust, 'bank-in-flight', t0),
        body,
        'in-flight.gbb',
      );
      expect(keyIdsOf(inFlight.header.recipients)).toEqual([bank.oldCert.keyId]);

      // The switch: rotate, announce, and retire the old certificate at both nodes (section 3, step 4).
      const rotated = await rotate(bank.keysDir, 'bank-in-flight', t0);
      await importCertificates({
        trustDir: bank.countyTrust,
        files: [exported(bank.keysDir, 'bank-in-flight', 'enc')],
      });
      await revokeAndInstall(bank.oldCert.serial, 'superseded', [bank.countyTrust, bank.bankTrust]);
      expect(keyIdsOf(await recipientsAt(bank.countyTrust, 'bank-in-flight', new Date()))).toEqual([
        rotated.newKeyId,
      ]);

      // The bank does not judge its own decryption keys by the CRL: a kept key opens what is in flight.
      expect(await openAs(inFlight.path, await identityOf(bank.keysDir), bank.bankTrust)).toEqual(body);
      await expect(
        openAs(inFlight.path, await identityOf(rotated.newOnlyDir), bank.bankTrust),
      ).rejects.toMatchObject({ code: 'VERIFY_NOT_FOR_US' });
      // "restoring the kept file from backup opens it"
      const keptKey = `enc-${rotated.previousKeyId}.key.pem`;
      cpSync(join(bank.keysDir, keptKey), join(rotated.newOnlyDir, keptKey));
      expect(await openAs(inFlight.path, await identityOf(rotated.newOnlyDir), bank.bankTrust)).toEqual(body);
    });

    it(`${tag} revoked: a revoked encryption certificate is dropped as a recipient as soon as the CRL is installed; with no other certificate the county cannot seal (BUNDLE_MALFORMED), and a bundle already addressed to the revoked key still opens at the bank that keeps it`, async () => {
      const bank = await bankForRotation('bank-revoked');
      const body = Buffer.from(`revoked ${variant.label}`);
      const before = await recipientsAt(bank.countyTrust, 'bank-revoked', new Date());
      expect(keyIdsOf(before)).toEqual([bank.oldCert.keyId]);
      const sealedBefore = await sealAs(countyId, before, body, 'revoked-before.gbb');

      // Key compromise: revoke first, distribute the CRL, then issue a replacement (section 4).
      await revokeAndInstall(bank.oldCert.serial, 'keyCompromise', [bank.countyTrust, bank.bankTrust]);
      const after = await recipientsAt(bank.countyTrust, 'bank-revoked', new Date());
      expect(after).toEqual([]);
      await expect(sealAs(countyId, after, body, 'revoked-after.gbb')).rejects.toMatchObject({
        code: 'BUNDLE_MALFORMED',
        message: expect.stringContaining('No recipients') as unknown,
      });
      // Revocation governs the sender's choice only; the receiver opens with any key it still holds.
      expect(await openAs(sealedBefore.path, await identityOf(bank.keysDir), bank.bankTrust)).toEqual(body);

      // The replacement: once imported, the county seals to it alone.
      const rotated = await rotate(bank.keysDir, 'bank-revoked', new Date());
      await importCertificates({
        trustDir: bank.countyTrust,
        files: [exported(bank.keysDir, 'bank-revoked', 'enc')],
      });
      const replacement = await recipientsAt(bank.countyTrust, 'bank-revoked', later(new Date(), MINUTE));
      expect(keyIdsOf(replacement)).toEqual([rotated.newKeyId]);
      const sealedAfter = await sealAs(countyId, replacement, body, 'revoked-replaced.gbb');
      expect(await openAs(sealedAfter.path, await identityOf(rotated.newOnlyDir), bank.bankTrust)).toEqual(
        body,
      );
    });
  });

  describe('signing key rotation of the county', () => {
    /** A county with an old and a new signing identity (issue into a fresh folder), and a bank. */
    async function countyWithTwoKeys(name: string) {
      const oldDir = await issue(name, 'inner', { dir: `${name}-old` });
      const newDir = await issue(name, 'inner', { dir: `${name}-new` });
      const bankName = `bank-of-${name}`;
      const bankDir = await issue(bankName, 'outer');
      const bankTrust = await trustFolder(bankName, [exported(oldDir, name, 'sign')]);
      // Section 3, last paragraph: the new signing certificate is imported at the peer before the switch.
      await importCertificates({ trustDir: bankTrust, files: [exported(newDir, name, 'sign')] });
      const recipients = [readNodeCertificate(join(bankDir, 'enc.cert.pem'), 'encrypt')];
      return {
        old: await identityOf(oldDir),
        next: await identityOf(newDir),
        bank: await identityOf(bankDir),
        bankTrust,
        recipients,
      };
    }

    it(`${tag} overlap: the bank trusts the old and the new signing certificate of the county; bundles signed with either key open and name the key that signed`, async () => {
      const c = await countyWithTwoKeys('county-overlap');
      expect(c.old.signKeyId).not.toBe(c.next.signKeyId);
      const body = Buffer.from(`signing overlap ${variant.label}`);
      for (const [identity, file] of [
        [c.old, 'sign-overlap-old.gbb'],
        [c.next, 'sign-overlap-new.gbb'],
      ] as const) {
        const sealed = await sealAs(identity, c.recipients, body, file);
        expect(sealed.header.sender).toEqual({ name: 'county-overlap', keyId: identity.signKeyId });
        const opened = await openBundle({
          path: sealed.path,
          identity: c.bank,
          trust: await loadTrustStore(c.bankTrust),
          now: new Date(),
          expectSenderRole: 'inner',
        });
        expect(opened.signer.keyId).toBe(identity.signKeyId);
        expect(await collect(opened.body)).toEqual(body);
      }
    });

    it(`${tag} revoked: once the bank installs the CRL revoking the old signing certificate, every bundle signed with the old key is refused at once with VERIFY_CERTIFICATE_REVOKED, including one sealed before the revocation (in flight); new-key bundles open`, async () => {
      const c = await countyWithTwoKeys('county-revoked');
      const body = Buffer.from(`signing revoked ${variant.label}`);
      const inFlight = await sealAs(c.old, c.recipients, body, 'sign-in-flight.gbb');
      const trustBeforeCrl = await loadTrustStore(c.bankTrust);

      await revokeAndInstall(c.old.signCertificate.serial, 'superseded', [c.bankTrust]);
      // Designed (docs/key-rotation.md section 4): revocation is judged when the bundle is opened, not
      // when it was sealed; there is no grace for bundles in flight, so the old signing certificate is
      // revoked only after the switch has drained them. A node that has not reloaded its trust folder
      // still accepts them: the CRL takes effect when the trust folder is loaded.
      const stale = await openBundle({
        path: inFlight.path,
        identity: c.bank,
        trust: trustBeforeCrl,
        now: new Date(),
        expectSenderRole: 'inner',
      });
      expect(await collect(stale.body)).toEqual(body);
      await expect(openAs(inFlight.path, c.bank, c.bankTrust)).rejects.toMatchObject({
        code: 'VERIFY_CERTIFICATE_REVOKED',
      });
      const afterRevocation = await sealAs(c.old, c.recipients, body, 'sign-after-revocation.gbb');
      await expect(openAs(afterRevocation.path, c.bank, c.bankTrust)).rejects.toMatchObject({
        code: 'VERIFY_CERTIFICATE_REVOKED',
      });
      const fresh = await sealAs(c.next, c.recipients, body, 'sign-new-key.gbb');
      expect(await openAs(fresh.path, c.bank, c.bankTrust)).toEqual(body);
    });
  });

  describe('expired certificates', () => {
    it(`${tag} expired signer: a county signing certificate issued for one day opens before its notAfter and is refused with VERIFY_CERTIFICATE_EXPIRED after it; the county cannot seal after it (KEY_EXPIRED) and the certificate can no longer be imported`, async () => {
      const countyDir = await issue('county-short', 'inner', { days: 1 });
      const shortLived = await identityOf(countyDir);
      const notAfter = shortLived.signCertificate.notAfter;
      expect(notAfter.getTime() - Date.now()).toBeLessThanOrEqual(DAY);
      const bankDir = await issue('bank-of-county-short', 'outer');
      const bank = await identityOf(bankDir);
      const bankTrust = await trustFolder('bank-of-county-short', [
        exported(countyDir, 'county-short', 'sign'),
      ]);
      const recipients = [readNodeCertificate(join(bankDir, 'enc.cert.pem'), 'encrypt')];
      const body = Buffer.from(`expired signer ${variant.label}`);
      // The bundle itself stays valid for a week, so only the certificate can be the reason.
      const sealed = await sealAs(shortLived, recipients, body, 'expired-signer.gbb', {
        expiresAt: later(new Date(), 7 * DAY),
      });

      expect(await openAs(sealed.path, bank, bankTrust, later(notAfter, -MINUTE))).toEqual(body);
      await expect(openAs(sealed.path, bank, bankTrust, later(notAfter, MINUTE))).rejects.toMatchObject({
        code: 'VERIFY_CERTIFICATE_EXPIRED',
      });
      await expect(
        sealAs(shortLived, recipients, body, 'expired-signer-late.gbb', {
          createdAt: later(notAfter, MINUTE),
          expiresAt: later(notAfter, DAY),
        }),
      ).rejects.toMatchObject({ code: 'KEY_EXPIRED' });
      await expect(
        importCertificates({
          trustDir: join(root, 'trust', 'late-import'),
          caCertFile,
          files: [exported(countyDir, 'county-short', 'sign')],
          now: later(notAfter, MINUTE),
        }),
      ).rejects.toMatchObject({ code: 'KEY_EXPIRED' });
    });

    it(`${tag} expired encryption certificate (new-only after expiry): an encryption certificate past its notAfter is not chosen by recipientCertificates; with its rotated successor only the new key is used`, async () => {
      const t0 = new Date();
      const bank = await bankForRotation('bank-expiring', 1);
      const oldNotAfter = bank.oldCert.notAfter;
      expect(
        keyIdsOf(await recipientsAt(bank.countyTrust, 'bank-expiring', later(oldNotAfter, MINUTE))),
      ).toEqual([]);
      const rotated = await rotate(bank.keysDir, 'bank-expiring', t0);
      await importCertificates({
        trustDir: bank.countyTrust,
        files: [exported(bank.keysDir, 'bank-expiring', 'enc')],
      });
      expect(
        keyIdsOf(await recipientsAt(bank.countyTrust, 'bank-expiring', later(oldNotAfter, -MINUTE))),
      ).toEqual([rotated.newKeyId, bank.oldCert.keyId]);
      const afterExpiry = await recipientsAt(bank.countyTrust, 'bank-expiring', later(oldNotAfter, MINUTE));
      expect(keyIdsOf(afterExpiry)).toEqual([rotated.newKeyId]);

      const body = Buffer.from(`expired encryption certificate ${variant.label}`);
      const sealed = await sealAs(countyId, afterExpiry, body, 'expired-enc.gbb');
      expect(keyIdsOf(sealed.header.recipients)).toEqual([rotated.newKeyId]);
      expect(await openAs(sealed.path, await identityOf(rotated.newOnlyDir), bank.bankTrust)).toEqual(body);
    });
  });

  describe('wrong role', () => {
    it(`${tag} wrong role at open: a bundle signed by an outer (bank) certificate is refused with VERIFY_WRONG_ROLE where an inner sender is expected, and a county bundle where an outer sender is expected`, async () => {
      const bankDir = await issue('bank-wr', 'outer');
      const otherBankDir = await issue('bank-wr-other', 'outer');
      const bank = await identityOf(bankDir);
      // import-cert takes a node certificate of either role: the role is enforced where it is used.
      const bankTrust = await trustFolder('bank-wr', [
        exported(otherBankDir, 'bank-wr-other', 'sign'),
        exported(county, 'county', 'sign'),
      ]);
      const recipients = [readNodeCertificate(join(bankDir, 'enc.cert.pem'), 'encrypt')];
      const body = Buffer.from(`wrong role ${variant.label}`);

      const fromBank = await sealAs(await identityOf(otherBankDir), recipients, body, 'wrong-role-outer.gbb');
      await expect(openAs(fromBank.path, bank, bankTrust, new Date(), 'inner')).rejects.toMatchObject({
        code: 'VERIFY_WRONG_ROLE',
      });
      expect(await openAs(fromBank.path, bank, bankTrust, new Date(), 'outer')).toEqual(body);

      const fromCounty = await sealAs(countyId, recipients, body, 'wrong-role-inner.gbb');
      await expect(openAs(fromCounty.path, bank, bankTrust, new Date(), 'outer')).rejects.toMatchObject({
        code: 'VERIFY_WRONG_ROLE',
      });
      expect(await openAs(fromCounty.path, bank, bankTrust, new Date(), 'inner')).toEqual(body);
    });

    it(`${tag} wrong role or usage where it matters: a signing certificate is never a recipient (recipientCertificates skips it, sealBundle refuses it), and an announced certificate of role inner or usage sign is refused`, async () => {
      const bankDir = await issue('bank-usage', 'outer');
      const countyTrust = await trustFolder('county-for-bank-usage', [
        exported(bankDir, 'bank-usage', 'sign'),
      ]);
      expect(await recipientsAt(countyTrust, 'bank-usage', new Date())).toEqual([]);
      const signCert = readNodeCertificate(join(bankDir, 'sign.cert.pem'), 'sign');
      await expect(sealAs(countyId, [signCert], Buffer.from('x'), 'wrong-usage.gbb')).rejects.toMatchObject({
        code: 'BUNDLE_MALFORMED',
      });
      expect(() => readNodeCertificate(join(bankDir, 'sign.cert.pem'), 'encrypt')).toThrow(
        /usage sign, expected encrypt/,
      );

      // The reverse lane is where a certificate is imported automatically; there role and usage matter.
      const trust = await loadTrustStore(countyTrust);
      const announce =
        (cert: PeerCertificate, sender: string): (() => PeerCertificate) =>
        () =>
          checkCertificateAnnouncement(
            trust,
            sender,
            {
              kind: 'certificate-announcement',
              pem: `${cert.pem.trimEnd()}\n`,
              usage: 'encrypt',
              notBefore: cert.notBefore.toISOString(),
              notAfter: cert.notAfter.toISOString(),
            },
            new Date(),
            'test',
          );
      const innerEnc = readNodeCertificate(join(county, 'enc.cert.pem'), 'encrypt');
      expect(announce(innerEnc, 'county')).toThrow(/role inner; only an outer node/);
      expect(announce(signCert, 'bank-usage')).toThrow(/sign certificate, not an encryption certificate/);
      const bankEnc = readNodeCertificate(join(bankDir, 'enc.cert.pem'), 'encrypt');
      expect(announce(bankEnc, 'bank-usage')().keyId).toBe(bankEnc.keyId);
    });
  });

  describe('unknown CA', () => {
    let rogueCaDir: string;
    beforeAll(async () => {
      // Another CA with the very same name: only its key tells it apart.
      rogueCaDir = join(root, 'rogue-ca');
      await initCa({
        dir: rogueCaDir,
        passphrase: CA_PASSPHRASE,
        name: 'Rotation Test CA',
        algorithm: variant.caAlgorithm,
      });
    });

    it(`${tag} unknown CA at import-cert: a certificate issued by another CA (same CA name, same node name) is refused, so is that CA's own certificate, and the trust folder is unchanged`, async () => {
      const rogue = await issue('county', 'inner', { dir: 'rogue-county-import', caDir: rogueCaDir });
      const bankTrust = await trustFolder('bank-unknown-ca-import', [exported(county, 'county', 'sign')]);
      const peersBefore = readdirSync(join(bankTrust, 'peers')).sort();

      await expect(
        importCertificates({ trustDir: bankTrust, files: [exported(rogue, 'county', 'sign')] }),
      ).rejects.toMatchObject({
        code: 'KEY_INVALID',
        message: expect.stringContaining('Refusing to import') as unknown,
      });
      await expect(
        importCertificates({ trustDir: bankTrust, files: [exported(rogue, 'county', 'enc')] }),
      ).rejects.toMatchObject({ code: 'KEY_INVALID' });
      await expect(
        importCertificates({ trustDir: bankTrust, files: [join(rogueCaDir, 'ca.cert.pem')] }),
      ).rejects.toMatchObject({
        code: 'KEY_INVALID',
        message: expect.stringContaining('different CA certificate') as unknown,
      });
      await expect(
        importCertificates({ trustDir: bankTrust, caCertFile: join(rogueCaDir, 'ca.cert.pem'), files: [] }),
      ).rejects.toMatchObject({
        code: 'KEY_INVALID',
        message: expect.stringContaining('already trusts a different CA') as unknown,
      });
      expect(readdirSync(join(bankTrust, 'peers')).sort()).toEqual(peersBefore);
    });

    it(`${tag} unknown CA at open: a bundle signed under another CA is refused (VERIFY_UNKNOWN_SENDER when its certificate was never imported, VERIFY_UNTRUSTED_CERTIFICATE when it was copied into peers/ by hand); the genuine county still opens`, async () => {
      const rogueDir = await issue('county', 'inner', { dir: 'rogue-county-open', caDir: rogueCaDir });
      const bankDir = await issue('bank-unknown-ca', 'outer');
      const bank = await identityOf(bankDir);
      const bankTrust = await trustFolder('bank-unknown-ca', [exported(county, 'county', 'sign')]);
      const recipients = [readNodeCertificate(join(bankDir, 'enc.cert.pem'), 'encrypt')];
      const body = Buffer.from(`unknown CA ${variant.label}`);

      const forged = await sealAs(await identityOf(rogueDir), recipients, body, 'unknown-ca.gbb');
      expect(forged.header.sender.name).toBe('county');
      await expect(openAs(forged.path, bank, bankTrust)).rejects.toMatchObject({
        code: 'VERIFY_UNKNOWN_SENDER',
      });
      cpSync(exported(rogueDir, 'county', 'sign'), join(bankTrust, 'peers', 'county-sign-rogue.cert.pem'));
      const trust = await loadTrustStore(bankTrust);
      expect(trust.problems.map((p) => p.keyId)).toEqual([forged.header.sender.keyId]);
      await expect(openAs(forged.path, bank, bankTrust)).rejects.toMatchObject({
        code: 'VERIFY_UNTRUSTED_CERTIFICATE',
      });

      const genuine = await sealAs(countyId, recipients, body, 'known-ca.gbb');
      expect(await openAs(genuine.path, bank, bankTrust)).toEqual(body);
    });
  });
});
