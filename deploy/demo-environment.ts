// A whole bridge on one machine, for the demo and the tests: a bridge CA, a county inner node with a
// synthetic county as its source, a bank outer node with a SQLite target, keys issued and exchanged,
// and the bank's tables created. Everything real: real keys, real certificates, real databases.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { importCertificates, initCa, issueNodeKeys, randomBundleId } from '../crypto/index.js';
import { generateCounty, type CountySummary } from '../inner-node/synthetic/county.js';
import { initInnerNode } from '../inner-node/init.js';
import { initOuterNode } from '../outer-node/init.js';
import { loadOuterConfig } from '../outer-node/config.js';
import { openTarget } from '../outer-node/context.js';
import { planSchema } from '../outer-node/schema.js';
import { SqliteTarget } from '../outer-node/targets/sqlite-target.js';

export interface DemoEnvironment {
  dir: string;
  caDir: string;
  innerDir: string;
  outerDir: string;
  innerConfig: string;
  outerConfig: string;
  county: CountySummary;
  bankDb: string;
}

export interface DemoOptions {
  dir: string;
  residents: number;
  seed: number;
  innerName?: string;
  bankName?: string;
  onStep?: (step: string) => void;
  onCountyProgress?: (done: number, total: number) => void;
}

function writeSecret(path: string): string {
  const secret = `${randomBundleId()}${randomBundleId()}`;
  writeFileSync(path, `${secret}\n`, { mode: 0o600 });
  return secret;
}

export async function buildDemoEnvironment(options: DemoOptions): Promise<DemoEnvironment> {
  const dir = resolve(options.dir);
  const innerName = options.innerName ?? 'county';
  const bankName = options.bankName ?? 'bank-a';
  const step = options.onStep ?? (() => undefined);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });

  step(`synthetic county: ${options.residents.toLocaleString('en-US')} residents (seed ${options.seed})`);
  const county = generateCounty({
    seed: options.seed,
    residents: options.residents,
    dir: join(dir, 'county'),
    ...(options.onCountyProgress ? { onProgress: options.onCountyProgress } : {}),
  });

  const innerDir = join(dir, 'inner');
  const outerDir = join(dir, 'outer');
  initInnerNode(innerDir, { name: innerName, bank: bankName, sourcePath: '../county/county.db' });
  initOuterNode(outerDir, { name: bankName, sender: innerName, targetPath: 'bank.db' });

  step('bridge CA, node keys and certificates');
  const caDir = join(dir, 'ca');
  mkdirSync(caDir, { recursive: true, mode: 0o700 });
  const caPassphrase = writeSecret(join(dir, 'ca.passphrase'));
  await initCa({ dir: caDir, passphrase: caPassphrase, name: 'govbank-bridge demo CA' });
  const innerKeys = await issueNodeKeys({
    caDir,
    caPassphrase,
    role: 'inner',
    name: innerName,
    outDir: join(innerDir, 'keys'),
    passphrase: writeSecret(join(innerDir, 'keys', 'passphrase')),
  });
  const outerKeys = await issueNodeKeys({
    caDir,
    caPassphrase,
    role: 'outer',
    name: bankName,
    outDir: join(outerDir, 'keys'),
    passphrase: writeSecret(join(outerDir, 'keys', 'passphrase')),
  });
  // Each side trusts the CA and imports the other side's certificates (by hand in real life: a
  // security officer carries the trust-export folder across once).
  const caCertFile = join(caDir, 'ca.cert.pem');
  await importCertificates({
    trustDir: join(innerDir, 'trust'),
    caCertFile,
    files: [outerKeys.signCertificate, outerKeys.encCertificate].map((c) =>
      join(outerKeys.exportDir, `${c.name}-${c.usage === 'sign' ? 'sign' : 'enc'}.cert.pem`),
    ),
  });
  await importCertificates({
    trustDir: join(outerDir, 'trust'),
    caCertFile,
    files: [innerKeys.signCertificate, innerKeys.encCertificate].map((c) =>
      join(innerKeys.exportDir, `${c.name}-${c.usage === 'sign' ? 'sign' : 'enc'}.cert.pem`),
    ),
  });

  step("bank database: the bank's own tables and the ledger");
  const outerConfig = join(outerDir, 'outer-node.yaml');
  const settings = loadOuterConfig(outerConfig);
  const target = openTarget(settings);
  try {
    if (target instanceof SqliteTarget) target.exec(planSchema(settings, target));
    await target.prepare();
  } finally {
    await target.close();
  }

  return {
    dir,
    caDir,
    innerDir,
    outerDir,
    innerConfig: join(innerDir, 'inner-node.yaml'),
    outerConfig,
    county,
    bankDb: join(outerDir, 'bank.db'),
  };
}
