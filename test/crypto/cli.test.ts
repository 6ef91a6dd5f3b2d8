// bridge-keys end to end through the compiled entry point (dist/crypto/cli.js, built by `npm test`).
// Skipped when the build is absent, e.g. in a bare `npx vitest run test/crypto` before `npm run build`.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadIdentity, loadTrustStore, recipientCertificates, sealBundle } from '../../crypto/index.js';
import { chunks, description } from './fixtures.js';

const CLI = resolve(import.meta.dirname, '..', '..', 'dist', 'crypto', 'cli.js');
const root = mkdtempSync(join(tmpdir(), 'bridge-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    cwd: root,
    encoding: 'utf8',
    env: {
      PATH: process.env['PATH'] ?? '',
      BRIDGE_CA_PASSPHRASE: 'ca-secret-1',
      BRIDGE_KEY_PASSPHRASE: 'node-secret-1',
      ...env,
    },
  });
  return { status: result.status, out: result.stdout, err: result.stderr };
}

describe.skipIf(!existsSync(CLI))('bridge-keys command line', () => {
  it('runs the officer workflow from CA to inspected bundle, never echoing passphrases', async () => {
    expect(run(['--help']).out).toContain('import-cert');
    expect(run(['ca', 'init', '--dir', 'ca', '--name', 'CLI CA']).status).toBe(0);
    expect(
      run(['issue', '--ca', 'ca', '--role', 'inner', '--name', 'county', '--out', 'keys-county']).status,
    ).toBe(0);
    // passphrase from a 0600 file for the bank
    writeFileSync(join(root, 'bank.pass'), 'bank-secret-2\n', { mode: 0o600 });
    const issued = run([
      'issue',
      '--ca',
      'ca',
      '--role',
      'outer',
      '--name',
      'bank-a',
      '--out',
      'keys-bank',
      '--days',
      '10',
      '--passphrase-file',
      'bank.pass',
    ]);
    expect(issued.status, issued.err).toBe(0);
    expect(statSync(join(root, 'keys-bank', 'enc.key.pem')).mode & 0o777).toBe(0o600);

    const exportDir = (dir: string) =>
      readdirSync(join(root, dir, 'trust-export')).map((f) => join(dir, 'trust-export', f));
    expect(
      run([
        'import-cert',
        '--trust',
        'trust-county',
        '--ca-cert',
        'ca/ca.cert.pem',
        ...exportDir('keys-bank'),
      ]).status,
    ).toBe(0);
    expect(
      run([
        'import-cert',
        '--trust',
        'trust-bank',
        '--ca-cert',
        'ca/ca.cert.pem',
        ...exportDir('keys-county'),
      ]).status,
    ).toBe(0);
    const listed = run(['list', '--trust', 'trust-county', '--warn-days', '30']);
    expect(listed.out).toContain('WARNING: expires soon');
    expect(listed.err).toContain('warning:');

    const county = await loadIdentity({ keysDir: join(root, 'keys-county'), passphrase: 'node-secret-1' });
    const sealed = await sealBundle({
      identity: county,
      recipients: recipientCertificates(
        await loadTrustStore(join(root, 'trust-county')),
        'bank-a',
        new Date(),
      ),
      description: description(),
      body: chunks(Buffer.from('x')),
      outputPath: join(root, 'b1.gbb'),
    });
    const inspected = run([
      'inspect',
      sealed.path,
      '--trust',
      'trust-bank',
      '--expect-role',
      'inner',
      '--extract',
      'evidence',
    ]);
    expect(inspected.status, inspected.err).toBe(0);
    expect(inspected.out).toContain('verdict: OK [HEADER_VERIFIED]');
    expect(readdirSync(join(root, 'evidence')).sort()).toEqual([
      'ca.cert.pem',
      'header.json',
      'header.preimage',
      'header.sig',
      'signer.cert.pem',
      'signer.pub.pem',
    ]);
    expect(run(['inspect', sealed.path, '--trust', 'trust-bank', '--expect-role', 'outer']).status).toBe(3);

    expect(
      run([
        'rotate',
        '--ca',
        'ca',
        '--keys',
        'keys-bank',
        '--name',
        'bank-a',
        '--passphrase-file',
        'bank.pass',
      ]).status,
    ).toBe(0);
    expect(
      run(['revoke', '--ca', 'ca', '--cert', 'keys-county/sign.cert.pem', '--reason', 'keyCompromise'])
        .status,
    ).toBe(0);
    expect(run(['crl', '--ca', 'ca', '--out', 'crl-1.pem']).status).toBe(0);
    expect(run(['import-crl', '--trust', 'trust-bank', 'crl-1.pem']).status).toBe(0);
    const refused = run(['inspect', sealed.path, '--trust', 'trust-bank']);
    expect(refused.status).toBe(3);
    expect(refused.out).toContain('VERIFY_CERTIFICATE_REVOKED');
    const audit = run(['audit', 'verify', '--ca', 'ca']);
    expect(audit.out).toMatch(/^OK: 6 entries, head [0-9a-f]{64}/);

    const wrong = run(['crl', '--ca', 'ca', '--out', 'x.pem'], { BRIDGE_CA_PASSPHRASE: 'guess-123' });
    expect(wrong.status).toBe(1);
    expect(wrong.err).toContain('wrong passphrase');
    expect(wrong.err).not.toContain('guess-123');
    chmodSync(join(root, 'bank.pass'), 0o644);
    expect(
      run(['rotate', '--ca', 'ca', '--keys', 'keys-bank', '--passphrase-file', 'bank.pass']).err,
    ).toContain('chmod 600');
    for (const r of [listed, inspected, audit]) expect(r.out + r.err).not.toMatch(/secret-\d/);
  });

  it('issues a national-suite node with --suite sm: SM2 keys certified by the bridge CA', () => {
    const dir = 'ca-sm';
    expect(run(['ca', 'init', '--dir', dir, '--name', 'SM CA']).status).toBe(0);
    const issued = run([
      'issue',
      '--ca',
      dir,
      '--role',
      'inner',
      '--name',
      'county-sm',
      '--out',
      'keys-sm',
      '--suite',
      'sm',
    ]);
    expect(issued.status, issued.err).toBe(0);
    expect(issued.out).toContain('suite sm-v1');
    const listed = run(['list', '--ca', dir]);
    expect(listed.out).toMatch(/county-sm\s+inner\s+encrypt/);
    expect(listed.out).toMatch(/county-sm\s+inner\s+sign/);
    // SM2 keys cannot go into a token
    const token = run([
      'issue',
      '--ca',
      dir,
      '--role',
      'inner',
      '--name',
      'x',
      '--out',
      'keys-x',
      '--suite',
      'sm',
      '--token-label',
      't',
    ]);
    expect(token.status).not.toBe(0);
  });

  it('runs a fully national chain with ca init --alg sm2: SM2-with-SM3 certificates and CRL', () => {
    const dir = 'ca-sm2';
    const init = run(['ca', 'init', '--dir', dir, '--alg', 'sm2', '--name', 'SM2 CA']);
    expect(init.status, init.err).toBe(0);
    expect(statSync(join(root, dir, 'ca.key.pem')).mode & 0o777).toBe(0o600);
    // The audit log records which algorithm the CA signs with.
    const first = readFileSync(join(root, dir, 'audit.log'), 'utf8').split('\n')[0] ?? '';
    expect(JSON.parse(first)).toMatchObject({ event: 'ca-init', details: { algorithm: 'sm2' } });
    const issued = run([
      'issue',
      '--ca',
      dir,
      '--role',
      'outer',
      '--name',
      'bank-sm2',
      '--out',
      'keys-sm2',
      '--suite',
      'sm',
    ]);
    expect(issued.status, issued.err).toBe(0);
    const rotated = run(['rotate', '--ca', dir, '--keys', 'keys-sm2']);
    expect(rotated.status, rotated.err).toBe(0);
    const revoked = run(['revoke', '--ca', dir, '--cert', join('keys-sm2', 'sign.cert.pem')]);
    expect(revoked.status, revoked.err).toBe(0);
    expect(run(['crl', '--ca', dir, '--out', 'crl-sm2.pem']).status).toBe(0);
    const trusted = run([
      'import-cert',
      '--trust',
      'trust-sm2',
      '--ca-cert',
      join(dir, 'ca.cert.pem'),
      join('keys-sm2', 'trust-export', 'bank-sm2-enc.cert.pem'),
    ]);
    expect(trusted.status, trusted.err).toBe(0);
    expect(run(['import-crl', '--trust', 'trust-sm2', 'crl-sm2.pem']).status).toBe(0);
    const listed = run(['list', '--ca', dir]);
    expect(listed.out).toMatch(/revoked\s+bank-sm2\s+outer\s+sign/);
    expect(run(['ca', 'init', '--dir', 'ca-bad', '--alg', 'rsa']).err).toMatch(/use ed25519, p256 or sm2/);
    for (const r of [init, issued, rotated, revoked, listed]) expect(r.out + r.err).not.toMatch(/secret-\d/);
  });
});
