// Test fixture for the inner node: a real bridge CA, the county's keys, one or more banks' keys with
// their trust folders, and an inner-node configuration written from an object. Bundles are opened as
// a bank would (real decryption, real signature checks), without the outer node.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import {
  importCertificates,
  initCa,
  issueNodeKeys,
  loadIdentity,
  loadTrustStore,
  openBundle,
  type BundleHeader,
} from '../../crypto/index.js';
import { initInnerNode, innerConfigTemplate } from '../../inner-node/init.js';
import { createLogger } from '../../shared/logger.js';
import { residentIdCheckChar } from '../../shared/resident-id.js';
import { decodePayload, type PayloadPreamble } from '../../shared/payload.js';
import type { ContractValue } from '../../shared/mapping.js';
import { openInnerContext, type InnerContext } from '../../inner-node/context.js';

export interface InnerFixture {
  root: string;
  innerDir: string;
  configPath: string;
  banks: Record<string, { keysDir: string; trustDir: string; passphrase: string }>;
  writeConfig(config: Record<string, unknown>): void;
  open(): Promise<InnerContext>;
  /** Sent bundle files of a stream, in sequence order. */
  bundles(stream?: string): string[];
  /** Opens a bundle as the given bank: verifies, decrypts, decodes. */
  openAs(bank: string, file: string): Promise<OpenedPayload>;
  cleanup(): void;
}

export interface OpenedPayload {
  header: BundleHeader;
  preamble: PayloadPreamble;
  rows: ContractValue[][];
}

const PASS = 'correct horse battery staple for tests';

export const quietLogger = createLogger({ name: 'test', level: 'silent' });

export async function innerFixture(banks: string[] = ['bank-a']): Promise<InnerFixture> {
  const root = mkdtempSync(join(tmpdir(), 'gbb-inner-'));
  const caDir = join(root, 'ca');
  mkdirSync(caDir, { recursive: true, mode: 0o700 });
  await initCa({ dir: caDir, passphrase: PASS, name: 'test CA' });
  const innerDir = join(root, 'inner');
  initInnerNode(innerDir, { name: 'county', bank: banks[0] ?? 'bank-a' });
  writeFileSync(join(innerDir, 'keys', 'passphrase'), `${PASS}\n`, { mode: 0o600 });
  const inner = await issueNodeKeys({
    caDir,
    caPassphrase: PASS,
    role: 'inner',
    name: 'county',
    outDir: join(innerDir, 'keys'),
    passphrase: PASS,
  });
  const caCertFile = join(caDir, 'ca.cert.pem');
  const certFiles = (r: typeof inner): string[] =>
    [r.signCertificate, r.encCertificate].map((c) =>
      join(r.exportDir, `${c.name}-${c.usage === 'sign' ? 'sign' : 'enc'}.cert.pem`),
    );
  const bankInfo: InnerFixture['banks'] = {};
  for (const bank of banks) {
    const keysDir = join(root, bank, 'keys');
    const trustDir = join(root, bank, 'trust');
    mkdirSync(trustDir, { recursive: true });
    const issued = await issueNodeKeys({
      caDir,
      caPassphrase: PASS,
      role: 'outer',
      name: bank,
      outDir: keysDir,
      passphrase: PASS,
    });
    await importCertificates({ trustDir: join(innerDir, 'trust'), caCertFile, files: certFiles(issued) });
    await importCertificates({ trustDir, caCertFile, files: certFiles(inner) });
    bankInfo[bank] = { keysDir, trustDir, passphrase: PASS };
  }
  const configPath = join(innerDir, 'inner-node.yaml');
  return {
    root,
    innerDir,
    configPath,
    banks: bankInfo,
    writeConfig(config) {
      const full = {
        node: { name: 'county' },
        keys: { passphrase_file: 'keys/passphrase' },
        ...config,
      };
      writeFileSync(configPath, stringify(full), { mode: 0o640 });
    },
    open: () => openInnerContext(configPath, quietLogger),
    bundles(stream) {
      const dir = join(innerDir, 'state', 'sent');
      let names: string[] = [];
      try {
        names = readdirSync(dir).filter((n) => n.endsWith('.gbb'));
      } catch {
        return [];
      }
      return names
        .filter((n) => stream === undefined || n.startsWith(`${stream}.`))
        .sort()
        .map((n) => join(dir, n));
    },
    async openAs(bank, file) {
      const info = bankInfo[bank];
      if (!info) throw new Error(`no bank ${bank} in the fixture`);
      const identity = await loadIdentity({ keysDir: info.keysDir, passphrase: info.passphrase });
      const trust = await loadTrustStore(info.trustDir);
      const opened = await openBundle({
        path: file,
        identity,
        trust,
        now: new Date(),
        expectSenderRole: 'inner',
      });
      let preamble: PayloadPreamble | undefined;
      const rows: ContractValue[][] = [];
      for await (const item of decodePayload(opened.body, file)) {
        if ('preamble' in item) preamble = item.preamble;
        else rows.push(item.row);
      }
      if (!preamble) throw new Error('no preamble');
      return { header: opened.header, preamble, rows };
    },
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** Reads every bundle of a stream as the bank, in sequence order, checking sequences are gap-free. */
export async function readStream(
  fixture: InnerFixture,
  bank: string,
  stream: string,
): Promise<{ kind: string; columns: string[]; rows: ContractValue[][]; sequence: number }[]> {
  const out = [];
  let expected = 1;
  for (const file of fixture.bundles(stream)) {
    const opened = await fixture.openAs(bank, file);
    if (opened.header.sequence !== expected)
      throw new Error(`sequence gap: expected ${expected}, found ${opened.header.sequence}`);
    expected++;
    out.push({
      kind: opened.preamble.kind,
      columns: opened.preamble.columns,
      rows: opened.rows,
      sequence: opened.header.sequence,
    });
  }
  return out;
}

/** The `inner-node init` template as an object, pointed at a county database, for tests to adjust. */
export function templateConfig(countyDb: string): Record<string, unknown> & {
  datasets: Record<string, Record<string, unknown>>;
  banks: Record<string, { datasets: Record<string, unknown> }>;
  bundles: Record<string, unknown>;
} {
  const parsed = parse(innerConfigTemplate({ sourcePath: countyDb })) as ReturnType<typeof templateConfig>;
  return parsed;
}

/** A valid 18-character resident ID for a birth date (yyyyMMdd) and a sequence number. */
export function residentId(birth: string, sequence: number, region = '341225'): string {
  const first17 = `${region}${birth}${String(sequence % 1000).padStart(3, '0')}`;
  return `${first17}${residentIdCheckChar(first17)}`;
}

/** Maps resident IDs in a list of rows (first column) to a set, for exactly-once checks. */
export function idsOf(rows: ContractValue[][], index = 0): string[] {
  return rows.map((r) => String(r[index]));
}
