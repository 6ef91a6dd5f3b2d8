// The outer node's key rotation, end to end through the reverse lane (design 5, issue 6): the bank runs
// `bridge-keys rotate`, its restarted daemon announces the new encryption certificate, a ferry carries
// the file, the county's intake checks it and imports it into the trust folder (with the key audit
// entry), and the next bundle for the bank is sealed to the new key while one in flight under the old key
// still opens. Forged announcements are refused and leave the trust folder as it was. Real keys,
// certificates, files and daemons throughout.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  importCertificates,
  initCa,
  issueNodeKeys,
  loadIdentity,
  loadTrustStore,
  openBundle,
  readNodeCertificate,
  recipientCertificates,
  sealBundle,
  verifyAuditLog,
  type Identity,
  type PeerCertificate,
} from '../../crypto/index.js';
import { openInnerContext, type InnerContext } from '../../inner-node/context.js';
import { exportDataset } from '../../inner-node/export.js';
import { receiveCertificateAnnouncement } from '../../inner-node/reverse-certificates.js';
import { intakeReverseLane, type AcceptedReverseMessage } from '../../inner-node/reverse-inbox.js';
import { openOuterContext, type OuterContext } from '../../outer-node/context.js';
import {
  REANNOUNCE_EARLY_MS,
  REANNOUNCE_LATER_MS,
  announceCertificate,
  listAnnouncements,
  nextAnnouncementAt,
  watchCertificates,
} from '../../outer-node/reverse-certificates.js';
import { isTemporaryName } from '../../shared/atomic-file.js';
import { createLogger } from '../../shared/logger.js';
import type { CertificateAnnouncement } from '../../shared/reverse-lane.js';
import { BIN, runCli, temporaryBridge } from '../support/bridge.js';

const logger = createLogger({ name: 'test', level: 'silent' });
const OTHER_PASSPHRASE = 'certificate announcement test passphrase';
const DEADLINE_MS = 30_000;

let bridge: Awaited<ReturnType<typeof temporaryBridge>>;
let inner: InnerContext | undefined;
let outer: OuterContext | undefined;
let caPassphrase: string;
let bankB: Identity;
let oldKeyId: string;
let newKeyId: string;
/** A bundle sealed for bank-a before the rotation: still on its way when the new key arrives. */
let inFlight: string;
/** The clock of the re-announcement test (an hour ahead): later intakes use it. */
let later: Date;

function innerCtx(): InnerContext {
  if (!inner) throw new Error('the inner context is closed');
  return inner;
}

function outerCtx(): OuterContext {
  if (!outer) throw new Error('the outer context is closed');
  return outer;
}

function outerKeys(): string {
  return join(bridge.outerDir, 'keys');
}

function finished(dir: string): string[] {
  return existsSync(dir)
    ? readdirSync(dir).filter((name) => !isTemporaryName(name) && name.endsWith('.gbb'))
    : [];
}

/** The reverse-lane ferry: moves every finished file of the bank's outbox into the county's inbox. */
function ferry(): string[] {
  const from = join(bridge.outerDir, 'outbox');
  const to = join(bridge.innerDir, 'inbox');
  mkdirSync(to, { recursive: true });
  const moved = finished(from);
  for (const name of moved) {
    copyFileSync(join(from, name), join(to, name));
    rmSync(join(from, name));
  }
  return moved;
}

/** Key ids in a stable order, for sets of recipients. */
function keyIds(entries: readonly { keyId: string }[]): string[] {
  return entries.map((e) => e.keyId).sort();
}

function bothKeys(): string[] {
  return [newKeyId, oldKeyId].sort();
}

/** Every file of a folder tree with its content, to prove "nothing changed". */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (at: string): void => {
    for (const name of readdirSync(at).sort()) {
      const path = join(at, name);
      if (statSync(path).isDirectory()) walk(path);
      else files[relative(dir, path)] = readFileSync(path, 'utf8');
    }
  };
  walk(dir);
  return files;
}

function auditLines(trustDir: string): { event: string; details: Record<string, unknown> }[] {
  return readFileSync(join(trustDir, 'audit.log'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { event: string; details: Record<string, unknown> });
}

function announcementOf(
  cert: PeerCertificate,
  overrides: Partial<CertificateAnnouncement> = {},
): CertificateAnnouncement {
  return {
    kind: 'certificate-announcement',
    pem: cert.pem,
    usage: 'encrypt',
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    ...overrides,
  };
}

/** Seals an announcement of our choosing as `identity` straight into the county's inbox. */
async function plant(
  identity: Identity,
  name: string,
  message: CertificateAnnouncement,
  now: Date,
): Promise<void> {
  await sealBundle({
    identity,
    recipients: recipientCertificates(outerCtx().trust, 'county', now),
    description: {
      dataset: 'reverse',
      contract: '-',
      stream: `${identity.name}.reverse.county`,
      sequence: 1,
      rowCount: 1,
      kind: 'certificate',
      createdAt: now,
      expiresAt: new Date(now.getTime() + 86_400_000),
    },
    // eslint-disable-next-line @typescript-eslint/require-await -- one buffer as the async body
    body: (async function* () {
      yield Buffer.from(JSON.stringify(message), 'utf8');
    })(),
    outputPath: join(bridge.innerDir, 'inbox', name),
  });
}

/** Issues a further node identity under `caDir`; returns its keys folder. */
async function issue(
  caDir: string,
  passphrase: string,
  folder: string,
  node: { role: 'inner' | 'outer'; name: string; now?: Date; days?: number },
): Promise<string> {
  const outDir = join(bridge.dir, 'extra-keys', folder);
  await issueNodeKeys({ caDir, caPassphrase: passphrase, outDir, passphrase: OTHER_PASSPHRASE, ...node });
  return outDir;
}

/** Opens a bundle for bank-a and reads it to the end (the final signature is checked there). */
async function openFully(path: string, identity: Identity): Promise<number> {
  const opened = await openBundle({
    path,
    identity,
    trust: outerCtx().trust,
    now: new Date(),
    expectSenderRole: 'inner',
  });
  let bytes = 0;
  for await (const part of opened.body) bytes += part.length;
  return bytes;
}

function startDaemon(
  bin: string,
  config: string,
  level = 'info',
): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [bin, 'run', '--config', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BRIDGE_LOG_LEVEL: level },
  });
  let output = '';
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  return { child, output: () => output };
}

async function stopDaemon(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
  child.kill('SIGTERM');
  return exited;
}

async function waitFor(what: string, done: () => boolean, output: () => string): Promise<void> {
  const started = Date.now();
  while (!done()) {
    if (Date.now() - started > DEADLINE_MS)
      throw new Error(`timed out waiting for ${what}\n${output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  bridge = await temporaryBridge(60, 13);
  caPassphrase = readFileSync(join(bridge.dir, 'ca.passphrase'), 'utf8').trim();
  // A second bank the county knows (with no datasets yet), to sign announcements of its own.
  const config = readFileSync(bridge.innerConfig, 'utf8');
  writeFileSync(bridge.innerConfig, config.replace(/^banks:\n/m, 'banks:\n  bank-b:\n    datasets: {}\n'));
  const bankBKeys = await issue(bridge.caDir, caPassphrase, 'bank-b', { role: 'outer', name: 'bank-b' });
  await importCertificates({
    trustDir: join(bridge.innerDir, 'trust'),
    files: [join(bankBKeys, 'trust-export', 'bank-b-sign.cert.pem')],
  });
  bankB = await loadIdentity({ keysDir: bankBKeys, passphrase: OTHER_PASSPHRASE });
  inner = await openInnerContext(bridge.innerConfig, logger);
  outer = await openOuterContext(bridge.outerConfig, logger);
  oldKeyId = outer.identity.encKeyIds[0] ?? '';
  const results = await exportDataset(inner, 'residents');
  const sealed = results.find((r) => r.bank === 'bank-a')?.bundles[0];
  if (!sealed) throw new Error('the export sealed no bundle for bank-a');
  expect(sealed.header.recipients.map((r) => r.keyId)).toEqual([oldKeyId]);
  inFlight = join(bridge.dir, 'in-flight.gbb');
  copyFileSync(sealed.path, inFlight);
  // The main-lane ferry took the bundles away.
  rmSync(inner.settings.folders.outbox, { recursive: true, force: true });
  mkdirSync(inner.settings.folders.outbox);
}, 120_000);

afterAll(async () => {
  inner?.close();
  await outer?.close();
  bridge?.cleanup();
});

describe('outer node certificate rotation through the reverse lane', () => {
  it('does not announce a rotated key the running node has not loaded', async () => {
    const { stdout } = await runCli(BIN.keys, [
      'rotate',
      '--ca',
      bridge.caDir,
      '--keys',
      outerKeys(),
      '--name',
      'bank-a',
      '--ca-passphrase-file',
      join(bridge.dir, 'ca.passphrase'),
      '--passphrase-file',
      join(outerKeys(), 'passphrase'),
    ]);
    newKeyId = /new encryption key ([0-9a-f]{32})/.exec(stdout)?.[1] ?? '';
    expect(newKeyId).toMatch(/^[0-9a-f]{32}$/);
    expect(stdout).toContain(`previous ${oldKeyId} kept`);
    // A node that has not loaded the new key never announces it (it would invite bundles it cannot
    // open); the daemon's watch loads it first (the last test), a restart does too (the next one).
    const result = await announceCertificate(outerCtx());
    expect(result.outcome).toBe('not-loaded');
    if (result.outcome === 'not-loaded') expect(result.certificate.keyId).toBe(newKeyId);
    expect(finished(join(bridge.outerDir, 'outbox'))).toEqual([]);
  });

  it('the restarted outer daemon announces the new certificate, then again only when due', async () => {
    await outerCtx().close();
    outer = undefined;
    const outbox = join(bridge.outerDir, 'outbox');
    const daemon = startDaemon(BIN.outer, bridge.outerConfig);
    try {
      await waitFor('the announcement in the outbox', () => finished(outbox).length > 0, daemon.output);
    } finally {
      expect(await stopDaemon(daemon.child)).toBe(0);
    }
    expect(daemon.output()).toContain('encryption certificate announced over the reverse lane');
    expect(finished(outbox)).toEqual(['bank-a.reverse.county.0000000001.gbb']);

    outer = await openOuterContext(bridge.outerConfig, logger);
    expect(outer.identity.encKeyIds).toEqual([newKeyId, oldKeyId]);
    const [record, ...others] = listAnnouncements(outer);
    expect(others).toEqual([]);
    expect(record).toMatchObject({ keyId: newKeyId, announcements: 1 });
    if (!record) return;

    // Announced once: a look a minute later sends nothing; an hour later it is announced again.
    const first = new Date(record.firstAnnouncedAt);
    const soon = await announceCertificate(outer, { now: new Date(first.getTime() + 60_000) });
    expect(soon.outcome).toBe('not-due');
    later = new Date(first.getTime() + REANNOUNCE_EARLY_MS + 60_000);
    const again = await announceCertificate(outer, { now: later });
    expect(again).toMatchObject({ outcome: 'announced', first: false });
    expect(listAnnouncements(outer)[0]?.announcements).toBe(2);
    expect(finished(outbox)).toHaveLength(2);
    // After the first week, once a day.
    const week = first.getTime() + 8 * 86_400_000;
    expect(
      nextAnnouncementAt({
        firstAnnouncedAt: first.toISOString(),
        lastAnnouncedAt: new Date(week).toISOString(),
      }),
    ).toEqual(new Date(week + REANNOUNCE_LATER_MS));
  }, 60_000);

  it('the county imports it; new bundles are sealed to the new key and bundles in flight still open', async () => {
    const ctx = innerCtx();
    const trustDir = ctx.settings.folders.trust;
    const auditBefore = auditLines(trustDir).length;
    expect(ferry()).toHaveLength(2);
    const intake = await intakeReverseLane(ctx, later);
    expect(intake.refused).toEqual([]);
    expect(intake.accepted.map((a) => [a.sender, a.message.kind])).toEqual([
      ['bank-a', 'certificate-announcement'],
      ['bank-a', 'certificate-announcement'],
    ]);
    const outcomes = [];
    for (const accepted of intake.accepted) {
      if (accepted.message.kind !== 'certificate-announcement') throw new Error('expected an announcement');
      outcomes.push(
        await receiveCertificateAnnouncement(ctx, { ...accepted, message: accepted.message }, later),
      );
    }
    // The first imports; the repeat changes nothing.
    expect(outcomes.map((o) => o.outcome)).toEqual(['imported', 'already-trusted']);

    const file = join(trustDir, 'peers', `bank-a-enc-${newKeyId}.cert.pem`);
    expect(readNodeCertificate(file, 'encrypt').keyId).toBe(newKeyId);
    expect(existsSync(join(trustDir, 'peers', 'bank-a-enc.cert.pem')), 'the old certificate stays').toBe(
      true,
    );
    const audit = auditLines(trustDir).slice(auditBefore);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      event: 'import-cert',
      details: { name: 'bank-a', role: 'outer', usage: 'encrypt', keyId: newKeyId },
    });
    expect(verifyAuditLog(join(trustDir, 'audit.log')).ok).toBe(true);
    // The running node uses it at once (no restart), and so does one started later. During the
    // overlap both keys are recipients (newest first by notBefore: here both fall in the same second).
    expect(keyIds(recipientCertificates(ctx.trust, 'bank-a', new Date()))).toEqual(bothKeys());
    const reloaded = await loadTrustStore(trustDir);
    expect(keyIds(recipientCertificates(reloaded, 'bank-a', new Date()))).toEqual(bothKeys());

    // The next bundle for bank-a is addressed to the new key and opens with it alone.
    const results = await exportDataset(ctx, 'social_security');
    const sealed = results.find((r) => r.bank === 'bank-a')?.bundles[0];
    if (!sealed) throw new Error('the export sealed no bundle for bank-a');
    expect(keyIds(sealed.header.recipients)).toEqual(bothKeys());
    const newOnlyDir = join(bridge.dir, 'new-key-only');
    cpSync(outerKeys(), newOnlyDir, { recursive: true });
    rmSync(join(newOnlyDir, `enc-${oldKeyId}.key.pem`));
    rmSync(join(newOnlyDir, `enc-${oldKeyId}.cert.pem`));
    const passphrase = readFileSync(join(outerKeys(), 'passphrase'), 'utf8').trim();
    const newOnly = await loadIdentity({ keysDir: newOnlyDir, passphrase });
    expect(newOnly.encKeyIds).toEqual([newKeyId]);
    expect(await openFully(sealed.path, newOnly)).toBeGreaterThan(0);

    // The bundle sealed before the rotation, to the old key only, still opens at the bank (which kept
    // the old key), and could not have opened with the new key alone.
    expect(await openFully(inFlight, outerCtx().identity)).toBeGreaterThan(0);
    await expect(openFully(inFlight, newOnly)).rejects.toMatchObject({ code: 'VERIFY_NOT_FOR_US' });
    rmSync(ctx.settings.folders.outbox, { recursive: true, force: true });
    mkdirSync(ctx.settings.folders.outbox);
  }, 60_000);

  it('refuses forged announcements and leaves the trust folder unchanged', async () => {
    const ctx = innerCtx();
    const me = outerCtx().identity;
    const now = new Date(later.getTime() + 10 * 60_000);
    const genuine = readNodeCertificate(join(outerKeys(), 'enc.cert.pem'), 'encrypt');
    const encOf = (keysDir: string): PeerCertificate =>
      readNodeCertificate(join(keysDir, 'enc.cert.pem'), 'encrypt');
    const rogueCa = join(bridge.dir, 'rogue-ca');
    await initCa({ dir: rogueCa, passphrase: 'rogue passphrase', name: 'Rogue CA' });
    const forged: [string, Identity, CertificateAnnouncement, RegExp][] = [
      [
        'another-bank',
        me,
        announcementOf(encOf(bankB.keysDir)),
        /certificate is for bank-b, but the announcement is signed by bank-a/,
      ],
      [
        'wrong-role',
        me,
        announcementOf(
          encOf(
            await issue(bridge.caDir, caPassphrase, 'inner-named-bank-a', { role: 'inner', name: 'bank-a' }),
          ),
        ),
        /role inner; only an outer node/,
      ],
      [
        'not-from-ca',
        me,
        announcementOf(
          encOf(await issue(rogueCa, 'rogue passphrase', 'rogue-bank-a', { role: 'outer', name: 'bank-a' })),
        ),
        /not issued by the trusted CA/,
      ],
      [
        'signer-differs',
        bankB,
        announcementOf(genuine),
        /certificate is for bank-a, but the announcement is signed by bank-b/,
      ],
      [
        'signing-certificate',
        me,
        announcementOf(me.signCertificate),
        /a sign certificate, not an encryption certificate/,
      ],
      [
        'expired',
        me,
        announcementOf(
          encOf(
            await issue(bridge.caDir, caPassphrase, 'expired-bank-a', {
              role: 'outer',
              name: 'bank-a',
              now: new Date(now.getTime() - 40 * 86_400_000),
              days: 30,
            }),
          ),
        ),
        /certificate expired at/,
      ],
      [
        'dates-differ',
        me,
        announcementOf(genuine, {
          notAfter: new Date(genuine.notAfter.getTime() + 86_400_000).toISOString(),
        }),
        /notAfter: .* is not the certificate's/,
      ],
    ];
    const trustBefore = snapshot(ctx.settings.folders.trust);
    const peersBefore = ctx.trust.peers.map((p) => p.file);
    for (const [name, identity, message] of forged) await plant(identity, `a-${name}.gbb`, message, now);

    const intake = await intakeReverseLane(ctx, now);
    // Each is a well-formed message signed by a configured bank: the intake lets them through.
    expect(intake.refused).toEqual([]);
    expect(intake.accepted).toHaveLength(forged.length);
    const bySigner = new Map<string, AcceptedReverseMessage[]>();
    for (const a of intake.accepted) bySigner.set(a.sender, [...(bySigner.get(a.sender) ?? []), a]);
    for (const [name, identity, message, reason] of forged) {
      const accepted = (bySigner.get(identity.name) ?? []).find(
        (a) =>
          a.message.kind === 'certificate-announcement' &&
          a.message.pem === message.pem &&
          a.message.notAfter === message.notAfter,
      );
      if (accepted?.message.kind !== 'certificate-announcement')
        throw new Error(`${name} was not accepted by the intake`);
      const outcome = await receiveCertificateAnnouncement(
        ctx,
        { ...accepted, message: accepted.message },
        now,
      );
      expect(outcome.outcome, name).toBe('refused');
      if (outcome.outcome !== 'refused') continue;
      expect(outcome.code, name).toBe('REVERSE_REFUSED');
      expect(outcome.reason, name).toMatch(reason);
      expect(outcome.reason, name).toContain('Nothing was imported');
      const quarantined = outcome.quarantined ?? '';
      expect(readFileSync(quarantined, 'utf8').trim(), name).toBe(message.pem.trim());
      const note = JSON.parse(readFileSync(`${quarantined}.reason.json`, 'utf8')) as Record<string, unknown>;
      expect(note, name).toMatchObject({ lane: 'reverse', sender: identity.name, code: 'REVERSE_REFUSED' });
    }
    expect(snapshot(ctx.settings.folders.trust)).toEqual(trustBefore);
    expect(ctx.trust.peers.map((p) => p.file)).toEqual(peersBefore);
    expect(keyIds(recipientCertificates(ctx.trust, 'bank-a', now))).toEqual(bothKeys());
  }, 60_000);

  it('the inner daemon acts on announcements from its inbox', async () => {
    const now = new Date();
    // One genuine re-announcement (the operator's command) and one forged: signed by bank-b.
    const sent = await runCli(BIN.outer, ['announce-cert', '--config', bridge.outerConfig]);
    expect(sent.stdout).toContain(`encryption key ${newKeyId}`);
    expect(sent.stdout).toMatch(/announced over the reverse lane again/);
    const listed = await runCli(BIN.outer, ['announce-cert', '--list', '--config', bridge.outerConfig]);
    expect(listed.stdout).toMatch(new RegExp(`announced key ${newKeyId} .* 3 time\\(s\\)`));
    expect(ferry()).toHaveLength(1);
    await plant(
      bankB,
      'a-daemon-forged.gbb',
      announcementOf(readNodeCertificate(join(outerKeys(), 'enc.cert.pem'))),
      now,
    );
    const trustBefore = snapshot(innerCtx().settings.folders.trust);
    innerCtx().close();
    inner = undefined;
    const inbox = join(bridge.innerDir, 'inbox');
    const daemon = startDaemon(BIN.inner, bridge.innerConfig, 'debug');
    try {
      await waitFor(
        'the inner daemon to act on both announcements',
        () =>
          daemon.output().includes('announced certificate already trusted') &&
          daemon.output().includes('certificate announcement refused'),
        daemon.output,
      );
    } finally {
      expect(await stopDaemon(daemon.child)).toBe(0);
    }
    expect(finished(inbox)).toEqual([]);
    expect(daemon.output()).not.toContain('not handled by the daemon yet');
    expect(snapshot(join(bridge.innerDir, 'trust'))).toEqual(trustBefore);
  }, 60_000);
  it('a running outer node loads a key rotated under it and announces it without a restart', async () => {
    const ctx = outerCtx();
    const outbox = join(bridge.outerDir, 'outbox');
    rmSync(outbox, { recursive: true, force: true });
    mkdirSync(outbox);
    const { stdout } = await runCli(BIN.keys, [
      'rotate',
      '--ca',
      bridge.caDir,
      '--keys',
      outerKeys(),
      '--name',
      'bank-a',
      '--ca-passphrase-file',
      join(bridge.dir, 'ca.passphrase'),
      '--passphrase-file',
      join(outerKeys(), 'passphrase'),
    ]);
    const newest = /new encryption key ([0-9a-f]{32})/.exec(stdout)?.[1] ?? '';
    expect(ctx.identity.encKeyIds).not.toContain(newest);
    // The daemon's own watch, looking every 50 ms, stopped once the announcement is in the outbox.
    let stopped = false;
    const stop = {
      get stopped() {
        return stopped;
      },
      async wait(ms: number) {
        await new Promise((r) => setTimeout(r, ms));
        stopped ||= finished(outbox).length > 0;
      },
    };
    const watching = watchCertificates(ctx, stop, 50);
    const deadline = setTimeout(() => (stopped = true), DEADLINE_MS);
    await watching;
    clearTimeout(deadline);
    expect(ctx.identity.encKeyIds).toContain(newest);
    expect(ctx.identity.encKeyIds).toContain(newKeyId);
    expect(listAnnouncements(ctx)[0]).toMatchObject({ keyId: newest, announcements: 1 });
    expect(finished(outbox)).toHaveLength(1);
  }, 60_000);
});
