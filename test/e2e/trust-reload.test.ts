// Revocation and rotation take effect in running daemons, with no restart (issue 3, "a revoked key is
// refused at once"; docs/key-rotation.md 3 and 4). The security officer runs the stock commands
// (`bridge-keys revoke`, `crl`, `import-crl`, `rotate`, `import-cert`) while `outer-node run` and
// `inner-node run` are running; each daemon notices the change in its trust folder within seconds:
// - the bank's daemon refuses the next bundle signed with the county's revoked key
//   (VERIFY_CERTIFICATE_REVOKED, quarantined, nothing applied), the same process all along;
// - the county's daemon seals the next bundle to the bank's new encryption key as well.
// A trust file copied in half is logged and the trust loaded before is kept. Real daemons, keys,
// certificates and files.
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBundleHeader, readNodeCertificate } from '../../crypto/index.js';
import { loadInnerConfig } from '../../inner-node/config.js';
import { loadOuterConfig } from '../../outer-node/config.js';
import { BIN, runCli, temporaryBridge } from '../support/bridge.js';
import { editYaml, exited, startDaemon } from '../support/daemons.js';

let bridge: Awaited<ReturnType<typeof temporaryBridge>>;
const daemons: ChildProcess[] = [];

beforeAll(async () => {
  bridge = await temporaryBridge(300, 11);
}, 120_000);

afterAll(async () => {
  for (const child of daemons) {
    child.kill('SIGTERM');
    await exited(child);
  }
  bridge?.cleanup();
});

/** Collects a daemon's log lines (JSON, level info) and waits for one that matches. */
function logOf(child: ChildProcess): { lines: string[]; waitFor(re: RegExp, ms?: number): Promise<string> } {
  const lines: string[] = [];
  let buffered = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    lines.push(...parts);
  });
  return {
    lines,
    async waitFor(re, ms = 20_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const hit = lines.find((l) => re.test(l));
        if (hit) return hit;
        if (Date.now() > deadline)
          throw new Error(`no log line ${String(re)} within ${ms} ms:\n${lines.join('\n')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}

const caPassphraseFile = (): string => join(bridge.dir, 'ca.passphrase');

async function keys(args: string[]): Promise<string> {
  return (await runCli(BIN.keys, args)).stdout;
}

describe('trust changes reach running daemons without a restart', () => {
  it("the bank's daemon refuses the county's revoked signing key from the next bundle on", async () => {
    const outerSettings = loadOuterConfig(bridge.outerConfig);
    const innerSettings = loadInnerConfig(bridge.innerConfig);
    const outer = startDaemon(BIN.outer, bridge.outerConfig);
    daemons.push(outer);
    const outerLog = logOf(outer);
    await outerLog.waitFor(/outer node running/);

    // A trust file copied in half: logged, and the trust loaded before stays in force.
    const crlFile = join(outerSettings.folders.trust, 'crl.pem');
    writeFileSync(crlFile, readFileSync(join(bridge.caDir, 'crl.pem')).subarray(0, 40));
    await outerLog.waitFor(/does not load; keeping the trust loaded before/);
    rmSync(crlFile);

    // The officer revokes the county's signing certificate and installs the new CRL at the bank.
    const signCert = join(innerSettings.folders.keys, 'sign.cert.pem');
    const { serial } = readNodeCertificate(signCert);
    await keys([
      'revoke',
      '--ca',
      bridge.caDir,
      '--cert',
      signCert,
      '--reason',
      'keyCompromise',
      '--ca-passphrase-file',
      caPassphraseFile(),
    ]);
    const crl = join(bridge.dir, 'crl-revoked.pem');
    await keys(['crl', '--ca', bridge.caDir, '--out', crl, '--ca-passphrase-file', caPassphraseFile()]);
    await keys(['import-crl', '--trust', outerSettings.folders.trust, crl]);
    const start = Date.now();
    const reloaded = await outerLog.waitFor(/"revoked":1.*trust folder changed; reloaded without a restart/);
    const reloadMs = Date.now() - start;
    expect(reloadMs).toBeLessThan(10_000);
    expect(JSON.parse(reloaded)).toMatchObject({ revoked: 1, added: [], removed: [] });

    // The county, not yet told, exports with its revoked key; the ferry carries the files over.
    await runCli(BIN.inner, ['export', '--config', bridge.innerConfig]);
    const sent = readdirSync(innerSettings.folders.outbox).filter((f) => f.endsWith('.gbb'));
    expect(sent.length).toBeGreaterThan(0);
    for (const file of sent) {
      copyFileSync(join(innerSettings.folders.outbox, file), join(outerSettings.folders.inbox, file));
    }
    const refused = await outerLog.waitFor(/bundle quarantined, nothing from it applied/, 30_000);
    expect(JSON.parse(refused)).toMatchObject({ level: 40, code: 'VERIFY_CERTIFICATE_REVOKED' });
    const deadline = Date.now() + 30_000;
    let quarantined: string[] = [];
    while (Date.now() < deadline) {
      quarantined = readdirSync(outerSettings.folders.quarantine).filter((f) => f.endsWith('.gbb'));
      if (quarantined.length === sent.length) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(quarantined.sort()).toEqual([...sent].sort());
    const listed = (await runCli(BIN.outer, ['quarantine', 'list', '--config', bridge.outerConfig])).stdout;
    expect(listed).toMatch(/VERIFY_CERTIFICATE_REVOKED/);
    expect(listed).toContain(serial);
    // The same process all along: no restart, no applied bundle.
    expect(outer.exitCode).toBeNull();
    expect(outerLog.lines.some((l) => /"applied":[1-9]/.test(l))).toBe(false);
  }, 120_000);

  it("the county's daemon seals to the bank's new encryption key once the officer imports it", async () => {
    const innerSettings = loadInnerConfig(bridge.innerConfig);
    const outerSettings = loadOuterConfig(bridge.outerConfig);
    // Catalogues every second: the running daemon seals a bundle for the bank all the time.
    editYaml(bridge.innerConfig, [[['bundles', 'catalogue_interval'], '1s']]);
    const inner = startDaemon(BIN.inner, bridge.innerConfig);
    daemons.push(inner);
    const innerLog = logOf(inner);
    await innerLog.waitFor(/inner node running/);

    const outerKeys = outerSettings.folders.keys;
    await keys([
      'rotate',
      '--ca',
      bridge.caDir,
      '--keys',
      outerKeys,
      '--ca-passphrase-file',
      caPassphraseFile(),
      '--passphrase-file',
      join(outerKeys, 'passphrase'),
    ]);
    const newCert = readNodeCertificate(join(outerKeys, 'enc.cert.pem'));
    await keys([
      'import-cert',
      '--trust',
      innerSettings.folders.trust,
      join(outerKeys, 'trust-export', 'bank-a-enc.cert.pem'),
    ]);
    const imported = Date.now();
    const line = await innerLog.waitFor(/trust folder changed; reloaded without a restart/);
    expect(JSON.parse(line)).toMatchObject({ added: [`bank-a/${newCert.keyId}`] });

    // The next bundle the running daemon seals for the bank is addressed to the new key too.
    const outbox = innerSettings.folders.outbox;
    const deadline = Date.now() + 20_000;
    let addressed: string[] = [];
    while (Date.now() < deadline && !addressed.includes(newCert.keyId)) {
      const fresh = readdirSync(outbox)
        .filter((f) => f.endsWith('.gbb'))
        .filter((f) => statSync(join(outbox, f)).mtimeMs > imported);
      for (const file of fresh) {
        const header = await readBundleHeader(join(outbox, file));
        addressed = header.recipients.map((r) => r.keyId);
        if (addressed.includes(newCert.keyId)) break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(addressed).toContain(newCert.keyId);
    expect(inner.exitCode).toBeNull();
  }, 120_000);
});
