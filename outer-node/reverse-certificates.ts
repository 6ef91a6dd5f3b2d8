// The outer node announces its encryption certificate to the inner nodes over the reverse lane (design 5,
// issue 6), so that after `bridge-keys rotate` new bundles are sealed to the new key without anyone
// carrying a file. The certificate announced is the keys folder's enc.cert.pem, and only once this
// process holds its private key: the daemon's watch loads a rotated key first (reloadKeys; a restart
// does too), since announcing a key it cannot open with would invite bundles it cannot open.
// Each certificate is recorded in the state database when announced, and announced again every hour for
// its first week and then once a day while it stays the current one: a dropped reverse-lane file is
// made good without an acknowledgement, and the inner node treats a repeat as a no-op.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ENC_CERT_FILE, readNodeCertificate, type PeerCertificate } from '../crypto/index.js';
import { KeyError, describeError } from '../shared/errors.js';
import type { CertificateAnnouncement } from '../shared/reverse-lane.js';
import { loadNodeIdentity, type OuterContext } from './context.js';
import { sendReverseMessage } from './reverse-outbox.js';

/** How often the running daemon looks at its keys folder for a certificate to announce. */
export const CERTIFICATE_CHECK_INTERVAL_MS = 60_000;
/** Re-announcement interval during a certificate's first week of announcements. */
export const REANNOUNCE_EARLY_MS = 3_600_000;
/** How long the early (hourly) re-announcements go on after the first one. */
export const REANNOUNCE_EARLY_WINDOW_MS = 7 * 86_400_000;
/** Re-announcement interval afterwards, for as long as the certificate is current and unexpired. */
export const REANNOUNCE_LATER_MS = 86_400_000;
/** A failure to announce that keeps happening is logged again at most this often. */
const REPEAT_WARNING_MS = 3_600_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS certificate_announcements (
  key_id TEXT PRIMARY KEY,
  serial TEXT NOT NULL,
  not_before TEXT NOT NULL,
  not_after TEXT NOT NULL,
  first_announced_at TEXT NOT NULL,
  last_announced_at TEXT NOT NULL,
  announcements INTEGER NOT NULL
);
`;

/** One announced encryption certificate, as recorded in the outer state database. */
export interface AnnouncementRecord {
  keyId: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  firstAnnouncedAt: string;
  lastAnnouncedAt: string;
  /** How many times it was sealed into the outbox (once per inner node each time). */
  announcements: number;
}

export type AnnouncementResult =
  /** The keys folder has no enc.cert.pem (a folder from before certificates were kept there). */
  | { outcome: 'no-certificate'; file: string }
  /** The keys folder holds a certificate whose private key this process has not loaded (yet). */
  | { outcome: 'not-loaded'; certificate: PeerCertificate }
  /** The current encryption certificate has expired: rotate. */
  | { outcome: 'expired'; certificate: PeerCertificate }
  /** Announced before, and not due again yet. */
  | { outcome: 'not-due'; certificate: PeerCertificate; nextAt: Date }
  /** Sealed into the outbox for every configured inner node. */
  | { outcome: 'announced'; certificate: PeerCertificate; first: boolean; files: string[] };

function ensureSchema(ctx: Pick<OuterContext, 'state'>): void {
  ctx.state.db.exec(SCHEMA);
}

/** Every certificate announced so far, the latest first. */
export function listAnnouncements(ctx: Pick<OuterContext, 'state'>): AnnouncementRecord[] {
  ensureSchema(ctx);
  return ctx.state.db
    .prepare(
      `SELECT key_id AS keyId, serial, not_before AS notBefore, not_after AS notAfter,
         first_announced_at AS firstAnnouncedAt, last_announced_at AS lastAnnouncedAt, announcements
       FROM certificate_announcements ORDER BY first_announced_at DESC, key_id`,
    )
    .all() as AnnouncementRecord[];
}

/** When a recorded certificate is next due to be announced again (the policy in the file comment). */
export function nextAnnouncementAt(
  record: Pick<AnnouncementRecord, 'firstAnnouncedAt' | 'lastAnnouncedAt'>,
): Date {
  const first = Date.parse(record.firstAnnouncedAt);
  const last = Date.parse(record.lastAnnouncedAt);
  const interval = last - first < REANNOUNCE_EARLY_WINDOW_MS ? REANNOUNCE_EARLY_MS : REANNOUNCE_LATER_MS;
  return new Date(last + interval);
}

function recordAnnouncement(ctx: OuterContext, cert: PeerCertificate, now: Date): void {
  const at = now.toISOString();
  ctx.state.db
    .prepare(
      `INSERT INTO certificate_announcements
         (key_id, serial, not_before, not_after, first_announced_at, last_announced_at, announcements)
       VALUES (?, ?, ?, ?, ?, ?, 1)
       ON CONFLICT (key_id) DO UPDATE SET last_announced_at = excluded.last_announced_at,
         announcements = announcements + 1`,
    )
    .run(cert.keyId, cert.serial, cert.notBefore.toISOString(), cert.notAfter.toISOString(), at, at);
}

/**
 * Announces the keys folder's current encryption certificate to every configured inner node when it is
 * due (never announced, or its re-announcement interval has passed); `force` announces now whatever the
 * schedule (the `outer-node announce-cert` command). Throws when the certificate cannot be read or
 * sent; the daemon logs that and tries again at its next look.
 */
export async function announceCertificate(
  ctx: OuterContext,
  options: { now?: Date; force?: boolean } = {},
): Promise<AnnouncementResult> {
  const now = options.now ?? new Date();
  const file = join(ctx.settings.folders.keys, ENC_CERT_FILE);
  if (!existsSync(file)) return { outcome: 'no-certificate', file };
  const certificate = readNodeCertificate(file, 'encrypt');
  if (certificate.name !== ctx.identity.name || certificate.role !== ctx.identity.role) {
    throw new KeyError(
      'KEY_INVALID',
      `The encryption certificate certifies ${certificate.name} (${certificate.role}), not this node ${ctx.identity.name} (${ctx.identity.role})`,
      { where: file, hint: "Restore this node's own enc.cert.pem; `bridge-keys rotate` writes it" },
    );
  }
  if (!ctx.identity.encKeyIds.includes(certificate.keyId)) return { outcome: 'not-loaded', certificate };
  if (now.getTime() > certificate.notAfter.getTime()) return { outcome: 'expired', certificate };
  const record = listAnnouncements(ctx).find((r) => r.keyId === certificate.keyId);
  if (record && !options.force) {
    const nextAt = nextAnnouncementAt(record);
    if (nextAt.getTime() > now.getTime()) return { outcome: 'not-due', certificate, nextAt };
  }
  const message: CertificateAnnouncement = {
    kind: 'certificate-announcement',
    pem: certificate.pem,
    usage: 'encrypt',
    notBefore: certificate.notBefore.toISOString(),
    notAfter: certificate.notAfter.toISOString(),
  };
  const sealed = await sendReverseMessage(ctx, message, now);
  recordAnnouncement(ctx, certificate, now);
  return { outcome: 'announced', certificate, first: record === undefined, files: sealed.map((s) => s.path) };
}

/** A one-line account of an announcement attempt, for the log and the command line. */
export function describeAnnouncement(result: AnnouncementResult): string {
  if (result.outcome === 'no-certificate')
    return `no encryption certificate to announce: ${result.file} is missing`;
  const c = result.certificate;
  const key = `encryption key ${c.keyId} (serial ${c.serial}, valid until ${c.notAfter.toISOString()})`;
  switch (result.outcome) {
    case 'not-loaded':
      return `the keys folder holds a new ${key} that this process has not loaded: the running daemon loads it at its next look (within a minute), or restart the outer node; it is announced once loaded`;
    case 'expired':
      return `the current ${key} has expired and is not announced: rotate it with bridge-keys rotate`;
    case 'not-due':
      return `${key} already announced; next announcement at ${result.nextAt.toISOString()}`;
    case 'announced':
      return `${key} announced over the reverse lane${result.first ? ' for the first time' : ' again'}: ${result.files.join(', ')}`;
  }
}

/**
 * Loads the keys folder again after `bridge-keys rotate` wrote a new encryption key, so the running
 * daemon opens bundles sealed to it before the county is told about it (rotate changes only the
 * encryption key; the old one stays in the folder and in the new identity for bundles in flight).
 * Returns whether the new key is now loaded; a failure (wrong passphrase, a half-written folder) is
 * logged and the daemon goes on with the keys it has.
 */
async function reloadKeys(ctx: OuterContext, keyId: string): Promise<boolean> {
  try {
    const identity = await loadNodeIdentity(ctx.settings);
    if (!identity.encKeyIds.includes(keyId)) return false;
    ctx.identity = identity;
    ctx.logger.info(
      { keyId, encKeys: identity.encKeyIds.length },
      'rotated encryption key loaded from the keys folder; the old key stays loaded for bundles in flight',
    );
    return true;
  } catch (error) {
    ctx.logger.warn(
      { keyId, err: describeError(error) },
      'cannot load the rotated encryption key yet; the node goes on with the keys it has',
    );
    return false;
  }
}

interface Stopper {
  readonly stopped: boolean;
  wait(ms: number): Promise<void>;
}

/**
 * The daemon's watch: looks at the keys folder at start and every `intervalMs`, announcing when due.
 * Never throws: a failure is logged (at most once an hour while it repeats) and tried again next look.
 */
export async function watchCertificates(
  ctx: OuterContext,
  stop: Stopper,
  intervalMs: number = CERTIFICATE_CHECK_INTERVAL_MS,
): Promise<void> {
  /** The last situation warned about, so a waiting one is logged once, not every minute. */
  let noticed = '';
  let noticedAt = 0;
  const notice = (key: string, log: () => void): void => {
    if (key === noticed && Date.now() - noticedAt < REPEAT_WARNING_MS) return;
    noticed = key;
    noticedAt = Date.now();
    log();
  };
  while (!stop.stopped) {
    try {
      let result = await announceCertificate(ctx);
      if (result.outcome === 'not-loaded' && (await reloadKeys(ctx, result.certificate.keyId))) {
        result = await announceCertificate(ctx);
      }
      const text = describeAnnouncement(result);
      if (result.outcome === 'announced') {
        noticed = '';
        const c = result.certificate;
        ctx.logger.info(
          {
            keyId: c.keyId,
            serial: c.serial,
            notAfter: c.notAfter.toISOString(),
            files: result.files.length,
          },
          `encryption certificate announced over the reverse lane${result.first ? '' : ' again'}`,
        );
      } else if (result.outcome === 'not-due') {
        ctx.logger.debug({ keyId: result.certificate.keyId }, text);
      } else {
        const key =
          result.outcome === 'no-certificate'
            ? result.outcome
            : `${result.outcome}:${result.certificate.keyId}`;
        notice(key, () => ctx.logger.warn({ outcome: result.outcome }, text));
      }
    } catch (error) {
      const reason = describeError(error);
      notice(`error:${reason}`, () =>
        ctx.logger.warn(
          { err: reason },
          'cannot announce the encryption certificate over the reverse lane; will try again (importing goes on)',
        ),
      );
    }
    if (stop.stopped) break;
    await stop.wait(intervalMs);
  }
}
