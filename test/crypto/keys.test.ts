// Key files, trust folders and the audit log (design 5); key rotation is in rotation.test.ts.
import { createPublicKey } from 'node:crypto';
import { chmodSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fingerprintContract,
  importCertificates,
  importCrl,
  initCa,
  keyIdOf,
  listCertificates,
  loadIdentity,
  loadTrustStore,
  openBundle,
  randomBundleId,
  recipientCertificates,
  sealBundle,
  sha256Hex,
  verifyAuditLog,
} from '../../crypto/index.js';
import {
  CA_PASSPHRASE,
  NODE_PASSPHRASE,
  chunks,
  collect,
  createWorld,
  description,
  issueNode,
  type World,
} from './fixtures.js';

let world: World;
beforeAll(async () => {
  world = await createWorld();
});
afterAll(() => world.cleanup());

describe('primitives', () => {
  it('fingerprints contracts over canonical JSON, independent of key order', () => {
    const a = fingerprintContract({ name: 'residents', columns: [{ name: 'id', type: 'text' }], version: 2 });
    const b = fingerprintContract({ version: 2, columns: [{ type: 'text', name: 'id' }], name: 'residents' });
    expect(a).toBe(b);
    expect(a).toBe(
      `sha256:${sha256Hex('{"columns":[{"name":"id","type":"text"}],"name":"residents","version":2}')}`,
    );
    expect(() => fingerprintContract({ x: Number.NaN })).toThrow(/non-finite/);
  });

  it('bundle ids are 32 lowercase hex characters', () => {
    expect(randomBundleId()).toMatch(/^[0-9a-f]{32}$/);
    expect(randomBundleId()).not.toBe(randomBundleId());
  });

  it('key ids come from the SubjectPublicKeyInfo, whatever form the key is given in', () => {
    const cert = readFileSync(join(world.keysDir('gov'), 'sign.cert.pem'), 'utf8');
    const id = keyIdOf(cert);
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(id).toBe(world.identities['gov']!.signKeyId);
    const certDer = Buffer.from(cert.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
    expect(keyIdOf(certDer)).toBe(id);
    const spki = createPublicKey(cert).export({ type: 'spki', format: 'der' });
    expect(keyIdOf(spki)).toBe(id);
    expect(keyIdOf(createPublicKey(cert).export({ type: 'spki', format: 'pem' }))).toBe(id);
    expect(id).toBe(sha256Hex(spki).slice(0, 32));
  });
});

describe('private key files', () => {
  it('refuses a private key readable by group or others, naming the file and the chmod', async () => {
    const keyFile = join(world.keysDir('bank-c'), 'enc.key.pem');
    chmodSync(keyFile, 0o644);
    try {
      await expect(
        loadIdentity({ keysDir: world.keysDir('bank-c'), passphrase: NODE_PASSPHRASE }),
      ).rejects.toMatchObject({
        code: 'KEY_PERMISSIONS',
        message: expect.stringContaining(`chmod 600 ${keyFile}`) as unknown,
      });
    } finally {
      chmodSync(keyFile, 0o600);
    }
  });

  it('writes private keys encrypted with mode 0600', () => {
    for (const file of ['sign.key.pem', 'enc.key.pem']) {
      const path = join(world.keysDir('gov'), file);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(readFileSync(path, 'utf8')).toContain('BEGIN ENCRYPTED PRIVATE KEY');
    }
    expect(statSync(join(world.caDir, 'ca.key.pem')).mode & 0o777).toBe(0o600);
  });

  it('refuses a wrong passphrase without echoing it', async () => {
    const error = await loadIdentity({
      keysDir: world.keysDir('gov'),
      passphrase: 'not-the-passphrase',
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'KEY_PASSPHRASE' });
    expect(String((error as Error).message)).not.toContain('not-the-passphrase');
  });

  it('does not expose private keys on the identity object', () => {
    const text = JSON.stringify(world.identities['gov']);
    expect(text).not.toMatch(/PRIVATE/);
    expect(Object.keys(world.identities['gov']!)).not.toContain('signKey');
  });
});

describe('trust folders', () => {
  it('import-cert copies the certificates into peers/ and the trust store sees them', async () => {
    const trust = await loadTrustStore(world.trustDir('bank-a'));
    expect(trust.peers.map((p) => `${p.name}/${p.usage}/${p.role}`).sort()).toEqual([
      'bank-b/encrypt/outer',
      'bank-b/sign/outer',
      'gov/encrypt/inner',
      'gov/sign/inner',
    ]);
    expect(readdirSync(join(world.trustDir('bank-a'), 'peers')).sort()).toContain('gov-sign.cert.pem');
  });

  it('list warns about certificates expiring soon', async () => {
    await issueNode(world, 'bank-soon', 'outer', { days: 10 });
    await importCertificates({
      trustDir: world.trustDir('gov'),
      files: [join(world.keysDir('bank-soon'), 'trust-export', 'bank-soon-enc.cert.pem')],
    });
    const rows = await listCertificates({ trustDir: world.trustDir('gov'), warnDays: 30 });
    expect(rows.find((r) => r.name === 'bank-soon')?.expiresSoon).toBe(true);
    expect(rows.find((r) => r.name === 'bank-a')?.expiresSoon).toBe(false);
    const caRows = await listCertificates({ caDir: world.caDir });
    expect(caRows.length).toBeGreaterThan(8);
  });
});

describe('an ECDSA P-256 CA', () => {
  it('issues node certificates, signs CRLs, and its bundles open', async () => {
    const caDir = join(world.root, 'ca-p256');
    await initCa({ dir: caDir, passphrase: CA_PASSPHRASE, algorithm: 'ecdsa-p256' });
    const p256 = { root: world.root, caDir };
    const govDir = await issueNode(p256, 'gov-p', 'inner', { caDir });
    const bankDir = await issueNode(p256, 'bank-p', 'outer', { caDir });
    const caCertFile = join(caDir, 'ca.cert.pem');
    const govTrust = join(world.root, 'trust', 'gov-p');
    const bankTrust = join(world.root, 'trust', 'bank-p');
    await importCertificates({
      trustDir: govTrust,
      caCertFile,
      files: [join(bankDir, 'trust-export', 'bank-p-enc.cert.pem')],
    });
    await importCertificates({
      trustDir: bankTrust,
      caCertFile,
      files: [join(govDir, 'trust-export', 'gov-p-sign.cert.pem')],
    });
    await importCrl({ trustDir: bankTrust, crlFile: join(caDir, 'crl.pem') });
    const gov = await loadIdentity({ keysDir: govDir, passphrase: NODE_PASSPHRASE });
    const bank = await loadIdentity({ keysDir: bankDir, passphrase: NODE_PASSPHRASE });
    const sealed = await sealBundle({
      identity: gov,
      recipients: recipientCertificates(await loadTrustStore(govTrust), 'bank-p', new Date()),
      description: description(),
      body: chunks(Buffer.from('p256')),
      outputPath: join(world.root, 'out', 'p256.gbb'),
    });
    const opened = await openBundle({
      path: sealed.path,
      identity: bank,
      trust: await loadTrustStore(bankTrust),
      now: new Date(),
      expectSenderRole: 'inner',
    });
    expect((await collect(opened.body)).toString()).toBe('p256');
  });
});

// Rotation of encryption and signing keys, for every suite: rotation.test.ts.

describe('audit log', () => {
  it('chains every key event and detects edited, removed and reordered entries', () => {
    const file = join(world.caDir, 'audit.log');
    const good = verifyAuditLog(file);
    expect(good.ok).toBe(true);
    expect(good.entries).toBeGreaterThanOrEqual(5);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    const events = lines.map((l) => (JSON.parse(l) as { event: string }).event);
    expect(events[0]).toBe('ca-init');
    expect(events).toContain('issue');

    const variant = (name: string, content: string[]): string => {
      const path = join(world.root, 'out', name);
      writeFileSync(path, content.join('\n') + '\n');
      return path;
    };
    const edited = [...lines];
    edited[1] = lines[1]!.replace(/"name":"[^"]+"/, '"name":"mallory"');
    expect(verifyAuditLog(variant('edited.log', edited)).problems.join()).toMatch(/edited/);
    const removed = lines.filter((_, i) => i !== 2);
    expect(verifyAuditLog(variant('removed.log', removed)).ok).toBe(false);
    const reordered = [lines[0]!, lines[2]!, lines[1]!, ...lines.slice(3)];
    expect(verifyAuditLog(variant('reordered.log', reordered)).problems.join()).toMatch(/reordered/);
  });
});
