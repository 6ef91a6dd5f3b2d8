// The trust watch of the running daemons (crypto/trust-watch.ts), one look at a time, on a real trust
// folder: a change is taken in once it has held still for two looks, a file that does not load keeps
// the trust in force, and a CRL never moves backwards. The daemons themselves are run in
// test/e2e/trust-reload.test.ts.
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCrl,
  importCrl,
  loadTrustStore,
  revokeCertificate,
  trustWatcher,
  type TrustStore,
} from '../../crypto/index.js';
import { createLogger } from '../../shared/logger.js';
import { CA_PASSPHRASE, createWorld, type World } from './fixtures.js';

let world: World;

beforeAll(async () => {
  world = await createWorld();
}, 60_000);

afterAll(() => world?.cleanup());

function watch(
  trustDir: string,
  trust: TrustStore,
): {
  holder: { trust: TrustStore };
  logs: string[];
  check: () => ReturnType<ReturnType<typeof trustWatcher>['check']>;
} {
  const logs: string[] = [];
  const logger = createLogger({ name: 'trust-watch-test', level: 'debug' });
  for (const level of ['debug', 'info', 'warn'] as const) {
    logger[level] = ((fields: unknown, message: string) => {
      logs.push(`${level} ${message} ${JSON.stringify(fields)}`);
    }) as never;
  }
  const holder = { trust };
  const watcher = trustWatcher({
    trustDir,
    logger,
    current: () => holder.trust,
    replace: (next) => (holder.trust = next),
  });
  return { holder, logs, check: () => watcher.check() };
}

describe('trust watch', () => {
  it('takes a new CRL in after two still looks, refuses a CRL that moves backwards or is cut short', async () => {
    const trustDir = world.trustDir('bank-a');
    const { holder, logs, check } = watch(trustDir, await loadTrustStore(trustDir));
    // The first look only starts watching; the second reloads what is there (nothing new: debug).
    expect(await check()).toBe('settling');
    expect(await check()).toBe('reloaded');
    expect(await check()).toBe('unchanged');
    expect(logs.at(-1)).toMatch(/^debug trust folder looked at again/);

    // The first CRL installed: taken in once it held still.
    const crlFile = join(trustDir, 'crl.pem');
    await importCrl({ trustDir, crlFile: join(world.caDir, 'crl.pem') });
    expect(await check()).toBe('settling');
    expect(await check()).toBe('reloaded');
    expect(holder.trust.crlThisUpdate).toBeDefined();
    const original = readFileSync(crlFile);
    const older = join(world.root, 'older-crl.pem');
    copyFileSync(crlFile, older);

    // The CA revokes the county's signing certificate; the officer installs the new CRL.
    const gov = holder.trust.peers.find((p) => p.name === 'gov' && p.usage === 'sign');
    if (!gov) throw new Error('bank-a does not trust the county');
    await new Promise((r) => setTimeout(r, 1100)); // a CRL's thisUpdate has one-second resolution
    await revokeCertificate({ caDir: world.caDir, caPassphrase: CA_PASSPHRASE, serial: gov.serial });
    const newer = join(world.root, 'newer-crl.pem');
    await createCrl({ caDir: world.caDir, caPassphrase: CA_PASSPHRASE, out: newer });
    await importCrl({ trustDir, crlFile: newer });
    expect(await check()).toBe('settling');
    expect(holder.trust.revoked.has(gov.serial)).toBe(false);
    expect(await check()).toBe('reloaded');
    expect(holder.trust.revoked.has(gov.serial)).toBe(true);
    expect(logs.at(-1)).toMatch(/^info trust folder changed; reloaded without a restart .*"revoked":1/);

    // An older CRL put back by hand would lift the revocation: refused, the newer one stays in force.
    copyFileSync(older, crlFile);
    expect(await check()).toBe('settling');
    expect(await check()).toBe('failed');
    expect(holder.trust.revoked.has(gov.serial)).toBe(true);
    expect(logs.at(-1)).toMatch(/^warn .*older than the one in force/);

    // Removed altogether: refused too.
    rmSync(crlFile);
    await check();
    expect(await check()).toBe('failed');
    expect(logs.at(-1)).toMatch(/^warn .*was removed/);

    // Cut short (copied in half): does not load, the trust in force stays.
    writeFileSync(crlFile, original.subarray(0, 40));
    await check();
    expect(await check()).toBe('failed');
    expect(holder.trust.revoked.has(gov.serial)).toBe(true);
  });
});
