// A fully national chain (issue 3 follow-up): an SM2 bridge CA whose certificates and CRLs are signed
// SM2-with-SM3 (OID 1.2.156.10197.1.501, signer id 1234567812345678), checked both ways against the
// stock openssl command (OpenSSL 3.0) and end to end with sm-v1 bundles, revocation and a forged
// signature. The openssl recipe is the one in docs/key-rotation.md.
import { execFileSync, spawnSync } from 'node:child_process';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { copyFileSync, cpSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkPeerCertificate,
  createCrl,
  importCertificates,
  importCrl,
  loadIdentity,
  loadTrustStore,
  openBundle,
  recipientCertificates,
  revokeCertificate,
  rotateEncryptionKey,
} from '../../crypto/index.js';
import { checkIssuedBy, x509 } from '../../crypto/certificates.js';
import { pemToDer, readCaCertificate, readCrl } from '../../crypto/trust-store.js';
import { SM2_WITH_SM3_OID, splitSignedObject } from '../../crypto/sm2-x509.js';
import { decodeSignatureDer, isSm2Key } from '../../crypto/sm2.js';
import { KeyError, VerificationError } from '../../shared/errors.js';
import {
  CA_PASSPHRASE,
  NODE_PASSPHRASE,
  collect,
  createWorld,
  issueNode,
  seal,
  type World,
} from './fixtures.js';

const DISTID = 'distid:1234567812345678';

let world: World;
beforeAll(async () => {
  world = await createWorld('sm-v1', 'sm2');
});
afterAll(() => world.cleanup());

function openssl(args: string[], cwd: string): { ok: boolean; out: string } {
  const result = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  return { ok: result.status === 0, out: `${result.stdout}${result.stderr}` };
}

function sh(script: string, cwd: string): string {
  return execFileSync('sh', ['-c', script], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Flips the lowest bit of the last signature byte (inside s: still strict DER, no longer valid). */
function flipSignatureBit(pem: string, label: 'CERTIFICATE' | 'X509 CRL'): string {
  const der = pemToDer(pem);
  der[der.length - 1]! ^= 0x01;
  return x509.PemConverter.encode(new Uint8Array(der), label) + '\n';
}

const caCertFile = (): string => join(world.caDir, 'ca.cert.pem');

describe('SM2 CA: init and issue (SM2-with-SM3, GM/T 0015 as openssl 3 writes it)', () => {
  it('ca init --alg sm2 writes an encrypted 0600 SM2 key and a self-signed SM2-with-SM3 CA certificate', () => {
    const keyFile = join(world.caDir, 'ca.key.pem');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(keyFile, 'utf8')).toContain('-----BEGIN ENCRYPTED PRIVATE KEY-----');
    const pem = readFileSync(caCertFile(), 'utf8');
    const parts = splitSignedObject(pemToDer(pem));
    expect(parts.algorithm).toBe(SM2_WITH_SM3_OID);
    expect(parts.parameters).toBeUndefined();
    // The signature is the DER ECDSA-Sig-Value SEQUENCE { r, s } openssl expects.
    expect(decodeSignatureDer(parts.signature)).toBeDefined();
    expect(isSm2Key(new X509Certificate(pem).publicKey)).toBe(true);
    expect(readCaCertificate(caCertFile()).subject).toBe('CN=Test Bridge CA, O=govbank-bridge');
    const text = openssl(['x509', '-in', caCertFile(), '-noout', '-text'], world.root).out;
    expect(text).toMatch(/Signature Algorithm: SM2-with-SM3/);
    expect(text).toMatch(/CA:TRUE/);
    expect(text).toMatch(/Certificate Sign, CRL Sign/);
    // Node's own X509Certificate.verify uses OpenSSL's empty SM2 id, which is why the bridge dispatches.
    const ca = new X509Certificate(pem);
    expect(ca.verify(ca.publicKey)).toBe(false);
    expect(checkIssuedBy(pem, pem).ok).toBe(true);
  });

  it('node certificates of both suites are SM2-signed and pass `openssl verify -vfyopt distid:...`', async () => {
    await issueNode({ root: world.root, caDir: world.caDir, suite: 'intl-v1' }, 'gov-intl', 'inner');
    const dir = join(world.root, 'keys');
    const certs = [
      join(dir, 'gov', 'sign.cert.pem'),
      join(dir, 'gov', 'enc.cert.pem'),
      join(dir, 'gov-intl', 'sign.cert.pem'),
      join(dir, 'gov-intl', 'enc.cert.pem'),
    ];
    for (const cert of certs) {
      const pem = readFileSync(cert, 'utf8');
      expect(splitSignedObject(pemToDer(pem)).algorithm).toBe(SM2_WITH_SM3_OID);
      const checked = checkPeerCertificate(pem, cert, readFileSync(caCertFile(), 'utf8'));
      expect('reason' in checked ? checked.reason : 'ok').toBe('ok');
      const verified = openssl(['verify', '-vfyopt', DISTID, '-CAfile', caCertFile(), cert], world.root);
      expect(verified.out).toContain(`${cert}: OK`);
      // Without the signer id OpenSSL 3.0 computes Z with an empty id and the check fails.
      expect(openssl(['verify', '-CAfile', caCertFile(), cert], world.root).ok).toBe(false);
      expect(openssl(['x509', '-in', cert, '-noout', '-text'], world.root).out).toMatch(
        /Signature Algorithm: SM2-with-SM3/,
      );
    }
    // The intl-v1 node keeps its Ed25519 / X25519 keys; only the CA signature is national.
    const intl = await loadIdentity({ keysDir: join(dir, 'gov-intl'), passphrase: NODE_PASSPHRASE });
    expect(intl.signAlgorithm).toBe('ed25519');
  });

  it('rotation under an SM2 CA issues an SM2-signed encryption certificate', async () => {
    const result = await rotateEncryptionKey({
      caDir: world.caDir,
      caPassphrase: CA_PASSPHRASE,
      keysDir: world.keysDir('bank-c'),
      passphrase: NODE_PASSPHRASE,
    });
    expect(splitSignedObject(pemToDer(result.encCertificate.pem)).algorithm).toBe(SM2_WITH_SM3_OID);
    expect(checkIssuedBy(result.encCertificate.pem, readFileSync(caCertFile(), 'utf8'))).toEqual({
      ok: true,
    });
  });
});

describe('reading signed X.509 objects strictly', () => {
  it('splits a certificate into the exact TBS bytes and refuses trailing or inconsistent DER', () => {
    const der = pemToDer(readFileSync(caCertFile(), 'utf8'));
    const parts = splitSignedObject(der);
    expect(der.subarray(4, 4 + parts.tbs.length).equals(parts.tbs)).toBe(true);
    expect(() => splitSignedObject(Buffer.concat([der, Buffer.from([0])]))).toThrow(RangeError);
    // Outer algorithm changed to ecdsa-with-SHA256 (same length) while the TBS still says SM2-with-SM3.
    const outer = Buffer.from(der);
    const at = outer.lastIndexOf(Buffer.from('06082a811ccf55018375', 'hex'));
    Buffer.from('06082a8648ce3d040302', 'hex').copy(outer, at);
    expect(() => splitSignedObject(outer)).toThrow(/differs from the outer one/);
  });
});

describe('certificates made by openssl verify in our code', () => {
  it('an openssl SM2 CA (req -x509 -sm3 -sigopt distid) and a node certificate it issued', () => {
    const dir = join(world.root, 'out');
    sh(
      [
        'openssl genpkey -algorithm SM2 -out ossl-ca.key',
        `openssl req -x509 -new -key ossl-ca.key -sm3 -sigopt ${DISTID} -subj '/CN=openssl SM2 CA/O=govbank-bridge' -days 30 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign -out ossl-ca.pem`,
        'openssl genpkey -algorithm SM2 -out ossl-node.key',
        `openssl req -new -key ossl-node.key -sm3 -sigopt ${DISTID} -subj '/CN=ossl-node/OU=inner/O=govbank-bridge' -out ossl-node.csr`,
        "printf 'basicConstraints=critical,CA:FALSE\\nkeyUsage=critical,digitalSignature\\nsubjectAltName=URI:urn:x-govbank-bridge:role:inner\\n' > ossl-node.ext",
        `openssl x509 -req -in ossl-node.csr -vfyopt ${DISTID} -CA ossl-ca.pem -CAkey ossl-ca.key -sm3 -sigopt ${DISTID} -days 30 -extfile ossl-node.ext -out ossl-node.pem`,
        // The same certificate signed with OpenSSL's default (empty) id: not what the format states.
        `openssl x509 -req -in ossl-node.csr -vfyopt ${DISTID} -CA ossl-ca.pem -CAkey ossl-ca.key -sm3 -days 30 -extfile ossl-node.ext -out ossl-node-noid.pem`,
      ].join(' && '),
      dir,
    );
    const caPem = readCaCertificate(join(dir, 'ossl-ca.pem')).pem;
    expect(splitSignedObject(pemToDer(caPem)).algorithm).toBe(SM2_WITH_SM3_OID);
    const node = checkPeerCertificate(
      readFileSync(join(dir, 'ossl-node.pem'), 'utf8'),
      'ossl-node.pem',
      caPem,
    );
    expect(node).toMatchObject({ name: 'ossl-node', role: 'inner', usage: 'sign' });
    const noId = checkPeerCertificate(
      readFileSync(join(dir, 'ossl-node-noid.pem'), 'utf8'),
      'ossl-node-noid.pem',
      caPem,
    );
    expect(noId).toMatchObject({ reason: 'not issued by the trusted CA' });
    // And our SM2 CA does not vouch for openssl's node (different key, different name).
    expect(
      checkIssuedBy(readFileSync(join(dir, 'ossl-node.pem'), 'utf8'), readFileSync(caCertFile(), 'utf8')).ok,
    ).toBe(false);
  });

  it('refuses a CA signed with an algorithm the bridge does not check (RSA), naming the OID', () => {
    const dir = join(world.root, 'out');
    sh(
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa-ca.key -subj '/CN=RSA CA' -days 5 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign -out rsa-ca.pem 2>/dev/null",
      dir,
    );
    expect(() => readCaCertificate(join(dir, 'rsa-ca.pem'))).toThrow(
      /signature algorithm 1\.2\.840\.113549\.1\.1\.11 is not supported/,
    );
  });
});

describe('end to end: sm-v1 bundles under an SM2 CA', () => {
  it('a bundle sealed by a node issued under the SM2 CA opens at a node trusting that CA', async () => {
    const sealed = await seal(
      world,
      'gov',
      recipientCertificates(world.trust['gov']!, 'bank-a', new Date()),
      Buffer.from('national rows'),
      'sm2-ca.gbb',
    );
    expect(sealed.header.suite).toBe('sm-v1');
    const opened = await openBundle({
      path: sealed.path,
      identity: world.identities['bank-a']!,
      trust: world.trust['bank-a']!,
      now: new Date(),
      expectSenderRole: 'inner',
    });
    expect((await collect(opened.body)).toString()).toBe('national rows');
  });

  it('a forged CA signature (one bit flipped) is refused: VERIFY_UNTRUSTED_CERTIFICATE, KEY_INVALID for the CA', async () => {
    const sealed = await seal(
      world,
      'gov',
      recipientCertificates(world.trust['gov']!, 'bank-a', new Date()),
      Buffer.from('rows'),
      'sm2-ca-forged.gbb',
    );
    const forgedDir = join(world.root, 'trust', 'bank-a-forged');
    cpSync(world.trustDir('bank-a'), forgedDir, { recursive: true });
    const peer = join(forgedDir, 'peers', 'gov-sign.cert.pem');
    writeFileSync(peer, flipSignatureBit(readFileSync(peer, 'utf8'), 'CERTIFICATE'));
    const forgedTrust = await loadTrustStore(forgedDir);
    expect(forgedTrust.problems).toEqual([
      expect.objectContaining({ name: 'gov', reason: 'not issued by the trusted CA' }),
    ]);
    const refused = await openBundle({
      path: sealed.path,
      identity: world.identities['bank-a']!,
      trust: forgedTrust,
      now: new Date(),
      expectSenderRole: 'inner',
    }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(VerificationError);
    expect((refused as VerificationError).code).toBe('VERIFY_UNTRUSTED_CERTIFICATE');
    // A CA certificate with a flipped signature bit is not a trust anchor at all.
    const ca = join(forgedDir, 'ca.cert.pem');
    writeFileSync(ca, flipSignatureBit(readFileSync(ca, 'utf8'), 'CERTIFICATE'));
    const error = await loadTrustStore(forgedDir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyError);
    expect((error as KeyError).code).toBe('KEY_INVALID');
    expect((error as Error).message).toMatch(/not issued by itself/);
  });

  it('revoking via an SM2-signed CRL makes the bundle refused; openssl reads and checks the CRL', async () => {
    const sealed = await seal(
      world,
      'gov',
      recipientCertificates(world.trust['gov']!, 'bank-a', new Date()),
      Buffer.from('rows before revocation'),
      'sm2-ca-revoked.gbb',
    );
    const signCert = join(world.keysDir('gov'), 'sign.cert.pem');
    const { serial } = await revokeCertificate({
      caDir: world.caDir,
      caPassphrase: CA_PASSPHRASE,
      certFile: signCert,
      reason: 'keyCompromise',
    });
    const evidence = join(world.root, 'out', 'sm2-crl');
    const crlFile = join(world.root, 'out', 'sm2-crl.pem');
    await createCrl({ caDir: world.caDir, caPassphrase: CA_PASSPHRASE, out: crlFile });
    const crlPem = readFileSync(crlFile, 'utf8');
    const parts = splitSignedObject(pemToDer(crlPem));
    expect(parts.algorithm).toBe(SM2_WITH_SM3_OID);
    expect(parts.parameters).toBeUndefined();
    expect((await readCrl(crlFile, readFileSync(caCertFile(), 'utf8'))).revoked.has(serial)).toBe(true);

    // openssl reads it, and the docs/key-rotation.md recipe checks its signature (TBS + pkeyutl).
    const text = openssl(['crl', '-in', crlFile, '-noout', '-text'], world.root).out;
    expect(text).toMatch(/Signature Algorithm: SM2-with-SM3/);
    expect(text.toUpperCase()).toContain(serial.toUpperCase());
    expect(text).toMatch(/Key Compromise/);
    mkdirSync(evidence);
    copyFileSync(crlFile, join(evidence, 'crl.pem'));
    copyFileSync(caCertFile(), join(evidence, 'ca.cert.pem'));
    const recipe = [
      "set -- $(openssl asn1parse -in crl.pem | awk -F: '/d=1/ {print $1}')",
      'openssl asn1parse -in crl.pem -strparse $1 -noout -out crl.tbs',
      'openssl asn1parse -in crl.pem -strparse $3 -noout -out crl.sig',
      'openssl x509 -in ca.cert.pem -noout -pubkey > ca.pub.pem',
      `openssl pkeyutl -verify -pubin -inkey ca.pub.pem -rawin -digest sm3 -pkeyopt ${DISTID} -in crl.tbs -sigfile crl.sig`,
    ].join(' && ');
    expect(sh(recipe, evidence)).toMatch(/Signature Verified Successfully/);
    expect(readFileSync(join(evidence, 'crl.tbs')).equals(parts.tbs)).toBe(true);
    // The same recipe checks the CA's self-signature (openssl verify never checks the anchor's own).
    const anchor = recipe
      .replaceAll('crl.pem', 'ca.cert.pem')
      .replaceAll('crl.tbs', 'ca.tbs')
      .replaceAll('crl.sig', 'ca.sig');
    expect(sh(anchor, evidence)).toMatch(/Signature Verified Successfully/);
    // OpenSSL 3.0 checks CRL signatures with the empty SM2 id and has no option to set one, so
    // `verify -crl_check` stops at the CRL signature; the revoked serial is read from the CRL instead.
    cpSync(signCert, join(evidence, 'signer.cert.pem'));
    const crlCheck = openssl(
      [
        'verify',
        '-vfyopt',
        DISTID,
        '-CAfile',
        'ca.cert.pem',
        '-crl_check',
        '-CRLfile',
        'crl.pem',
        'signer.cert.pem',
      ],
      evidence,
    );
    expect(crlCheck.ok).toBe(false);
    expect(crlCheck.out).toMatch(/CRL signature failure/);
    const serialLine = sh('openssl x509 -in signer.cert.pem -noout -serial', evidence).trim();
    expect(serialLine).toBe(`serial=${serial.toUpperCase()}`);
    expect(sh('openssl crl -in crl.pem -noout -text', evidence)).toContain(
      `Serial Number: ${serialLine.slice('serial='.length)}`,
    );

    // A CRL with a flipped signature bit is refused by the trust folder.
    const forgedCrl = join(world.root, 'out', 'sm2-crl-forged.pem');
    writeFileSync(forgedCrl, flipSignatureBit(crlPem, 'X509 CRL'));
    const refusedCrl = await importCrl({ trustDir: world.trustDir('bank-a'), crlFile: forgedCrl }).catch(
      (e: unknown) => e,
    );
    expect((refusedCrl as KeyError).code).toBe('KEY_INVALID');
    expect((refusedCrl as Error).message).toMatch(/signature does not verify/);

    await importCrl({ trustDir: world.trustDir('bank-a'), crlFile });
    const trust = await loadTrustStore(world.trustDir('bank-a'));
    const refused = await openBundle({
      path: sealed.path,
      identity: world.identities['bank-a']!,
      trust,
      now: new Date(),
      expectSenderRole: 'inner',
    }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(VerificationError);
    expect((refused as VerificationError).code).toBe('VERIFY_CERTIFICATE_REVOKED');
    // The CA public key in the CRL check is the SM2 key of the CA certificate.
    expect(isSm2Key(createPublicKey(readFileSync(caCertFile(), 'utf8')))).toBe(true);
  });

  it('importing a certificate of another CA into an SM2 trust folder is refused', async () => {
    const other = await createWorld('sm-v1');
    try {
      const error = await importCertificates({
        trustDir: world.trustDir('bank-b'),
        files: [join(other.keysDir('gov'), 'sign.cert.pem')],
      }).catch((e: unknown) => e);
      expect((error as KeyError).code).toBe('KEY_INVALID');
      expect((error as Error).message).toMatch(/not issued by the trusted CA/);
    } finally {
      other.cleanup();
    }
  });
});
