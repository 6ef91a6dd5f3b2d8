// The security officer's recipe in docs/key-rotation.md (section 5, 5.1, 5.2), run as written: the blocks
// marked <!-- recipe:NAME --> are taken out of the doc and run with `sh -e` in a fresh folder, with the
// compiled bridge-keys (dist/crypto/cli.js) on PATH and only the documented variables BUNDLE and TRUST
// set. A good bundle passes; a changed header byte and a revoked signer fail, at the openssl step that
// should catch them. Under CI=true a missing openssl or a missing build is a failure, elsewhere a skip.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCrl,
  importCertificates,
  importCrl,
  issueNodeKeys,
  loadIdentity,
  loadTrustStore,
  openBundle,
  recipientCertificates,
  revokeCertificate,
  sealBundle,
} from '../../crypto/index.js';
import { CI, REPO, findTool } from '../ops/tools.js';
import {
  CA_PASSPHRASE,
  NODE_PASSPHRASE,
  chunks,
  collect,
  createWorld,
  description,
  seal,
  type World,
} from './fixtures.js';

const DOC = join(REPO, 'docs', 'key-rotation.md');
const CLI = join(REPO, 'dist', 'crypto', 'cli.js');
const openssl = findTool('openssl', 'openssl');
if (!existsSync(CLI)) {
  const reason = `${CLI} is missing; run \`npm run build\` first`;
  if (CI) throw new Error(`CI=true and ${reason}`);
  process.stderr.write(`SKIPPED: ${reason}\n`);
}
const canRun = openssl.path !== undefined && existsSync(CLI);

/** The blocks of a markdown file marked `<!-- recipe:NAME -->` right before a ```sh fence, dedented. */
function readRecipes(markdown: string): Map<string, string> {
  const recipes = new Map<string, string>();
  const marked = /^([ \t]*)<!-- recipe:([a-z0-9-]+) -->\n(?:[ \t]*\n)*\1```sh\n([\s\S]*?)\n\1```[ \t]*$/gm;
  for (const [, indent = '', name = '', body = ''] of markdown.matchAll(marked)) {
    if (recipes.has(name)) throw new Error(`recipe:${name} is marked twice in ${DOC}`);
    recipes.set(
      name,
      body
        .split('\n')
        .map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line))
        .join('\n'),
    );
  }
  return recipes;
}

const RECIPES = readRecipes(readFileSync(DOC, 'utf8'));
const INTL = ['extract', 'intl-preimage', 'key-id', 'chain'];
const SM = ['extract', 'sm-signature', 'key-id', 'chain'];
const SM2_CA = [
  'extract',
  'sm-signature',
  'key-id',
  'sm2-chain',
  'sm2-crl',
  'sm2-ca-self-signature',
  'sm2-revocation',
];
const SIGNATURE = { ed25519: 'intl-signature-ed25519', 'ecdsa-p256': 'intl-signature-p256' } as const;

const scratch: string[] = [];
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs the named recipes, in order, as one `sh -e` script in a fresh folder: `bridge-keys` is the
 * compiled CLI, BUNDLE and TRUST are the only variables given. Returns the combined output.
 */
function runRecipes(
  names: readonly string[],
  vars: { BUNDLE: string; TRUST: string },
): { status: number | null; out: string; evidence: string } {
  const work = mkdtempSync(join(tmpdir(), 'bridge-recipe-'));
  scratch.push(work);
  const bin = join(work, 'bin');
  const officer = join(work, 'officer');
  mkdirSync(bin);
  mkdirSync(officer);
  writeFileSync(join(bin, 'bridge-keys'), `#!/bin/sh\nexec '${process.execPath}' '${CLI}' "$@"\n`, {
    mode: 0o755,
  });
  const script = names
    .map((name) => {
      const body = RECIPES.get(name);
      if (body === undefined) throw new Error(`docs/key-rotation.md has no block marked recipe:${name}`);
      return `# --- recipe:${name}\n${body}\n`;
    })
    .join('');
  writeFileSync(join(work, 'recipe.sh'), script);
  const result = spawnSync('sh', ['-c', `sh -e '${join(work, 'recipe.sh')}' 2>&1`], {
    cwd: officer,
    encoding: 'utf8',
    env: { PATH: `${bin}:${process.env['PATH'] ?? ''}`, HOME: work, ...vars },
  });
  return { status: result.status, out: result.stdout, evidence: join(officer, 'evidence') };
}

/** A copy of the bundle with one header byte changed (dataset "residents" -> "residentz"). */
function tamperHeader(bundle: string, out: string): string {
  const bytes = readFileSync(bundle);
  const length = bytes.readUInt32BE(8);
  const field = Buffer.from('"dataset":"residents"');
  const at = bytes.subarray(12, 12 + length).indexOf(field);
  expect(at).toBeGreaterThan(0);
  bytes[12 + at + field.length - 2] = 'z'.charCodeAt(0);
  writeFileSync(out, bytes);
  return out;
}

describe('docs/key-rotation.md marks its openssl recipe', () => {
  it('every marked block is run by this file, and every block it runs is marked', () => {
    const used = new Set([...INTL, ...Object.values(SIGNATURE), ...SM, ...SM2_CA]);
    expect([...RECIPES.keys()].sort()).toEqual([...used].sort());
    expect(RECIPES.get('extract')).toMatch(/^bridge-keys inspect "\$BUNDLE" --trust "\$TRUST" .*--extract/m);
    expect(RECIPES.get('sm2-chain')).toContain('-vfyopt distid:1234567812345678');
  });
});

describe.skipIf(!canRun)('the openssl recipe on intl-v1 bundles', () => {
  let world: World;
  beforeAll(async () => {
    world = await createWorld();
  });
  afterAll(() => world.cleanup());

  it.each(['ed25519', 'ecdsa-p256'] as const)(
    '%s signer: passes on a good bundle, fails on a changed header and on a revoked signer',
    async (alg) => {
      const name = `gov-${alg}`;
      const keysDir = join(world.root, 'keys', name);
      await issueNodeKeys({
        caDir: world.caDir,
        caPassphrase: CA_PASSPHRASE,
        role: 'inner',
        name,
        outDir: keysDir,
        passphrase: NODE_PASSPHRASE,
        signAlgorithm: alg,
      });
      const trustDir = join(world.root, 'trust', `officer-${alg}`);
      await importCertificates({
        trustDir,
        caCertFile: join(world.caDir, 'ca.cert.pem'),
        files: [join(keysDir, 'trust-export', `${name}-sign.cert.pem`)],
      });
      await importCrl({ trustDir, crlFile: join(world.caDir, 'crl.pem') });
      const identity = await loadIdentity({ keysDir, passphrase: NODE_PASSPHRASE });
      expect(identity.signAlgorithm).toBe(alg);
      const sealed = await sealBundle({
        identity,
        recipients: recipientCertificates(world.trust['gov']!, 'bank-a', new Date()),
        description: description(),
        body: chunks(Buffer.from('rows for the officer')),
        outputPath: join(world.root, 'out', `officer-${alg}.gbb`),
      });
      // The bundle also opens normally (the P-256 signature path end to end).
      const opened = await openBundle({
        path: sealed.path,
        identity: world.identities['bank-a']!,
        trust: await loadTrustStore(trustDir),
        now: new Date(),
        expectSenderRole: 'inner',
      });
      expect((await collect(opened.body)).toString()).toBe('rows for the officer');

      const recipe = [...INTL.slice(0, 2), SIGNATURE[alg], ...INTL.slice(2)];
      const good = runRecipes(recipe, { BUNDLE: sealed.path, TRUST: trustDir });
      expect(good.status, good.out).toBe(0);
      expect(good.out).toContain('verdict: OK [HEADER_VERIFIED]');
      expect(good.out).toContain('pre-image OK');
      expect(good.out).toContain('Signature Verified Successfully');
      expect(good.out).toContain(`signer certificate key id: ${sealed.header.sender.keyId}`);
      expect(good.out).toContain('key id OK');
      expect(good.out).toContain('signer.cert.pem: OK');
      expect(readFileSync(join(good.evidence, 'header.json')).toString()).toContain(sealed.header.bundleId);

      const changed = tamperHeader(sealed.path, join(world.root, 'out', `officer-${alg}-changed.gbb`));
      const bad = runRecipes(recipe, { BUNDLE: changed, TRUST: trustDir });
      expect(bad.status, bad.out).not.toBe(0);
      expect(bad.out).toContain('[VERIFY_HEADER_SIGNATURE]');
      expect(bad.out).toContain('pre-image OK'); // the evidence is the changed file's, consistently
      expect(bad.out).toContain('Signature Verification Failure');
      expect(bad.out).not.toContain('key id OK');

      await revokeCertificate({
        caDir: world.caDir,
        caPassphrase: CA_PASSPHRASE,
        certFile: join(keysDir, 'sign.cert.pem'),
        reason: 'keyCompromise',
      });
      const crl = join(world.root, 'out', `crl-${alg}.pem`);
      await createCrl({ caDir: world.caDir, caPassphrase: CA_PASSPHRASE, out: crl });
      await importCrl({ trustDir, crlFile: crl });
      const revoked = runRecipes(recipe, { BUNDLE: sealed.path, TRUST: trustDir });
      expect(revoked.status, revoked.out).not.toBe(0);
      expect(revoked.out).toContain('[VERIFY_CERTIFICATE_REVOKED]');
      expect(revoked.out).toContain('Signature Verified Successfully');
      expect(revoked.out).toContain('key id OK');
      expect(revoked.out).toMatch(/certificate revoked/);
    },
  );
});

describe.skipIf(!canRun)('the openssl recipe on national-suite (sm-v1) bundles', () => {
  it('SM2 signer, Ed25519 CA (5.1): passes on a good bundle, fails on a changed header', async () => {
    const sm = await createWorld('sm-v1');
    try {
      const sealed = await seal(
        sm,
        'gov',
        recipientCertificates(sm.trust['gov']!, 'bank-a', new Date()),
        Buffer.from('rows for the officer'),
        'officer-sm.gbb',
      );
      expect(sealed.header.suite).toBe('sm-v1');
      const trustDir = sm.trustDir('bank-a');
      await importCrl({ trustDir, crlFile: join(sm.caDir, 'crl.pem') });
      const good = runRecipes(SM, { BUNDLE: sealed.path, TRUST: trustDir });
      expect(good.status, good.out).toBe(0);
      expect(good.out).toContain('verdict: OK [HEADER_VERIFIED]');
      expect(good.out).toMatch(/header: \d+ bytes, sm3:[0-9a-f]{64}/);
      expect(good.out.match(/Signature Verified Successfully/g)).toHaveLength(1);
      expect(good.out).toContain('Verified OK'); // openssl dgst -verify
      expect(good.out).toMatch(/ASN1 OID: SM2/);
      expect(good.out).toContain('key id OK');
      expect(good.out).toContain('signer.cert.pem: OK');

      const changed = tamperHeader(sealed.path, join(sm.root, 'out', 'officer-sm-changed.gbb'));
      const bad = runRecipes(SM, { BUNDLE: changed, TRUST: trustDir });
      expect(bad.status, bad.out).not.toBe(0);
      expect(bad.out).toContain('[VERIFY_HEADER_SIGNATURE]');
      expect(bad.out).toContain('Signature Verification Failure');
      expect(bad.out).not.toContain('key id OK');
    } finally {
      sm.cleanup();
    }
  });

  it('fully national chain, SM2 CA (5.2): passes, then fails on a changed header and a revoked signer', async () => {
    const sm = await createWorld('sm-v1', 'sm2');
    try {
      const sealed = await seal(
        sm,
        'gov',
        recipientCertificates(sm.trust['gov']!, 'bank-a', new Date()),
        Buffer.from('rows for the officer'),
        'officer-sm2.gbb',
      );
      const trustDir = sm.trustDir('bank-a');
      await importCrl({ trustDir, crlFile: join(sm.caDir, 'crl.pem') });
      const good = runRecipes(SM2_CA, { BUNDLE: sealed.path, TRUST: trustDir });
      expect(good.status, good.out).toBe(0);
      expect(good.out).toContain('verdict: OK [HEADER_VERIFIED]');
      // header signature, CRL signature and CA self-signature
      expect(good.out.match(/Signature Verified Successfully/g)).toHaveLength(3);
      expect(good.out).toContain('key id OK');
      expect(good.out).toContain('signer.cert.pem: OK');
      expect(good.out).toMatch(/serial [0-9A-F]+ is not on the CRL/);

      const changed = tamperHeader(sealed.path, join(sm.root, 'out', 'officer-sm2-changed.gbb'));
      const bad = runRecipes(SM2_CA, { BUNDLE: changed, TRUST: trustDir });
      expect(bad.status, bad.out).not.toBe(0);
      expect(bad.out).toContain('Signature Verification Failure');
      expect(bad.out).not.toContain('signer.cert.pem: OK');

      await revokeCertificate({
        caDir: sm.caDir,
        caPassphrase: CA_PASSPHRASE,
        certFile: join(sm.keysDir('gov'), 'sign.cert.pem'),
        reason: 'keyCompromise',
      });
      const crl = join(sm.root, 'out', 'crl-sm2.pem');
      await createCrl({ caDir: sm.caDir, caPassphrase: CA_PASSPHRASE, out: crl });
      await importCrl({ trustDir, crlFile: crl });
      const revoked = runRecipes(SM2_CA, { BUNDLE: sealed.path, TRUST: trustDir });
      expect(revoked.status, revoked.out).not.toBe(0);
      expect(revoked.out).toContain('[VERIFY_CERTIFICATE_REVOKED]');
      expect(revoked.out).toContain('signer.cert.pem: OK'); // the chain itself is intact
      expect(revoked.out).toMatch(/REVOKED: serial [0-9A-F]+ is on the CRL/);
    } finally {
      sm.cleanup();
    }
  });
});
