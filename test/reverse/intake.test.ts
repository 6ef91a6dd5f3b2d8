// The reverse lane end to end with real keys (issue 6): the bank's outer node seals acks and resend
// requests, a ferry carries them, the county's inner node verifies, rate limits, parses and serves
// resends; every refused file goes to quarantine with its reason and the intake goes on.
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  importCertificates,
  initCa,
  issueNodeKeys,
  loadIdentity,
  loadTrustStore,
  recipientCertificates,
  revokeCertificate,
  importCrl,
  sealBundle,
  type Identity,
  type PayloadKind,
} from '../../crypto/index.js';
import { openInnerContext, type InnerContext } from '../../inner-node/context.js';
import { exportDataset, pruneSent } from '../../inner-node/export.js';
import {
  MAX_REVERSE_MESSAGES_PER_MINUTE,
  intakeReverseLane,
  serveResend,
  type ReverseIntakeResult,
} from '../../inner-node/reverse-inbox.js';
import { openOuterContext, type OuterContext } from '../../outer-node/context.js';
import { sendReverseMessage } from '../../outer-node/reverse-outbox.js';
import { isTemporaryName } from '../../shared/atomic-file.js';
import { createLogger } from '../../shared/logger.js';
import { MAX_REVERSE_FILE_BYTES, type ResendRequest } from '../../shared/reverse-lane.js';
import { temporaryBridge } from '../support/bridge.js';

const logger = createLogger({ name: 'test', level: 'silent' });
const REVERSE_STREAM = 'bank-a.reverse.county';
const KEY_PASSPHRASE = 'reverse-lane test passphrase';

let bridge: Awaited<ReturnType<typeof temporaryBridge>>;
let inner: InnerContext;
let outer: OuterContext;
let stream: string;
let caPassphrase: string;
const base = Date.now();
let step = 0;
/** A fresh minute for each test, so the rate-limit window of one test never counts another's messages. */
function nextMinute(): Date {
  step += 1;
  return new Date(base + step * 5 * 60_000);
}

beforeAll(async () => {
  bridge = await temporaryBridge(60, 11);
  caPassphrase = readFileSync(join(bridge.dir, 'ca.passphrase'), 'utf8').trim();
  inner = await openInnerContext(bridge.innerConfig, logger);
  outer = await openOuterContext(bridge.outerConfig, logger);
  const results = await exportDataset(inner, 'residents');
  const bankA = results.find((r) => r.bank === 'bank-a');
  if (!bankA || bankA.bundles.length === 0) throw new Error('the export sealed no bundle for bank-a');
  stream = bankA.stream;
  // The ferry took the original bundles away.
  clear(inner.settings.folders.outbox);
});

afterAll(async () => {
  inner.close();
  await outer.close();
  bridge.cleanup();
});

function clear(dir: string): void {
  if (existsSync(dir)) for (const name of readdirSync(dir)) rmSync(join(dir, name), { force: true });
}

/** The ferry: moves every finished file of the bank's outbox into the county's inbox. */
function ferry(): string[] {
  const from = outer.settings.folders.outbox;
  const to = inner.settings.folders.inbox;
  mkdirSync(to, { recursive: true });
  const moved = readdirSync(from).filter((name) => !isTemporaryName(name));
  for (const name of moved) {
    copyFileSync(join(from, name), join(to, name));
    rmSync(join(from, name));
  }
  return moved;
}

/** Seals a body of our choosing as `identity`, for the county, straight into the county's inbox. */
async function plant(
  identity: Identity,
  name: string,
  body: unknown,
  now: Date,
  extra: { kind?: PayloadKind; stream?: string } = {},
): Promise<void> {
  await sealBundle({
    identity,
    recipients: recipientCertificates(outer.trust, 'county', now),
    description: {
      dataset: 'reverse',
      contract: '-',
      stream: extra.stream ?? REVERSE_STREAM,
      sequence: 1,
      rowCount: 1,
      kind: extra.kind ?? 'ack',
      createdAt: now,
      expiresAt: new Date(now.getTime() + 86_400_000),
    },
    // eslint-disable-next-line @typescript-eslint/require-await -- one buffer as the async body
    body: (async function* () {
      yield Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8');
    })(),
    outputPath: join(inner.settings.folders.inbox, name),
  });
}

function ack(now: Date): Parameters<typeof sendReverseMessage>[1] {
  return { kind: 'ack', stream, sequences: [[1, 1]], appliedAt: now.toISOString() };
}

/** Sends one good ack through the real outbox, so each refusal test also proves the intake went on. */
async function sendGoodAck(now: Date): Promise<void> {
  await sendReverseMessage(outer, ack(now), now);
  ferry();
}

function expectRefused(result: ReverseIntakeResult, file: string, code: string | RegExp): void {
  const refused = result.refused.find((r) => r.file === file);
  expect(refused, `${file} should be refused`).toBeDefined();
  if (!refused) return;
  if (typeof code === 'string') expect(refused.code).toBe(code);
  else expect(refused.code).toMatch(code);
  expect(refused.quarantined).toBeDefined();
  const quarantined = refused.quarantined ?? '';
  expect(existsSync(quarantined)).toBe(true);
  const reason = JSON.parse(readFileSync(`${quarantined}.reason.json`, 'utf8')) as {
    code: string;
    reason: string;
  };
  expect(reason.code).toBe(refused.code);
  expect(reason.reason.length).toBeGreaterThan(0);
  expect(existsSync(join(inner.settings.folders.inbox, file))).toBe(false);
}

function expectOneGoodAck(result: ReverseIntakeResult): void {
  expect(result.accepted).toHaveLength(1);
  expect(result.accepted[0]?.sender).toBe('bank-a');
  expect(result.accepted[0]?.message.kind).toBe('ack');
}

async function bankIdentity(name: string, caDir: string, passphrase: string): Promise<Identity> {
  const keysDir = join(bridge.dir, 'extra-keys', name);
  await issueNodeKeys({
    caDir,
    caPassphrase: passphrase,
    role: 'outer',
    name,
    outDir: keysDir,
    passphrase: KEY_PASSPHRASE,
  });
  return loadIdentity({ keysDir, passphrase: KEY_PASSPHRASE });
}

describe('reverse lane, outer to inner', () => {
  it('carries an ack and a resend request; the resend re-publishes the kept bundle byte for byte', async () => {
    const now = nextMinute();
    await sendReverseMessage(outer, ack(now), now);
    const sealed = await sendReverseMessage(outer, { kind: 'resend-request', stream, from: 1, to: 3 }, now);
    expect(sealed[0]?.header.stream).toBe(REVERSE_STREAM);
    expect(sealed[0]?.header.sequence).toBe(2);
    expect(sealed[0]?.header.kind).toBe('request');
    expect(ferry()).toHaveLength(2);

    const result = await intakeReverseLane(inner, now);
    expect(result.refused).toEqual([]);
    expect(result.accepted.map((a) => a.message.kind)).toEqual(['ack', 'resend-request']);
    expect(readdirSync(inner.settings.folders.inbox)).toEqual([]);

    const request = result.accepted[1];
    if (request?.message.kind !== 'resend-request') throw new Error('expected the resend request');
    const served = await serveResend(inner, { sender: request.sender, message: request.message });
    expect(served.resent.map((r) => r.sequence)).toEqual([1]);
    expect(served.gaps).toEqual([]);
    expect(served.unknown).toEqual([[2, 3]]);
    const kept = served.resent[0]?.file ?? '';
    const republished = join(inner.settings.folders.outbox, kept.split('/').pop() ?? '');
    expect(readFileSync(republished).equals(readFileSync(kept))).toBe(true);
    clear(inner.settings.folders.outbox);
  });

  it('reports sequences that left retention as gaps', async () => {
    const message: ResendRequest = { kind: 'resend-request', stream, from: 1, to: 1 };
    // A far-future clock prunes every kept copy (retention 14 days).
    pruneSent(inner, new Date(base + 400 * 86_400_000));
    const served = await serveResend(inner, { sender: 'bank-a', message });
    expect(served.resent).toEqual([]);
    expect(served.gaps).toEqual([[1, 1]]);
    expect(readdirSync(inner.settings.folders.outbox)).toEqual([]);
  });

  it('drops a duplicate the ferry delivers twice', async () => {
    const now = nextMinute();
    await sendReverseMessage(outer, ack(now), now);
    const [name] = ferry();
    const copy = readFileSync(join(inner.settings.folders.inbox, name ?? ''));
    expectOneGoodAck(await intakeReverseLane(inner, now));
    writeFileSync(join(inner.settings.folders.inbox, name ?? ''), copy);
    const again = await intakeReverseLane(inner, now);
    expect(again.accepted).toEqual([]);
    expect(again.refused.map((r) => [r.code, r.quarantined])).toEqual([['VERIFY_REPLAYED', undefined]]);
  });

  it('finishes a claim a crashed intake left in the work folder', async () => {
    const now = nextMinute();
    await sendReverseMessage(outer, ack(now), now);
    const [name] = ferry();
    const work = join(inner.settings.folders.state, 'reverse-work');
    renameSync(join(inner.settings.folders.inbox, name ?? ''), join(work, name ?? ''));
    expectOneGoodAck(await intakeReverseLane(inner, now));
    expect(readdirSync(work)).toEqual([]);
  });

  it('quarantines garbage and oversized files and goes on', async () => {
    const now = nextMinute();
    const inbox = inner.settings.folders.inbox;
    writeFileSync(join(inbox, 'a-garbage.gbb'), 'this is not a bundle\n'.repeat(20));
    writeFileSync(join(inbox, 'a-oversized.gbb'), Buffer.alloc(MAX_REVERSE_FILE_BYTES + 1, 0x47));
    await sendGoodAck(now);
    const result = await intakeReverseLane(inner, now);
    expectOneGoodAck(result);
    expectRefused(result, 'a-garbage.gbb', /^VERIFY_/);
    expectRefused(result, 'a-oversized.gbb', 'REVERSE_TOO_LARGE');
  });

  it('refuses senders it must not trust: another CA, a node not imported, a trusted non-bank', async () => {
    const now = nextMinute();
    const rogueCa = join(bridge.dir, 'rogue-ca');
    await initCa({ dir: rogueCa, passphrase: 'rogue', name: 'Rogue CA' });
    const impostor = await bankIdentity('bank-a', rogueCa, 'rogue');
    const stranger = await bankIdentity('bank-z', bridge.caDir, caPassphrase);
    const neighbour = await bankIdentity('bank-b', bridge.caDir, caPassphrase);
    await importCertificates({
      trustDir: inner.settings.folders.trust,
      caCertFile: join(bridge.caDir, 'ca.cert.pem'),
      files: [join(neighbour.keysDir, 'trust-export', 'bank-b-sign.cert.pem')],
    });
    inner.trust = await loadTrustStore(inner.settings.folders.trust);
    await plant(impostor, 'a-impostor.gbb', ack(now), now);
    await plant(stranger, 'a-stranger.gbb', ack(now), now, { stream: 'bank-z.reverse.county' });
    await plant(neighbour, 'a-neighbour.gbb', ack(now), now, { stream: 'bank-b.reverse.county' });
    await sendGoodAck(now);
    const result = await intakeReverseLane(inner, now);
    expectOneGoodAck(result);
    expectRefused(result, 'a-impostor.gbb', /^VERIFY_(UNKNOWN_SENDER|UNTRUSTED_CERTIFICATE)$/);
    expectRefused(result, 'a-stranger.gbb', 'VERIFY_UNKNOWN_SENDER');
    expectRefused(result, 'a-neighbour.gbb', 'REVERSE_UNKNOWN_BANK');
  });

  it('refuses schema violations, wrong kinds and other banks streams', async () => {
    const now = nextMinute();
    const me = outer.identity;
    await plant(me, 'a-extra-field.gbb', { ...ack(now), extra: 1 }, now);
    await plant(me, 'a-long-range.gbb', { kind: 'resend-request', stream, from: 1, to: 5000 }, now, {
      kind: 'request',
    });
    await plant(me, 'a-unknown-kind.gbb', { kind: 'run-sql', sql: 'DELETE FROM residents' }, now);
    await plant(me, 'a-wrong-payload-kind.gbb', ack(now), now, { kind: 'certificate' });
    await plant(me, 'a-not-json.gbb', 'SELECT 1;', now);
    await plant(me, 'a-other-bank.gbb', { ...ack(now), stream: 'county.bank-b.residents' }, now);
    await plant(me, 'a-wrong-stream.gbb', ack(now), now, { stream: 'bank-a.reverse.elsewhere' });
    await sendGoodAck(now);
    const result = await intakeReverseLane(inner, now);
    expectOneGoodAck(result);
    for (const file of [
      'a-extra-field.gbb',
      'a-long-range.gbb',
      'a-unknown-kind.gbb',
      'a-wrong-payload-kind.gbb',
      'a-not-json.gbb',
      'a-wrong-stream.gbb',
    ])
      expectRefused(result, file, 'REVERSE_REFUSED');
    expectRefused(result, 'a-other-bank.gbb', 'REVERSE_NOT_ITS_STREAM');
    const reason = result.refused.find((r) => r.file === 'a-long-range.gbb')?.reason ?? '';
    expect(reason).toMatch(/more than 1000 sequences/);
  });

  it('refuses a resend of another bank stream', async () => {
    const message: ResendRequest = {
      kind: 'resend-request',
      stream: 'county.bank-b.residents',
      from: 1,
      to: 1,
    };
    await expect(serveResend(inner, { sender: 'bank-a', message })).rejects.toMatchObject({
      code: 'REVERSE_NOT_ITS_STREAM',
    });
  });

  it('quarantines what a bank sends over the rate limit', async () => {
    const now = nextMinute();
    for (let i = 0; i <= MAX_REVERSE_MESSAGES_PER_MINUTE; i++) await sendReverseMessage(outer, ack(now), now);
    ferry();
    const result = await intakeReverseLane(inner, now);
    expect(result.accepted).toHaveLength(MAX_REVERSE_MESSAGES_PER_MINUTE);
    expect(result.refused.map((r) => r.code)).toEqual(['REVERSE_RATE_LIMITED']);
    // A minute later the bank is heard again.
    const later = nextMinute();
    await sendGoodAck(later);
    expectOneGoodAck(await intakeReverseLane(inner, later));
  });

  it('forgets the ids of messages that expired long ago, and still refuses a replay of a valid one', async () => {
    const now = nextMinute();
    await sendReverseMessage(outer, ack(now), now);
    const [name] = ferry();
    const copy = join(bridge.dir, 'replay-copy.gbb');
    copyFileSync(join(inner.settings.folders.inbox, name ?? ''), copy);
    expectOneGoodAck(await intakeReverseLane(inner, now));
    const ids = (): number =>
      (inner.state.db.prepare('SELECT COUNT(*) AS n FROM reverse_received').get() as { n: number }).n;
    const before = ids();
    // Still valid: the id is kept and the replay is dropped.
    copyFileSync(copy, join(inner.settings.folders.inbox, name ?? ''));
    const replay = await intakeReverseLane(inner, now);
    expect(replay.accepted).toEqual([]);
    expect(replay.refused.map((r) => r.code)).toEqual(['VERIFY_REPLAYED']);
    expect(ids()).toBe(before);
    // Long after every message so far expired (they live 7 days), their ids are gone.
    await intakeReverseLane(inner, new Date(now.getTime() + 30 * 86_400_000));
    expect(ids()).toBe(0);
  });

  it('refuses a bank whose certificate was revoked (CRL imported)', async () => {
    const now = nextMinute();
    const { crlFile } = await revokeCertificate({
      caDir: bridge.caDir,
      caPassphrase,
      certFile: outer.identity.signCertificate.file,
    });
    await importCrl({ trustDir: inner.settings.folders.trust, crlFile });
    inner.trust = await loadTrustStore(inner.settings.folders.trust);
    await sendReverseMessage(outer, ack(now), now);
    const [name] = ferry();
    const result = await intakeReverseLane(inner, now);
    expect(result.accepted).toEqual([]);
    expectRefused(result, name ?? '', 'VERIFY_CERTIFICATE_REVOKED');
  });
});
