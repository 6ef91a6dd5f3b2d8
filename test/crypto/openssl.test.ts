// The security officer's recipe from docs/key-rotation.md, run with the real openssl binary: extract a
// bundle's header pre-image and signature, verify them and the certificate chain (and CRL) with stock
// openssl, for an Ed25519 and an ECDSA P-256 signer.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
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
import { extractBundleEvidence } from '../../crypto/inspect.js';
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

let world: World;
beforeAll(async () => {
  world = await createWorld();
});
afterAll(() => world.cleanup());

function openssl(args: string[], cwd: string): { ok: boolean; out: string } {
  const result = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  return { ok: result.status === 0, out: `${result.stdout}${result.stderr}` };
}

describe('checking a bundle with stock openssl', () => {
  it.each([
    ['ed25519', []],
    ['ecdsa-p256', ['-digest', 'sha256']],
  ] as const)('%s signer: header signature, key id, chain and CRL', async (alg, digestArgs) => {
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
    const bankTrustDir = join(world.root, 'trust', `bank-a-${alg}`);
    await importCertificates({
      trustDir: bankTrustDir,
      caCertFile: join(world.caDir, 'ca.cert.pem'),
      files: [join(keysDir, 'sign.cert.pem')],
    });
    const opened = await openBundle({
      path: sealed.path,
      identity: world.identities['bank-a']!,
      trust: await loadTrustStore(bankTrustDir),
      now: new Date(),
      expectSenderRole: 'inner',
    });
    expect((await collect(opened.body)).toString()).toBe('rows for the officer');

    const evidence = join(world.root, 'out', `evidence-${alg}`);
    await extractBundleEvidence({
      path: sealed.path,
      trust: await loadTrustStore(trustDir),
      outDir: evidence,
    });

    // 1. The pre-image is the documented context string followed by the exact header bytes.
    execFileSync(
      'sh',
      ['-c', "printf 'govbank-bridge/intl-v1/header-signature\\000' | cat - header.json > rebuilt.preimage"],
      { cwd: evidence },
    );
    expect(
      readFileSync(join(evidence, 'rebuilt.preimage')).equals(
        readFileSync(join(evidence, 'header.preimage')),
      ),
    ).toBe(true);

    // 2. The header signature verifies with the signer certificate's key.
    const verified = openssl(
      [
        'pkeyutl',
        '-verify',
        '-certin',
        '-inkey',
        'signer.cert.pem',
        '-rawin',
        ...digestArgs,
        '-in',
        'rebuilt.preimage',
        '-sigfile',
        'header.sig',
      ],
      evidence,
    );
    expect(verified.out).toMatch(/Signature Verified Successfully/);

    // 3. The key id in the header is the first 16 bytes of SHA-256 over the certificate's SPKI.
    execFileSync(
      'sh',
      [
        '-c',
        'openssl x509 -in signer.cert.pem -noout -pubkey | openssl pkey -pubin -outform DER > signer.spki.der',
      ],
      { cwd: evidence },
    );
    const digest = openssl(['dgst', '-sha256', '-r', 'signer.spki.der'], evidence).out.slice(0, 32);
    expect(digest).toBe(sealed.header.sender.keyId);

    // 4. The certificate chains to the CA and is not on the CRL.
    expect(
      openssl(
        ['verify', '-CAfile', 'ca.cert.pem', '-crl_check', '-CRLfile', 'crl.pem', 'signer.cert.pem'],
        evidence,
      ).out,
    ).toMatch(/signer\.cert\.pem: OK/);

    // 5. A changed header byte fails the openssl check.
    const tampered = readFileSync(join(evidence, 'rebuilt.preimage'));
    tampered[tampered.length - 5]! ^= 0x01;
    writeFileSync(join(evidence, 'tampered.preimage'), tampered);
    expect(
      openssl(
        [
          'pkeyutl',
          '-verify',
          '-certin',
          '-inkey',
          'signer.cert.pem',
          '-rawin',
          ...digestArgs,
          '-in',
          'tampered.preimage',
          '-sigfile',
          'header.sig',
        ],
        evidence,
      ).ok,
    ).toBe(false);

    // 6. After revocation, openssl reports the certificate revoked against the new CRL.
    await revokeCertificate({
      caDir: world.caDir,
      caPassphrase: CA_PASSPHRASE,
      certFile: join(keysDir, 'sign.cert.pem'),
      reason: 'keyCompromise',
    });
    await createCrl({ caDir: world.caDir, caPassphrase: CA_PASSPHRASE, out: join(evidence, 'crl-new.pem') });
    copyFileSync(join(evidence, 'crl-new.pem'), join(evidence, 'crl.pem'));
    const after = openssl(
      ['verify', '-CAfile', 'ca.cert.pem', '-crl_check', '-CRLfile', 'crl.pem', 'signer.cert.pem'],
      evidence,
    );
    expect(after.ok).toBe(false);
    expect(after.out).toMatch(/certificate revoked/);
  });
});

describe('checking a national-suite (sm-v1) bundle with stock openssl', () => {
  it('SM2 signer: header signature (SM3, distid 1234567812345678), key id and chain', async () => {
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
      const evidence = join(sm.root, 'out', 'evidence-sm');
      await extractBundleEvidence({ path: sealed.path, trust: sm.trust['bank-a']!, outDir: evidence });
      execFileSync(
        'sh',
        ['-c', "printf 'govbank-bridge/sm-v1/header-signature\\000' | cat - header.json > rebuilt.preimage"],
        { cwd: evidence },
      );
      expect(
        readFileSync(join(evidence, 'rebuilt.preimage')).equals(
          readFileSync(join(evidence, 'header.preimage')),
        ),
      ).toBe(true);
      const verify = (file: string) =>
        openssl(
          [
            'pkeyutl',
            '-verify',
            '-certin',
            '-inkey',
            'signer.cert.pem',
            '-rawin',
            '-digest',
            'sm3',
            '-pkeyopt',
            'distid:1234567812345678',
            '-in',
            file,
            '-sigfile',
            'header.sig',
          ],
          evidence,
        );
      expect(verify('rebuilt.preimage').out).toMatch(/Signature Verified Successfully/);
      const tampered = readFileSync(join(evidence, 'rebuilt.preimage'));
      tampered[tampered.length - 5]! ^= 0x01;
      writeFileSync(join(evidence, 'tampered.preimage'), tampered);
      expect(verify('tampered.preimage').ok).toBe(false);
      execFileSync(
        'sh',
        [
          '-c',
          'openssl x509 -in signer.cert.pem -noout -pubkey | openssl pkey -pubin -outform DER > signer.spki.der',
        ],
        { cwd: evidence },
      );
      expect(openssl(['dgst', '-sha256', '-r', 'signer.spki.der'], evidence).out.slice(0, 32)).toBe(
        sealed.header.sender.keyId,
      );
      expect(openssl(['x509', '-in', 'signer.cert.pem', '-noout', '-text'], evidence).out).toMatch(/SM2/);
      expect(openssl(['verify', '-CAfile', 'ca.cert.pem', 'signer.cert.pem'], evidence).out).toMatch(
        /signer\.cert\.pem: OK/,
      );
    } finally {
      sm.cleanup();
    }
  });
});
