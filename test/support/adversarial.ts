// The adversarial corpus (issue 9): every kind of bad bundle and hostile inbox entry that someone with
// write access to the ferry area (or one stolen or misused key) can deliver, mixed with valid bundles.
// Built at test time from freshly generated keys, so nothing secret is committed; the committed
// test/vectors/adversarial/manifest.json lists each kind with the outcome the outer node must reach.
//
// Every bundle travels on its own stream with sequence 1 (unless the kind is about ordering), so the
// outer node decides on each one at once instead of waiting behind another kind's gap.
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  linkSync,
  mkdirSync,
  readFileSync,
  renameSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  canonicalJson,
  fingerprintContract,
  importCertificates,
  importCrl,
  initCa,
  issueNodeKeys,
  loadIdentity,
  loadTrustStore,
  recipientCertificates,
  revokeCertificate,
  type BundleDescription,
  type Identity,
  type NodeRole,
  type PeerCertificate,
} from '../../crypto/index.js';
import { sealBundleWith } from '../../crypto/seal.js';
import type { DemoEnvironment } from '../../deploy/demo-environment.js';
import { canonicalContract, findContract } from '../../shared/contracts.js';
import { encodePayloadLines, type PayloadPreamble } from '../../shared/payload.js';
import { residentIdCheckChar } from '../../shared/resident-id.js';

export type Outcome = 'loaded' | 'quarantined' | 'duplicate' | 'ignored';

/** One acceptable result for a kind: an outcome and, for quarantine, the reason code. */
export interface ExpectedOutcome {
  outcome: Outcome;
  code?: string;
}

export interface ManifestKind {
  kind: string;
  group: string;
  phase: 1 | 2;
  description: string;
  /** Acceptable results; almost always exactly one. */
  expect: ExpectedOutcome[];
}

export interface CorpusManifest {
  description: string;
  kinds: ManifestKind[];
}

/** Keys and certificates the corpus is built from; all freshly issued by the bridge's own CA. */
export interface CorpusKeys {
  /** The trusted inner node whose bundles the bank accepts. */
  county: Identity;
  /** The bank's current encryption certificates: the recipients of a bundle addressed to it. */
  bank: PeerCertificate[];
  /** Another bank's encryption certificate. */
  otherBank: PeerCertificate;
  signers: {
    /** Issued by the bridge CA, never imported into the bank's trust folder. */
    unknown: Identity;
    /** Issued by another CA; its certificate is planted in the bank's trust/peers/ anyway. */
    untrustedCa: Identity;
    /** Imported at the bank, then revoked by a CRL the bank installed. */
    revoked: Identity;
    /** Imported at the bank; its certificate's validity has ended. */
    expired: Identity;
    /** An outer node's signing key, trusted at the bank, signing on the inner-to-outer lane. */
    wrongRole: Identity;
    /** A trusted inner node that is not among the bank's configured senders. */
    notAccepted: Identity;
  };
}

export interface CorpusItem {
  kind: string;
  phase: 1 | 2;
  /** File name in the inbox; a Buffer for a name that is not UTF-8. */
  name: string | Buffer;
  /** Resident ids in the rows this entry carries: they reach the bank only if the entry is loaded. */
  ids: string[];
  /** Puts the entry into the inbox: write elsewhere then rename (so it appears whole), link, FIFO... */
  plant(inbox: string): void;
  /** Files outside the inbox that the node must neither change nor remove (link targets). */
  untouched: { path: string; bytes?: Buffer }[];
  /** FIFOs the node must never open (a blocked open shows as a reader on the FIFO). */
  fifos: string[];
}

const PAST = new Date(Date.now() - 3_600_000);
const readSecret = (file: string): string => readFileSync(file, 'utf8').trim();

/** Issues the extra signers and installs the trust changes the corpus needs (before the node starts). */
export async function prepareCorpusKeys(bridge: DemoEnvironment, bankName = 'bank-a'): Promise<CorpusKeys> {
  const caPassphrase = readSecret(join(bridge.dir, 'ca.passphrase'));
  const county = await loadIdentity({
    keysDir: join(bridge.innerDir, 'keys'),
    passphrase: readSecret(join(bridge.innerDir, 'keys', 'passphrase')),
  });
  const innerTrust = await loadTrustStore(join(bridge.innerDir, 'trust'));
  const bank = recipientCertificates(innerTrust, bankName, new Date());
  const outerTrust = join(bridge.outerDir, 'trust');
  const caCertFile = join(bridge.caDir, 'ca.cert.pem');
  const root = join(bridge.dir, 'adversarial-keys');
  const passphrase = 'adversarial corpus keys, tests only';

  const issue = async (
    name: string,
    role: NodeRole,
    extra: { now?: Date; days?: number; caDir?: string; caPassphrase?: string } = {},
  ): Promise<{ identity: Identity; signCert: string; encCert: PeerCertificate }> => {
    const outDir = join(root, name);
    const issued = await issueNodeKeys({
      caDir: extra.caDir ?? bridge.caDir,
      caPassphrase: extra.caPassphrase ?? caPassphrase,
      role,
      name,
      outDir,
      passphrase,
      ...(extra.now ? { now: extra.now } : {}),
      ...(extra.days ? { days: extra.days } : {}),
    });
    return {
      identity: await loadIdentity({ keysDir: outDir, passphrase }),
      signCert: join(issued.exportDir, `${name}-sign.cert.pem`),
      encCert: issued.encCertificate,
    };
  };

  const bankB = await issue('bank-b', 'outer');
  const unknown = await issue('county-unknown', 'inner');
  const revoked = await issue('county-old', 'inner');
  const expiredAt = new Date(Date.now() - 3 * 86_400_000);
  const expired = await issue('county-expired', 'inner', { now: expiredAt, days: 1 });
  const notAccepted = await issue('county-b', 'inner');
  const rogueCaDir = join(root, 'rogue-ca');
  await initCa({ dir: rogueCaDir, passphrase: caPassphrase, name: 'Rogue CA' });
  const untrusted = await issue('county-rogue', 'inner', { caDir: rogueCaDir });

  await importCertificates({
    trustDir: outerTrust,
    caCertFile,
    files: [bankB.signCert, revoked.signCert, notAccepted.signCert],
  });
  await importCertificates({ trustDir: outerTrust, caCertFile, files: [expired.signCert], now: expiredAt });
  // Planted by hand, as an attacker with write access to the trust folder would: it must never chain.
  copyFileSync(untrusted.signCert, join(outerTrust, 'peers', 'county-rogue-sign.cert.pem'));
  const revocation = await revokeCertificate({
    caDir: bridge.caDir,
    caPassphrase,
    certFile: revoked.signCert,
  });
  await importCrl({ trustDir: outerTrust, crlFile: revocation.crlFile });

  return {
    county,
    bank,
    otherBank: bankB.encCert,
    signers: {
      unknown: unknown.identity,
      untrustedCa: untrusted.identity,
      revoked: revoked.identity,
      expired: expired.identity,
      wrongRole: bankB.identity,
      notAccepted: notAccepted.identity,
    },
  };
}

/** Byte layout of a bundle file (docs/bundle-format.md section 2). */
export interface BundleLayout {
  headerLength: number;
  headerEnd: number;
  signatureLengthOffset: number;
  signatureStart: number;
  bodyOffset: number;
  segments: { offset: number; flags: number; length: number; end: number }[];
  finalLengthOffset: number;
  finalStart: number;
  end: number;
}

export function bundleLayout(bytes: Buffer): BundleLayout {
  const headerLength = bytes.readUInt32BE(8);
  const headerEnd = 12 + headerLength;
  const signatureLength = bytes.readUInt16BE(headerEnd);
  const bodyOffset = headerEnd + 2 + signatureLength;
  const segments: BundleLayout['segments'] = [];
  let offset = bodyOffset;
  for (;;) {
    const flags = bytes[offset] ?? 0;
    const length = bytes.readUInt32BE(offset + 1);
    segments.push({ offset, flags, length, end: offset + 5 + length });
    offset += 5 + length;
    if (flags === 1) break;
  }
  return {
    headerLength,
    headerEnd,
    signatureLengthOffset: headerEnd,
    signatureStart: headerEnd + 2,
    bodyOffset,
    segments,
    finalLengthOffset: offset,
    finalStart: offset + 2,
    end: bytes.length,
  };
}

export function flipBit(bytes: Buffer, offset: number, bit = 0): Buffer {
  const copy = Buffer.from(bytes);
  copy[offset] = (copy[offset] ?? 0) ^ (1 << bit);
  return copy;
}

function setU32(bytes: Buffer, offset: number, value: number): Buffer {
  const copy = Buffer.from(bytes);
  copy.writeUInt32BE(value >>> 0, offset);
  return copy;
}

function setU16(bytes: Buffer, offset: number, value: number): Buffer {
  const copy = Buffer.from(bytes);
  copy.writeUInt16BE(value, offset);
  return copy;
}

/** The same file with other header bytes (and a matching length field); the signature is left as it was. */
function withHeader(bytes: Buffer, header: Buffer | string): Buffer {
  const layout = bundleLayout(bytes);
  const headerBytes = Buffer.from(header);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(headerBytes.length);
  return Buffer.concat([bytes.subarray(0, 8), length, headerBytes, bytes.subarray(layout.headerEnd)]);
}

function headerOf(bytes: Buffer): Record<string, unknown> {
  const layout = bundleLayout(bytes);
  return JSON.parse(bytes.subarray(12, layout.headerEnd).toString('utf8')) as Record<string, unknown>;
}

function withSegments(bytes: Buffer, segments: Buffer[]): Buffer {
  const layout = bundleLayout(bytes);
  return Buffer.concat([
    bytes.subarray(0, layout.bodyOffset),
    ...segments,
    bytes.subarray(layout.finalLengthOffset),
  ]);
}

function segmentBytes(bytes: Buffer): Buffer[] {
  return bundleLayout(bytes).segments.map((s) => bytes.subarray(s.offset, s.end));
}

const RESIDENT_COLUMNS = (findContract('residents')?.columns ?? []).map((c) => c.name);
const RESIDENTS_FINGERPRINT = fingerprintContract(canonicalContract(findContract('residents')!));

/** A valid 18-character resident id, unique per n (region 440305, birth dates from 1960 on). */
export function residentId(n: number): string {
  const birth = new Date(Date.UTC(1960, 0, 1) + Math.floor(n / 900) * 86_400_000);
  const ymd = birth.toISOString().slice(0, 10).replaceAll('-', '');
  const first17 = `440305${ymd}${String(100 + (n % 900)).padStart(3, '0')}`;
  return first17 + residentIdCheckChar(first17);
}

interface SealOptions {
  stream: string;
  rows?: number;
  sequence?: number;
  signer?: Identity;
  recipients?: PeerCertificate[];
  description?: Partial<BundleDescription>;
  preamble?: Partial<PayloadPreamble>;
  /** Raw payload lines after the preamble, instead of generated rows. */
  lines?: string[];
  segmentSize?: number;
  bundleId?: string;
}

interface Sealed {
  bytes: Buffer;
  ids: string[];
  path: string;
}

/**
 * Builds the corpus into `dir` (sealed bundles, link targets, a FIFO) and returns one item per kind,
 * each able to plant itself into an inbox. Kinds and their expected outcomes: manifest.json.
 */
export async function generateAdversarialCorpus(dir: string, keys: CorpusKeys): Promise<CorpusItem[]> {
  const sealedDir = join(dir, 'sealed');
  const elsewhere = join(dir, 'elsewhere');
  mkdirSync(sealedDir, { recursive: true });
  mkdirSync(elsewhere, { recursive: true });
  let nextId = 0;
  let fileNo = 0;

  const seal = async (label: string, options: SealOptions): Promise<Sealed> => {
    const count = options.rows ?? 3;
    const ids = Array.from({ length: count }, () => residentId(nextId++));
    const lines =
      options.lines ??
      ids.map((id, i) =>
        JSON.stringify([
          id,
          `${label} ${i}`,
          i % 2 === 0 ? 'male' : 'female',
          '1980-02-29',
          null,
          null,
          `${label} road ${i}`,
          'urban',
          '2024-01-01T08:00:00+08:00',
        ]),
      );
    const now = new Date();
    const description: BundleDescription = {
      dataset: 'residents',
      contract: RESIDENTS_FINGERPRINT,
      stream: options.stream,
      sequence: options.sequence ?? 1,
      rowCount: lines.length,
      kind: 'rows',
      createdAt: now,
      expiresAt: new Date(now.getTime() + 86_400_000),
      ...options.description,
    };
    const preamble: PayloadPreamble = {
      dataset: description.dataset,
      contract: description.contract,
      kind: description.kind === 'tombstones' ? 'tombstones' : 'rows',
      columns: RESIDENT_COLUMNS,
      ...options.preamble,
    };
    const path = join(sealedDir, `${String(fileNo++).padStart(3, '0')}-${label}.gbb`);
    // eslint-disable-next-line @typescript-eslint/require-await -- adapts a sync generator to the async body
    const body = async function* (): AsyncGenerator<Uint8Array> {
      yield* encodePayloadLines(preamble, lines);
    };
    await sealBundleWith(
      {
        identity: options.signer ?? keys.county,
        recipients: options.recipients ?? keys.bank,
        description,
        body: body(),
        outputPath: path,
        ...(options.segmentSize ? { segmentSize: options.segmentSize } : {}),
      },
      options.bundleId ? { bundleId: options.bundleId } : {},
    );
    return { bytes: readFileSync(path), ids: options.lines ? [] : ids, path };
  };
  /** A bundle of many 1 KiB segments, so every structural boundary exists in it. */
  const multi = (label: string, extra: Partial<SealOptions> = {}): Promise<Sealed> =>
    seal(label, { stream: `adv.${label}`, rows: 30, segmentSize: 1024, ...extra });

  const items: CorpusItem[] = [];
  const staged = (name: string | Buffer, bytes: Buffer): ((inbox: string) => void) => {
    return (inbox) => {
      const temp = join(inbox, `.planting-${items.length}-${Math.random().toString(36).slice(2)}`);
      writeFileSync(temp, bytes);
      // Old modification time: the node neither waits for the file to settle nor for it to grow.
      utimesSync(temp, PAST, PAST);
      renameSync(temp, inboxPath(inbox, name));
    };
  };
  const file = (
    kind: string,
    bytes: Buffer,
    options: { ids?: string[]; name?: string | Buffer; phase?: 1 | 2 } = {},
  ): void => {
    const name = options.name ?? `${kind}.gbb`;
    items.push({
      kind,
      phase: options.phase ?? 1,
      name,
      ids: options.ids ?? [],
      plant: staged(name, bytes),
      untouched: [],
      fifos: [],
    });
  };
  const bundle = async (kind: string, options: Partial<SealOptions> = {}): Promise<void> => {
    const sealed = await seal(kind, { stream: `adv.${kind}`, ...options });
    file(kind, sealed.bytes, { ids: sealed.ids });
  };

  // --- valid bundles, mixed in ---
  const valid: Sealed[] = [];
  for (const sequence of [1, 2, 3]) {
    valid.push(await seal(`valid-seq-${sequence}`, { stream: 'adv.valid', sequence, rows: 5 }));
  }
  // Delivered in reverse order: the node must wait for sequence 1 and then apply 1, 2, 3.
  for (const sequence of [3, 2, 1]) {
    const sealed = valid[sequence - 1]!;
    file(`valid-seq-${sequence}`, sealed.bytes, { ids: sealed.ids });
  }
  const big = await multi('valid-many-segments', { rows: 60 });
  file('valid-many-segments', big.bytes, { ids: big.ids });
  await bundle('valid-zero-rows', { rows: 0 });
  await bundle('valid-odd-stream-name', { stream: '../../../../tmp/adv\n\u0007\u202e..\\stream' });
  const dash = await seal('valid-leading-dash-name', { stream: 'adv.valid-leading-dash-name' });
  file('valid-leading-dash-name', dash.bytes, { ids: dash.ids, name: '--config=evil -rf.gbb' });

  // --- bit flips ---
  const base = (kind: string): Promise<Sealed> => multi(kind);
  const flip = async (kind: string, at: (l: BundleLayout, b: Buffer) => number, bit = 0): Promise<void> => {
    const sealed = await base(kind);
    file(kind, flipBit(sealed.bytes, at(bundleLayout(sealed.bytes), sealed.bytes), bit), { ids: sealed.ids });
  };
  await flip('flip-magic', () => 0);
  await flip('flip-version', () => 7, 1);
  // 'residents' becomes 'sesidents': still canonical JSON, so only the signature can notice.
  await flip('flip-header-value', (_l, b) => b.indexOf('"dataset":"') + '"dataset":"'.length);
  await flip('flip-header-syntax', () => 12);
  await flip('flip-header-signature', (l) => l.signatureStart + 10);
  await flip('flip-segment-flags', (l) => l.segments[0]!.offset);
  await flip('flip-body-ciphertext', (l) => l.segments[0]!.offset + 5 + 100);
  await flip('flip-body-tag', (l) => l.segments.at(-1)!.end - 1);
  await flip('flip-final-signature', (l) => l.finalStart + 5);

  // --- truncations at every structural boundary ---
  const truncations: [string, (l: BundleLayout) => number][] = [
    ['trunc-zero-length', () => 0],
    ['trunc-in-magic', () => 3],
    ['trunc-after-magic', () => 6],
    ['trunc-in-version', () => 7],
    ['trunc-in-header-length', () => 10],
    ['trunc-after-prefix', () => 12],
    ['trunc-in-header', (l) => 12 + Math.floor(l.headerLength / 2)],
    ['trunc-after-header', (l) => l.headerEnd],
    ['trunc-in-header-signature-length', (l) => l.headerEnd + 1],
    ['trunc-in-header-signature', (l) => l.signatureStart + 10],
    ['trunc-after-header-signature', (l) => l.bodyOffset],
    ['trunc-in-segment-frame', (l) => l.bodyOffset + 2],
    ['trunc-after-segment-frame', (l) => l.bodyOffset + 5],
    ['trunc-in-segment', (l) => l.bodyOffset + 5 + 500],
    ['trunc-at-segment-boundary', (l) => l.segments[1]!.offset],
    ['trunc-before-final-signature-length', (l) => l.finalLengthOffset],
    ['trunc-in-final-signature-length', (l) => l.finalLengthOffset + 1],
    ['trunc-in-final-signature', (l) => l.end - 10],
  ];
  for (const [kind, at] of truncations) {
    const sealed = await base(kind);
    file(kind, sealed.bytes.subarray(0, at(bundleLayout(sealed.bytes))), { ids: sealed.ids });
  }

  // --- length fields: oversized, "negative" (top bit set), zero, off by one ---
  const lengthEdit = async (kind: string, edit: (b: Buffer, l: BundleLayout) => Buffer): Promise<void> => {
    const sealed = await base(kind);
    file(kind, edit(sealed.bytes, bundleLayout(sealed.bytes)), { ids: sealed.ids });
  };
  await lengthEdit('header-length-oversized', (b) => setU32(b, 8, 0xffff_ffff));
  await lengthEdit('header-length-negative', (b) => setU32(b, 8, 0x8000_0000));
  await lengthEdit('header-length-zero', (b) => setU32(b, 8, 0));
  await lengthEdit('header-length-short', (b, l) => setU32(b, 8, l.headerLength - 1));
  await lengthEdit('header-length-long', (b, l) => setU32(b, 8, l.headerLength + 7));
  await lengthEdit('header-signature-length-zero', (b, l) => setU16(b, l.signatureLengthOffset, 0));
  await lengthEdit('header-signature-length-oversized', (b, l) => setU16(b, l.signatureLengthOffset, 0xffff));
  await lengthEdit('segment-length-oversized', (b, l) => setU32(b, l.segments[0]!.offset + 1, 0xffff_ffff));
  await lengthEdit('segment-length-negative', (b, l) => setU32(b, l.segments[0]!.offset + 1, 0x8000_0000));
  await lengthEdit('segment-length-below-tag', (b, l) => setU32(b, l.segments.at(-1)!.offset + 1, 5));
  await lengthEdit('final-signature-length-zero', (b, l) => setU16(b, l.finalLengthOffset, 0));
  await lengthEdit('final-signature-length-oversized', (b, l) => setU16(b, l.finalLengthOffset, 0xffff));
  await lengthEdit('trailing-data', (b) => Buffer.concat([b, Buffer.from('appended')]));

  // --- segments swapped, duplicated, dropped, spliced ---
  const segmentEdit = async (kind: string, edit: (segments: Buffer[]) => Buffer[]): Promise<void> => {
    const sealed = await base(kind);
    file(kind, withSegments(sealed.bytes, edit(segmentBytes(sealed.bytes))), { ids: sealed.ids });
  };
  await segmentEdit('segments-swapped', ([a, b, ...rest]) => [b!, a!, ...rest]);
  await segmentEdit('segment-duplicated', ([a, ...rest]) => [a!, a!, ...rest]);
  await segmentEdit('segment-dropped', ([a, , ...rest]) => [a!, ...rest]);
  await segmentEdit('last-segment-dropped-and-reflagged', (segments) => {
    const kept = segments.slice(0, -1).map((s) => Buffer.from(s));
    kept[kept.length - 1]![0] = 1;
    return kept;
  });
  const donor = await multi('splice-donor', { stream: 'adv.splice-donor' });
  await segmentEdit('segment-spliced-from-other-bundle', (segments) => {
    const other = segmentBytes(donor.bytes);
    return segments.map((s, i) => (i === 1 ? other[1]! : s));
  });
  {
    const sealed = await base('body-from-other-bundle');
    const layout = bundleLayout(sealed.bytes);
    const donorLayout = bundleLayout(donor.bytes);
    const spliced = Buffer.concat([
      sealed.bytes.subarray(0, layout.bodyOffset),
      donor.bytes.subarray(donorLayout.bodyOffset),
    ]);
    file('body-from-other-bundle', spliced, { ids: [...sealed.ids, ...donor.ids] });
  }

  // --- headers: absurd numbers, huge, not canonical (refused before the signature is even looked at) ---
  const headerEdit = async (kind: string, edit: (h: Record<string, unknown>) => string): Promise<void> => {
    const sealed = await base(kind);
    file(kind, withHeader(sealed.bytes, edit(headerOf(sealed.bytes))), { ids: sealed.ids });
  };
  await headerEdit('header-rowcount-absurd', (h) => canonicalJson({ ...h, rowCount: 1e12 }));
  await headerEdit('header-rowcount-negative', (h) => canonicalJson({ ...h, rowCount: -1 }));
  await headerEdit('header-huge-field', (h) => canonicalJson({ ...h, dataset: 'd'.repeat(60_000) }));
  await headerEdit('header-over-64k', (h) => canonicalJson({ ...h, dataset: 'd'.repeat(70_000) }));
  await headerEdit('header-17-recipients', (h) => {
    const [entry] = h['recipients'] as Record<string, string>[];
    const recipients = Array.from({ length: 17 }, (_, i) => ({
      ...entry,
      keyId: i.toString(16).padStart(32, '0'),
    }));
    return canonicalJson({ ...h, recipients });
  });
  await headerEdit('header-not-canonical', (h) => JSON.stringify(h, null, 1));
  await headerEdit('header-duplicate-key', (h) =>
    canonicalJson(h).replace('"bundleId":', `"bundleId":"${'0'.repeat(32)}","bundleId":`),
  );
  await headerEdit('header-unknown-field', (h) => canonicalJson({ ...h, zzz: 'x'.repeat(1000) }));
  await headerEdit('header-unknown-suite', (h) => canonicalJson({ ...h, suite: 'future-v9' }));

  // --- signed by someone who must not be believed, or addressed elsewhere ---
  await bundle('wrong-recipient', { recipients: [keys.otherBank] });
  await bundle('signer-unknown', { signer: keys.signers.unknown });
  await bundle('signer-untrusted-ca', { signer: keys.signers.untrustedCa });
  await bundle('signer-revoked', { signer: keys.signers.revoked });
  {
    const validFrom = keys.signers.expired.signCertificate.notBefore.getTime() + 3_600_000;
    await bundle('signer-expired', {
      signer: keys.signers.expired,
      description: { createdAt: new Date(validFrom), expiresAt: new Date(validFrom + 3_600_000) },
    });
  }
  await bundle('signer-wrong-role', { signer: keys.signers.wrongRole });
  await bundle('signer-not-an-accepted-sender', { signer: keys.signers.notAccepted });
  await bundle('bundle-expired', {
    description: { createdAt: new Date(Date.now() - 120_000), expiresAt: new Date(Date.now() - 60_000) },
  });
  await bundle('bundle-not-yet-valid', {
    description: {
      createdAt: new Date(Date.now() + 3_600_000),
      expiresAt: new Date(Date.now() + 7_200_000),
    },
  });

  // --- signed by the real county key, but the content does not hold together (a buggy or abused sender) ---
  await bundle('rowcount-above-payload', { description: { rowCount: 5 } });
  await bundle('rowcount-below-payload', { description: { rowCount: 2 } });
  await bundle('rowcount-at-limit-with-3-rows', { description: { rowCount: 100_000_000 } });
  await bundle('payload-preamble-mismatch', { preamble: { dataset: 'vehicles' } });
  await bundle('payload-not-json', { lines: ['["1", this is not json'], description: { rowCount: 1 } });
  await bundle('payload-wrong-arity', { lines: ['["440305198001010000"]'], description: { rowCount: 1 } });
  await bundle('payload-unknown-column', {
    preamble: { columns: [...RESIDENT_COLUMNS.slice(0, -1), 'salary'] },
  });
  await bundle('wrong-contract-fingerprint', {
    description: { contract: `sha256:${'0'.repeat(64)}` },
    preamble: { contract: `sha256:${'0'.repeat(64)}` },
  });
  await bundle('unknown-dataset', { description: { dataset: 'secrets' }, preamble: { dataset: 'secrets' } });
  await bundle('portrait-on-main-lane', { description: { kind: 'portrait' } });

  // --- hostile names and entries that are not regular files ---
  const random = Buffer.alloc(4096);
  for (let i = 0; i < random.length; i++) random[i] = (i * 151 + 7) % 256;
  file('not-a-bundle', random, { name: 'not-a-bundle.gbb' });
  file('wrong-suffix', valid[0]!.bytes, { name: 'wrong-suffix.txt' });
  for (const [kind, name] of [
    ['temp-name-leading-dot', '.temp-name-leading-dot.gbb'],
    ['temp-name-part-suffix', 'temp-name-part-suffix.gbb.part'],
    ['name-dot-dot', '..gbb'],
  ] as const) {
    const sealed = await base(kind);
    file(kind, sealed.bytes, { ids: sealed.ids, name });
  }
  const named = async (kind: string, name: string | Buffer, how: 'signature' | 'magic'): Promise<void> => {
    const sealed = await base(kind);
    const bytes =
      how === 'magic'
        ? flipBit(sealed.bytes, 0)
        : flipBit(sealed.bytes, bundleLayout(sealed.bytes).signatureStart);
    file(kind, bytes, { ids: sealed.ids, name });
  };
  await named('name-dot-dot-inside', 'up..%2F..%2F..x..gbb', 'signature');
  await named('name-backslashes', 'c:\\..\\..\\windows\\system32.gbb', 'signature');
  await named('name-control-characters', 'ctl\u0001\u001b[31mred\u0007\r.gbb', 'magic');
  await named('name-newline', 'first line\nsecond line.gbb', 'signature');
  await named('name-very-long', `${'L'.repeat(250)}.gbb`, 'signature');
  await named('name-very-long-not-a-bundle', `${'M'.repeat(250)}.gbb`, 'magic');
  await named('name-unicode-bidi', '账单\u202egbb.exe\u202c.gbb', 'magic');
  await named(
    'name-not-utf8',
    Buffer.concat([Buffer.from('bad-'), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from('.gbb')]),
    'magic',
  );

  const link = (
    kind: string,
    target: string,
    extra: { ids?: string[]; untouched?: CorpusItem['untouched']; fifos?: string[] } = {},
  ): void => {
    const name = `${kind}.gbb`;
    items.push({
      kind,
      phase: 1,
      name,
      ids: extra.ids ?? [],
      plant: (inbox) => symlinkSync(target, join(inbox, name)),
      untouched: extra.untouched ?? [],
      fifos: extra.fifos ?? [],
    });
  };
  link('symlink-to-etc-passwd', '/etc/passwd', { untouched: [{ path: '/etc/passwd' }] });
  const linkedBundle = await seal('symlink-to-valid-bundle', { stream: 'adv.symlink-to-valid-bundle' });
  link('symlink-to-valid-bundle', linkedBundle.path, {
    ids: linkedBundle.ids,
    untouched: [{ path: linkedBundle.path, bytes: linkedBundle.bytes }],
  });
  const outsideFifo = join(elsewhere, 'outside.fifo');
  execFileSync('mkfifo', [outsideFifo]);
  link('symlink-to-fifo', outsideFifo, { fifos: [outsideFifo] });
  link('symlink-dangling', join(elsewhere, 'does-not-exist.gbb'));
  link('symlink-to-directory', '/etc');

  const secret = join(elsewhere, 'secret.txt');
  const secretBytes = Buffer.from('not for the ferry: a file elsewhere on the bank side\n');
  writeFileSync(secret, secretBytes);
  const hardTarget = await seal('hardlink-to-valid-bundle', { stream: 'adv.hardlink-to-valid-bundle' });
  for (const [kind, target, bytes, ids] of [
    ['hardlink-to-file-elsewhere', secret, secretBytes, []],
    ['hardlink-to-valid-bundle', hardTarget.path, hardTarget.bytes, hardTarget.ids],
  ] as const) {
    const name = `${kind}.gbb`;
    items.push({
      kind,
      phase: 1,
      name,
      ids: [...ids],
      plant: (inbox) => linkSync(target, join(inbox, name)),
      untouched: [{ path: target, bytes }],
      fifos: [],
    });
  }
  items.push({
    kind: 'directory',
    phase: 1,
    name: 'directory.gbb',
    ids: [],
    plant: (inbox) => {
      mkdirSync(join(inbox, 'directory.gbb'));
      writeFileSync(join(inbox, 'directory.gbb', 'inside.gbb'), valid[0]!.bytes);
    },
    untouched: [],
    fifos: [],
  });
  items.push({
    kind: 'fifo',
    phase: 1,
    name: 'fifo.gbb',
    ids: [],
    plant: (inbox) => execFileSync('mkfifo', [join(inbox, 'fifo.gbb')]),
    untouched: [],
    // Probed wherever it ends up (inbox or quarantine) by the test.
    fifos: [],
  });

  // --- replays, delivered after the originals were applied (phase 2) ---
  // Their rows are the originals' (already in the bank); the ledger shows they were not applied twice.
  file('replay-under-other-name', valid[0]!.bytes, { phase: 2 });
  file('replay-under-same-name', valid[1]!.bytes, { phase: 2, name: 'valid-seq-2.gbb' });
  {
    const header = headerOf(valid[0]!.bytes);
    const again = await seal('replay-same-bundle-id-new-sequence', {
      stream: 'adv.valid',
      sequence: 4,
      bundleId: header['bundleId'] as string,
    });
    file('replay-same-bundle-id-new-sequence', again.bytes, { phase: 2, ids: again.ids });
  }
  file(
    'replay-tampered-old-sequence',
    flipBit(valid[2]!.bytes, bundleLayout(valid[2]!.bytes).signatureStart + 3),
    { phase: 2 },
  );
  return items;
}

/** Path of an inbox entry; a Buffer name (not UTF-8) gives a Buffer path. */
export function inboxPath(inbox: string, name: string | Buffer): string | Buffer {
  return typeof name === 'string' ? join(inbox, name) : Buffer.concat([Buffer.from(`${inbox}/`), name]);
}

/** Printable form of an entry name (control characters and invalid bytes escaped). */
export function printableName(name: string | Buffer): string {
  const text = typeof name === 'string' ? name : name.toString('latin1');
  return JSON.stringify(text).slice(1, -1);
}
