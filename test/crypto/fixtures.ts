// A small, real key world for the crypto tests: one CA, an inner node, three banks, trust folders, all
// issued for one suite (intl-v1 by default, or the national sm-v1), with Ed25519 or ECDSA P-256 signing
// keys, and optionally some nodes' keys in a PKCS#11 token. Generated once per test file (or per suite in
// a describe.each) because key generation and certificate signing are real.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  importCertificates,
  initCa,
  issueNodeKeys,
  loadIdentity,
  loadTrustStore,
  sealBundle,
  type BundleDescription,
  type Identity,
  type InitCaOptions,
  type NodeRole,
  type PeerCertificate,
  type SealResult,
  type SuiteName,
  type TrustStore,
} from '../../crypto/index.js';
import type { TokenOptions } from '../../crypto/token-issue.js';

export const CA_PASSPHRASE = 'ca passphrase for tests only';
export const NODE_PASSPHRASE = 'node passphrase for tests only';

export const SUITES: readonly SuiteName[] = ['intl-v1', 'sm-v1'];

export interface World {
  root: string;
  caDir: string;
  /** The suite every node of this world was issued for (and so seals with). */
  suite: SuiteName;
  /** intl-v1 only: the signing algorithm of every node issued with key files (default Ed25519). */
  signAlgorithm?: IntlSigningAlgorithm;
  keysDir(name: string): string;
  trustDir(name: string): string;
  identities: Record<string, Identity>;
  trust: Record<string, TrustStore>;
  cleanup(): void;
}

/** The signing algorithms of intl-v1 (sm-v1 always signs with SM2). */
export type IntlSigningAlgorithm = 'ed25519' | 'ecdsa-p256';

export interface WorldOptions {
  /** intl-v1 only: sign with ECDSA P-256 instead of Ed25519 (every node issued with key files). */
  signAlgorithm?: IntlSigningAlgorithm;
  /**
   * Nodes whose key pairs are generated in a PKCS#11 token (P-256, intl-v1) instead of key files. The
   * token must exist, and the PIN be in `options.pinEnv`, before the world is created (see
   * test/crypto/softhsm.ts).
   */
  token?: { nodes: readonly string[]; options: TokenOptions };
}

export async function issueNode(
  world: { root: string; caDir: string; suite?: SuiteName; signAlgorithm?: IntlSigningAlgorithm },
  name: string,
  role: NodeRole,
  extra: { now?: Date; days?: number; caDir?: string } = {},
): Promise<string> {
  const dir = join(world.root, 'keys', name);
  await issueNodeKeys({
    caDir: extra.caDir ?? world.caDir,
    caPassphrase: CA_PASSPHRASE,
    role,
    name,
    outDir: dir,
    passphrase: NODE_PASSPHRASE,
    suite: world.suite ?? 'intl-v1',
    ...(world.signAlgorithm ? { signAlgorithm: world.signAlgorithm } : {}),
    ...(extra.now ? { now: extra.now } : {}),
    ...(extra.days ? { days: extra.days } : {}),
  });
  return dir;
}

/**
 * CA + nodes gov (inner), bank-a, bank-b, bank-c (outer); trust folders for gov and bank-a/b/c. The CA
 * is Ed25519 unless `caAlgorithm` says otherwise ('sm2' for a fully national chain); `options` chooses
 * ECDSA P-256 signing keys, or token-held keys for some nodes.
 */
export async function createWorld(
  suite: SuiteName = 'intl-v1',
  caAlgorithm: InitCaOptions['algorithm'] = 'ed25519',
  options: WorldOptions = {},
): Promise<World> {
  const root = mkdtempSync(join(tmpdir(), 'bridge-crypto-'));
  const caDir = join(root, 'ca');
  mkdirSync(join(root, 'out'));
  await initCa({ dir: caDir, passphrase: CA_PASSPHRASE, name: 'Test Bridge CA', algorithm: caAlgorithm });
  const w = {
    root,
    caDir,
    suite,
    ...(options.signAlgorithm ? { signAlgorithm: options.signAlgorithm } : {}),
  };
  for (const [name, role] of [
    ['gov', 'inner'],
    ['bank-a', 'outer'],
    ['bank-b', 'outer'],
    ['bank-c', 'outer'],
  ] as const) {
    if (options.token?.nodes.includes(name)) {
      // Loaded only here, so that worlds without tokens never load the PKCS#11 binding.
      const { issueTokenNodeKeys } = await import('../../crypto/token-issue.js');
      await issueTokenNodeKeys({
        caDir,
        caPassphrase: CA_PASSPHRASE,
        role,
        name,
        outDir: join(root, 'keys', name),
        token: options.token.options,
      });
    } else {
      await issueNode(w, name, role);
    }
  }
  const keysDir = (name: string): string => join(root, 'keys', name);
  const trustDir = (name: string): string => join(root, 'trust', name);
  const exportOf = (name: string): string[] => [
    join(keysDir(name), 'trust-export', `${name}-sign.cert.pem`),
    join(keysDir(name), 'trust-export', `${name}-enc.cert.pem`),
  ];
  const caCertFile = join(caDir, 'ca.cert.pem');
  // gov trusts all three banks; every bank trusts gov and bank-b (to test the wrong-role refusal).
  await importCertificates({
    trustDir: trustDir('gov'),
    caCertFile,
    files: [...exportOf('bank-a'), ...exportOf('bank-b'), ...exportOf('bank-c')],
  });
  for (const bank of ['bank-a', 'bank-b', 'bank-c']) {
    await importCertificates({
      trustDir: trustDir(bank),
      caCertFile,
      files: [...exportOf('gov'), ...exportOf('bank-b')],
    });
  }
  const identities: Record<string, Identity> = {};
  const trust: Record<string, TrustStore> = {};
  for (const name of ['gov', 'bank-a', 'bank-b', 'bank-c']) {
    identities[name] = await loadIdentity({ keysDir: keysDir(name), passphrase: NODE_PASSPHRASE });
    trust[name] = await loadTrustStore(trustDir(name));
  }
  return {
    root,
    caDir,
    suite,
    ...(options.signAlgorithm ? { signAlgorithm: options.signAlgorithm } : {}),
    keysDir,
    trustDir,
    identities,
    trust,
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

export function description(overrides: Partial<BundleDescription> = {}): BundleDescription {
  const now = new Date();
  return {
    dataset: 'residents',
    contract: 'sha256:' + 'ab'.repeat(32),
    stream: 'residents-bank-a',
    sequence: 1,
    rowCount: 3,
    kind: 'rows',
    createdAt: now,
    expiresAt: new Date(now.getTime() + 3_600_000),
    ...overrides,
  };
}

export async function* chunks(data: Buffer, chunkSize = 65_536): AsyncGenerator<Uint8Array> {
  await Promise.resolve();
  for (let offset = 0; offset < data.length; offset += chunkSize)
    yield data.subarray(offset, offset + chunkSize);
}

export async function seal(
  world: World,
  from: string,
  recipients: PeerCertificate[],
  body: Buffer,
  file: string,
  extra: { segmentSize?: number; description?: Partial<BundleDescription> } = {},
): Promise<SealResult> {
  return sealBundle({
    identity: world.identities[from]!,
    recipients,
    description: description(extra.description),
    body: chunks(body),
    outputPath: join(world.root, 'out', file),
    ...(extra.segmentSize ? { segmentSize: extra.segmentSize } : {}),
  });
}

export async function collect(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of body) parts.push(part);
  return Buffer.concat(parts);
}
