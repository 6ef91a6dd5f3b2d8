// A bank's new encryption certificate, received over the reverse lane (design 5, issue 6). The intake
// has already verified that a configured bank signed the message; here the certificate itself is checked
// (chains to the bridge CA, not revoked, valid now or within a week, role outer, usage encrypt, subject
// equal to the signing bank) and imported into the trust folder through the same code as
// `bridge-keys import-cert`, audit entry included. The daemon's trust store is then reloaded, so the next
// bundle for the bank is sealed to the new key without a restart. A refused announcement changes nothing
// in the trust folder: its certificate goes to quarantine with the reason beside it.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  certificateStatus,
  checkPeerCertificate,
  importCertificates,
  loadTrustStore,
  type PeerCertificate,
  type TrustStore,
} from '../crypto/index.js';
import { writeFileAtomicSync } from '../shared/atomic-file.js';
import { describeError, errorCode } from '../shared/errors.js';
import { ReverseMessageError, type CertificateAnnouncement } from '../shared/reverse-lane.js';
import type { InnerContext } from './context.js';

/** How far ahead a certificate's validity may start and still be accepted (it is used once valid). */
export const NOT_YET_VALID_WINDOW_MS = 7 * 86_400_000;

export interface ReceivedAnnouncement {
  /** The bank that signed the message (verified by the intake). */
  sender: string;
  bundleId: string;
  message: CertificateAnnouncement;
}

export type AnnouncementOutcome =
  /** Imported into the trust folder; new bundles for the bank are sealed to it. */
  | { outcome: 'imported'; certificate: PeerCertificate }
  /** The trust folder already holds this certificate (a re-announcement): nothing changed. */
  | { outcome: 'already-trusted'; certificate: PeerCertificate }
  /** Refused: nothing imported; the certificate was put in quarantine with the reason. */
  | { outcome: 'refused'; code: string; reason: string; quarantined: string | undefined };

/**
 * Checks an announced certificate against the trust store at `now` and the bank that signed the
 * message. Pure apart from parsing the certificate (style.md rule 4). Throws ReverseMessageError listing
 * every problem (style.md rule 5).
 */
export function checkCertificateAnnouncement(
  trust: TrustStore,
  sender: string,
  message: CertificateAnnouncement,
  now: Date,
  where: string,
): PeerCertificate {
  const refuse = (problems: string[]): ReverseMessageError =>
    new ReverseMessageError(`Certificate announcement from ${sender} refused: ${problems.join('; ')}`, {
      where,
      problems,
      hint: `Nothing was imported and the trust folder ${trust.dir} is unchanged. If ${sender} rotated its key, its security officer should check the certificate (bridge-keys list --ca) and, if it is right, import it by hand: bridge-keys import-cert --trust ${trust.dir} FILE`,
    });
  const checked = checkPeerCertificate(message.pem, where, trust.caPem);
  // Nothing else in a certificate the CA did not issue can be believed: stop at the chain.
  if ('reason' in checked)
    throw refuse([`certificate: ${checked.reason} (the trusted CA is "${trust.caSubject}")`]);
  const problems: string[] = [];
  if (checked.role !== 'outer')
    problems.push(`certificate has role ${checked.role}; only an outer node (bank) certificate is accepted`);
  if (checked.name !== sender)
    problems.push(
      `certificate is for ${checked.name}, but the announcement is signed by ${sender}; a bank announces only its own certificate`,
    );
  if (checked.usage !== 'encrypt')
    problems.push(`certificate is a ${checked.usage} certificate, not an encryption certificate`);
  for (const field of ['notBefore', 'notAfter'] as const) {
    if (Date.parse(message[field]) !== checked[field].getTime())
      problems.push(`${field}: ${message[field]} is not the certificate's ${checked[field].toISOString()}`);
  }
  const status = certificateStatus(trust, checked, now);
  if (status === 'revoked')
    problems.push(`certificate serial ${checked.serial} is revoked by the installed CRL`);
  if (status === 'expired') problems.push(`certificate expired at ${checked.notAfter.toISOString()}`);
  if (status === 'not-yet-valid' && checked.notBefore.getTime() - now.getTime() > NOT_YET_VALID_WINDOW_MS)
    problems.push(
      `certificate is not valid before ${checked.notBefore.toISOString()}, more than ${NOT_YET_VALID_WINDOW_MS / 86_400_000} days ahead`,
    );
  if (problems.length > 0) throw refuse(problems);
  return checked;
}

/**
 * Acts on an accepted certificate announcement: imports the certificate or refuses it (quarantine and a
 * warning). Throws only when the trust folder itself cannot be written or reloaded (for instance a
 * broken audit log): that is this node's problem, not the bank's, and the bank's next announcement
 * tries again.
 */
export async function receiveCertificateAnnouncement(
  ctx: InnerContext,
  received: ReceivedAnnouncement,
  now: Date = new Date(),
): Promise<AnnouncementOutcome> {
  const { sender, bundleId, message } = received;
  const where = `certificate announcement from ${sender}, bundle ${bundleId}`;
  let certificate: PeerCertificate;
  try {
    certificate = checkCertificateAnnouncement(ctx.trust, sender, message, now, where);
  } catch (error) {
    return quarantine(ctx, received, error, now);
  }
  const known = ctx.trust.peers.find(
    (p) => p.name === certificate.name && p.keyId === certificate.keyId && p.serial === certificate.serial,
  );
  if (known) {
    ctx.logger.debug({ sender, keyId: known.keyId }, 'announced certificate already trusted; nothing to do');
    return { outcome: 'already-trusted', certificate: known };
  }
  const trustDir = ctx.settings.folders.trust;
  const staging = join(ctx.settings.folders.state, 'reverse-certificates');
  mkdirSync(staging, { recursive: true });
  const staged = join(staging, `${sender}-enc-${certificate.keyId}.cert.pem`);
  let imported: PeerCertificate[];
  try {
    writeFileAtomicSync(staged, `${message.pem.trimEnd()}\n`);
    // The same code as `bridge-keys import-cert`: it checks the certificate again, gives a new key its
    // own file beside the old one, and appends 'import-cert' to the trust folder's audit log.
    imported = await importCertificates({ trustDir, files: [staged], now });
  } finally {
    rmSync(staged, { force: true });
  }
  // The exports read ctx.trust: reloaded here, the next bundle for the bank is sealed to the new key.
  ctx.trust = await loadTrustStore(trustDir);
  const cert = imported[0] ?? certificate;
  ctx.logger.info(
    {
      sender,
      bundleId,
      keyId: cert.keyId,
      serial: cert.serial,
      notAfter: cert.notAfter.toISOString(),
      file: cert.file,
    },
    `encryption certificate of ${sender} imported from the reverse lane; new bundles for ${sender} are sealed to it`,
  );
  return { outcome: 'imported', certificate: cert };
}

/** Puts a refused certificate in quarantine as NAME.cert.pem with NAME.cert.pem.reason.json beside it. */
function quarantine(
  ctx: InnerContext,
  received: ReceivedAnnouncement,
  error: unknown,
  now: Date,
): AnnouncementOutcome {
  const code = errorCode(error) ?? 'REVERSE_REFUSED';
  const reason = describeError(error);
  const { sender, bundleId } = received;
  // Sender (a node name) and bundle id (32 hex) come from the verified header: safe in a file name.
  const file = `${sender}.certificate.${bundleId}.cert.pem`;
  try {
    const dir = ctx.settings.folders.quarantine;
    mkdirSync(dir, { recursive: true });
    let target = join(dir, file);
    for (let n = 1; existsSync(target); n++) target = join(dir, `${file}.${n}`);
    writeFileAtomicSync(target, `${received.message.pem.trimEnd()}\n`);
    writeFileAtomicSync(
      `${target}.reason.json`,
      `${JSON.stringify({ file, lane: 'reverse', kind: 'certificate-announcement', sender, bundleId, code, reason, at: now.toISOString() }, null, 2)}\n`,
    );
    ctx.logger.warn({ sender, bundleId, code, file }, `certificate announcement refused: ${reason}`);
    return { outcome: 'refused', code, reason, quarantined: target };
  } catch (failure) {
    ctx.logger.warn(
      { sender, bundleId, code },
      `certificate announcement refused: ${reason} (not quarantined: ${describeError(failure)})`,
    );
    return { outcome: 'refused', code, reason, quarantined: undefined };
  }
}
