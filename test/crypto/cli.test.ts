// bridge-keys end to end through the compiled entry point (dist/crypto/cli.js, built by `npm test`).
// Skipped when the build is absent, e.g. in a bare `npx vitest run test/crypto` before `npm run build`.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadIdentity, loadTrustStore, recipientCertificates, sealBundle } from '../../crypto/index.js';
import { findTool } from '../ops/tools.js';
import { chunks, description } from './fixtures.js';

const CLI = resolve(import.meta.dirname, '..', '..', 'dist', 'crypto', 'cli.js');
const openssl = findTool('openssl', 'openssl');
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
    const signCert = (await loadTrustStore(join(root, 'trust-bank'))).peers.find(
      (c) => c.name === 'county' && c.usage === 'sign',
    )!;
    const { header } = sealed;
    // header fields
    for (const line of [
      `  bundleId: ${header.bundleId}`,
      `  suite: intl-v1`,
      `  kind: rows`,
      `  dataset: residents`,
      `  sender: county key ${header.sender.keyId}`,
      `  recipient: key ${header.recipients[0]!.keyId} (x25519-hkdf-sha256-aes256gcm)`,
      `  createdAt: ${header.createdAt}`,
      `  expiresAt: ${header.expiresAt}`,
    ])
      expect(inspected.out).toContain(`${line}\n`);
    expect(inspected.out).toMatch(/^header: \d+ bytes, sha256:[0-9a-f]{64}$/m);
    // signer, with its validity window
    expect(inspected.out).toContain(
      `signer: county (inner) key ${header.sender.keyId} serial ${signCert.serial}\n`,
    );
    expect(inspected.out).toContain(
      `  validity: ${signCert.notBefore.toISOString()} to ${signCert.notAfter.toISOString()}, valid now: yes\n`,
    );
    expect(inspected.out).toContain('  header signature: verifies with this certificate\n');
    // chain: signer -> CA, trusted root, revocation (no CRL in trust-bank yet)
    expect(inspected.out).toMatch(
      /^chain:\n {2}1\. subject: CN=county, OU=inner, O=govbank-bridge\n {5}issuer: CN=CLI CA, O=govbank-bridge\n/m,
    );
    expect(inspected.out).toMatch(
      /^ {2}2\. subject: CN=CLI CA, O=govbank-bridge\n {5}issuer: CN=CLI CA, O=govbank-bridge \(self-signed\)\n {5}key: [0-9a-f]{32} /m,
    );
    expect(inspected.out).toMatch(/^ {5}fingerprint: SHA256 ([0-9A-F]{2}:){31}[0-9A-F]{2}$/m);
    expect(inspected.out).toMatch(/^ {2}trusted root: yes \(the trust folder's CA, key [0-9a-f]{32}\)$/m);
    expect(inspected.out).toContain('  revocation: not checked: the trust folder has no CRL');
    // bundle validity and verdict
    expect(inspected.out).toContain(
      `bundle validity: created ${header.createdAt}, expires ${header.expiresAt}: not expired at `,
    );
    expect(inspected.out).toContain('verdict: OK [HEADER_VERIFIED]');
    // --json keeps the earlier fields and adds the new ones
    const json = run(['inspect', sealed.path, '--trust', 'trust-bank', '--json']);
    expect(json.status, json.err).toBe(0);
    const report = JSON.parse(json.out) as Record<string, unknown> & {
      signerCertificate: { status: string; validNow: boolean };
      chain: { trustedRoot: boolean; links: { subject: string }[]; revocation: { status: string } };
      bundleValidity: { expired: boolean };
    };
    expect(report).toMatchObject({
      header: { bundleId: header.bundleId },
      headerBytes: expect.any(Number) as number,
      headerDigest: expect.stringMatching(/^sha256:/) as string,
      signer: { name: 'county', serial: signCert.serial },
      verdict: { ok: true, code: 'HEADER_VERIFIED' },
      signerCertificate: { status: 'valid', validNow: true, headerSignatureValid: true },
      bundleValidity: { createdAt: header.createdAt, expiresAt: header.expiresAt, expired: false },
    });
    expect(report.chain.trustedRoot).toBe(true);
    expect(report.chain.links.map((l) => l.subject)).toEqual([
      'CN=county, OU=inner, O=govbank-bridge',
      'CN=CLI CA, O=govbank-bridge',
    ]);
    expect(report.chain.revocation.status).toBe('no-crl');
    expect(readdirSync(join(root, 'evidence')).sort()).toEqual([
      'ca.cert.pem',
      'header.json',
      'header.preimage',
      'header.sig',
      'signer.cert.pem',
      'signer.pub.pem',
    ]);
    expect(run(['inspect', sealed.path, '--trust', 'trust-bank', '--expect-role', 'outer']).status).toBe(3);

    // An expired bundle is refused, and the output still shows the (valid) signer and its chain.
    const now = Date.now();
    const stale = await sealBundle({
      identity: county,
      recipients: recipientCertificates(
        await loadTrustStore(join(root, 'trust-county')),
        'bank-a',
        new Date(),
      ),
      description: description({ createdAt: new Date(now - 120_000), expiresAt: new Date(now - 60_000) }),
      body: chunks(Buffer.from('x')),
      outputPath: join(root, 'b-expired.gbb'),
    });
    const expired = run(['inspect', stale.path, '--trust', 'trust-bank']);
    expect(expired.status).toBe(3);
    expect(expired.out).toContain(
      `signer: county (inner) key ${header.sender.keyId} serial ${signCert.serial}`,
    );
    expect(expired.out).toMatch(/^ {2}validity: \S+ to \S+, valid now: yes$/m);
    expect(expired.out).toMatch(/^ {2}trusted root: yes /m);
    expect(expired.out).toContain(
      `bundle validity: created ${stale.header.createdAt}, expires ${stale.header.expiresAt}: EXPIRED at `,
    );
    expect(expired.out).toMatch(/^verdict: NOT VERIFIED \[VERIFY_BUNDLE_EXPIRED\] Bundle expired at /m);

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
    // A refused bundle keeps its signer and chain lines, which say why.
    expect(refused.out).toContain(
      `signer: county (inner) key ${header.sender.keyId} serial ${signCert.serial}\n`,
    );
    expect(refused.out).toContain(
      `  validity: ${signCert.notBefore.toISOString()} to ${signCert.notAfter.toISOString()}, valid now: no (revoked)\n`,
    );
    expect(refused.out).toContain('  1. subject: CN=county, OU=inner, O=govbank-bridge\n');
    expect(refused.out).toMatch(/^ {2}trusted root: yes /m);
    expect(refused.out).toMatch(/^ {2}revocation: REVOKED at \S+ \(CRL of \S+, next update \S+\)$/m);
    expect(refused.out).toContain(`bundle validity: created ${header.createdAt}`);
    expect(refused.out).toMatch(
      /^verdict: NOT VERIFIED \[VERIFY_CERTIFICATE_REVOKED\] Sender county's signing certificate/m,
    );
    const refusedJson = JSON.parse(
      run(['inspect', sealed.path, '--trust', 'trust-bank', '--json']).out,
    ) as Record<string, unknown>;
    expect(refusedJson['signer']).toBeUndefined();
    expect(refusedJson).toMatchObject({
      verdict: { ok: false, code: 'VERIFY_CERTIFICATE_REVOKED' },
      signerCertificate: { name: 'county', status: 'revoked', validNow: false },
      chain: { trustedRoot: true, revocation: { status: 'revoked' } },
    });
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
  it.skipIf(!openssl.path)(
    'export-cert writes PEM certificates openssl reads; import-cert of them on the other side is audited',
    () => {
      expect(run(['ca', 'init', '--dir', 'ca-exp', '--name', 'Export CA']).status).toBe(0);
      const issued = run([
        'issue',
        '--ca',
        'ca-exp',
        '--role',
        'outer',
        '--name',
        'bank-x',
        '--out',
        'keys-x',
      ]);
      expect(issued.status, issued.err).toBe(0);
      const exported = run(['export-cert', '--keys', 'keys-x', '--out', 'handover']);
      expect(exported.status, exported.err).toBe(0);
      const files = exported.out.trim().split('\n');
      expect(files.map((f) => f.slice(f.lastIndexOf('/') + 1))).toEqual([
        'bank-x-sign.cert.pem',
        'bank-x-enc.cert.pem',
        'ca.cert.pem',
      ]);
      const handover = join(root, 'handover');
      for (const name of ['bank-x-sign.cert.pem', 'bank-x-enc.cert.pem']) {
        const text = spawnSync('openssl', ['x509', '-in', name, '-noout', '-subject', '-serial', '-dates'], {
          cwd: handover,
          encoding: 'utf8',
        });
        expect(text.status, text.stderr).toBe(0);
        expect(text.stdout).toMatch(/subject=CN = bank-x, OU = outer, O = govbank-bridge/);
        const chain = spawnSync('openssl', ['verify', '-CAfile', 'ca.cert.pem', name], {
          cwd: handover,
          encoding: 'utf8',
        });
        expect(chain.stdout).toBe(`${name}: OK\n`);
      }

      // The peer imports the whole handover folder (its CA copy is skipped) into a new trust folder.
      const imported = run([
        'import-cert',
        '--trust',
        'trust-x',
        '--ca-cert',
        join('handover', 'ca.cert.pem'),
        ...files,
      ]);
      expect(imported.status, imported.err).toBe(0);
      expect(imported.out).toMatch(
        /^imported bank-x outer sign key [0-9a-f]{32} -> .*bank-x-sign\.cert\.pem$/m,
      );
      expect(imported.out).toMatch(
        /^imported bank-x outer encrypt key [0-9a-f]{32} -> .*bank-x-enc\.cert\.pem$/m,
      );
      const listed = run(['list', '--trust', 'trust-x']);
      expect(listed.out).toMatch(/^valid\s+bank-x\s+outer\s+sign /m);
      expect(listed.out).toMatch(/^valid\s+bank-x\s+outer\s+encrypt /m);

      // The trust folder's audit log records both imports, chained.
      const entries = readFileSync(join(root, 'trust-x', 'audit.log'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { seq: number; event: string; details: Record<string, unknown> });
      const keyId = (usage: string) =>
        /key ([0-9a-f]{32})/.exec(
          imported.out.split('\n').find((l) => l.includes(` ${usage} key `)) ?? '',
        )?.[1];
      expect(entries.map((e) => [e.seq, e.event, e.details['usage']])).toEqual([
        [1, 'import-cert', 'sign'],
        [2, 'import-cert', 'encrypt'],
      ]);
      expect(entries[0]!.details).toMatchObject({ name: 'bank-x', role: 'outer', keyId: keyId('sign') });
      expect(entries[1]!.details).toMatchObject({ name: 'bank-x', role: 'outer', keyId: keyId('encrypt') });
      expect(run(['audit', 'verify', '--trust', 'trust-x']).out).toMatch(/^OK: 2 entries, head [0-9a-f]{64}/);
      // Importing the same certificates again is recorded again.
      expect(run(['import-cert', '--trust', 'trust-x', ...files]).status).toBe(0);
      expect(run(['audit', 'verify', '--trust', 'trust-x']).out).toMatch(/^OK: 4 entries, /);
    },
  );

  it('audit verify finds an edited, a removed and a reordered entry (exit status 4)', () => {
    expect(run(['ca', 'init', '--dir', 'ca-audit', '--name', 'Audit CA']).status).toBe(0);
    expect(
      run(['issue', '--ca', 'ca-audit', '--role', 'inner', '--name', 'gov-a', '--out', 'keys-ga']).status,
    ).toBe(0);
    expect(
      run(['issue', '--ca', 'ca-audit', '--role', 'outer', '--name', 'bank-q', '--out', 'keys-bq']).status,
    ).toBe(0);
    expect(run(['crl', '--ca', 'ca-audit', '--out', 'crl-audit.pem']).status).toBe(0);
    const original = readFileSync(join(root, 'ca-audit', 'audit.log'), 'utf8');
    const lines = original.trim().split('\n');
    expect(lines).toHaveLength(4);
    const intact = run(['audit', 'verify', '--ca', 'ca-audit']);
    expect(intact.status).toBe(0);
    expect(intact.out).toMatch(/^OK: 4 entries, head [0-9a-f]{64}\n$/);

    const check = (name: string, content: string[]) => {
      writeFileSync(join(root, name), `${content.join('\n')}\n`);
      return run(['audit', 'verify', '--file', name]);
    };
    // Edited: entry 2 (issue of gov-a) now names another node; only that entry fails its hash.
    expect(lines[1]).toContain('"name":"gov-a"');
    const edited = check('edited.log', [
      lines[0]!,
      lines[1]!.replace('"name":"gov-a"', '"name":"gov-b"'),
      ...lines.slice(2),
    ]);
    expect(edited.status).toBe(4);
    expect(edited.out).toBe(
      `BROKEN: 4 entries, head ${/head ([0-9a-f]{64})/.exec(intact.out)![1]}\n` +
        '  - line 2: content does not match its hash (entry edited)\n',
    );

    // Removed: entry 2 taken out.
    const removed = check('removed.log', [lines[0]!, ...lines.slice(2)]);
    expect(removed.status).toBe(4);
    expect(removed.out).toMatch(/^BROKEN: 3 entries, /);
    expect(removed.out).toContain(
      '  - line 2: sequence 3, expected 2 (entry removed, inserted or reordered)\n',
    );
    expect(removed.out).toContain(
      '  - line 2: does not chain to the previous entry (entry removed or reordered)\n',
    );

    // Reordered: entries 2 and 3 swapped.
    const reordered = check('reordered.log', [lines[0]!, lines[2]!, lines[1]!, lines[3]!]);
    expect(reordered.status).toBe(4);
    expect(reordered.out).toMatch(/^BROKEN: 4 entries, /);
    expect(reordered.out).toContain(
      '  - line 2: sequence 3, expected 2 (entry removed, inserted or reordered)\n',
    );
    expect(reordered.out).toContain(
      '  - line 3: sequence 2, expected 4 (entry removed, inserted or reordered)\n',
    );
    expect(reordered.out).toContain(
      '  - line 3: does not chain to the previous entry (entry removed or reordered)\n',
    );

    // The newest entry cut off: the chain is intact, only the printed head differs from the recorded one.
    const cut = check('cut.log', lines.slice(0, 3));
    expect(cut.status).toBe(0);
    expect(cut.out).toMatch(/^OK: 3 entries, /);
    expect(cut.out).not.toBe(intact.out);

    // bridge-keys refuses to add events to a broken log.
    writeFileSync(join(root, 'ca-audit', 'audit.log'), `${[lines[0]!, ...lines.slice(2)].join('\n')}\n`);
    const refused = run(['crl', '--ca', 'ca-audit', '--out', 'crl-audit-2.pem']);
    expect(refused.status).toBe(1);
    expect(refused.err).toContain('Audit log is broken');
    writeFileSync(join(root, 'ca-audit', 'audit.log'), original);
    for (const r of [intact, edited, removed, reordered, refused])
      expect(r.out + r.err).not.toMatch(/secret-\d/);
  });
});
