#!/usr/bin/env node
// bridge-keys: the security staff's command line for the bridge CA, node keys, trust folders and bundle
// inspection. Thin by design (style.md rule 10): parse flags, call the library, print.
import { Command, Option } from 'commander';
import { resolve } from 'node:path';
import { describeError } from '../shared/errors.js';
import { readPassphrase } from '../shared/secrets.js';
import { verifyAuditLog } from './audit-log.js';
import {
  AUDIT_FILE,
  createCrl,
  exportCertificates,
  importCertificates,
  importCrl,
  initCa,
  issueNodeKeys,
  listCertificates,
  revokeCertificate,
  rotateEncryptionKey,
  type CertificateListing,
} from './authority.js';
import type { SigningAlgorithm } from './certificates.js';
import { x509 } from './certificates.js';
import { describeInspection, extractBundleEvidence, inspectBundle } from './inspect.js';
import { loadTrustStore } from './trust-store.js';
import type { NodeRole } from './types.js';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { TOKEN_CONFIG_FILE } from './identity.js';

const NODE_ENV_DEFAULT = 'BRIDGE_KEY_PASSPHRASE';
const CA_ENV_DEFAULT = 'BRIDGE_CA_PASSPHRASE';

interface PassphraseFlags {
  passphraseFile?: string;
  passphraseEnv?: string;
  caPassphraseFile?: string;
  caPassphraseEnv?: string;
}

function nodePassphrase(flags: PassphraseFlags): string {
  return readPassphrase(
    { file: flags.passphraseFile, env: flags.passphraseEnv ?? NODE_ENV_DEFAULT },
    'the node keys',
  );
}

function caPassphrase(flags: PassphraseFlags): string {
  return readPassphrase(
    { file: flags.caPassphraseFile, env: flags.caPassphraseEnv ?? CA_ENV_DEFAULT },
    'the CA key',
  );
}

function withNodePassphrase(command: Command): Command {
  return command
    .option('--passphrase-file <file>', 'file (mode 0600) holding the node key passphrase')
    .option(
      '--passphrase-env <var>',
      'environment variable holding the node key passphrase',
      NODE_ENV_DEFAULT,
    );
}

function withCaPassphrase(command: Command): Command {
  return command
    .option('--ca-passphrase-file <file>', 'file (mode 0600) holding the CA key passphrase')
    .option(
      '--ca-passphrase-env <var>',
      'environment variable holding the CA key passphrase',
      CA_ENV_DEFAULT,
    );
}

function days(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`Not a positive number of days: ${value}`);
  return n;
}

function signAlgorithm(value: string): SigningAlgorithm {
  if (value === 'ed25519') return 'ed25519';
  if (value === 'p256' || value === 'ecdsa-p256') return 'ecdsa-p256';
  throw new Error(
    `Unknown signature algorithm ${value}; use ed25519 or p256 (or --suite sm for SM2 node keys)`,
  );
}

/** CA keys may also be SM2: the CA then signs certificates and CRLs SM2-with-SM3. */
function caAlgorithm(value: string): SigningAlgorithm {
  if (value === 'sm2') return 'sm2';
  if (value === 'ed25519' || value === 'p256' || value === 'ecdsa-p256') return signAlgorithm(value);
  throw new Error(`Unknown CA algorithm ${value}; use ed25519, p256 or sm2`);
}

function print(line = ''): void {
  process.stdout.write(`${line}\n`);
}

function printListing(rows: CertificateListing[], json: boolean): void {
  if (json) {
    print(JSON.stringify(rows, null, 2));
    return;
  }
  for (const r of rows) {
    const flag = r.expiresSoon ? '  WARNING: expires soon' : '';
    const note = r.note ? `  (${r.note})` : '';
    print(
      `${r.status.padEnd(13)} ${r.name.padEnd(20)} ${r.role.padEnd(6)} ${r.usage.padEnd(8)} key ${r.keyId} serial ${r.serial} until ${r.status === 'untrusted' ? '-' : r.notAfter.toISOString()}${flag}${note}`,
    );
  }
  const soon = rows.filter((r) => r.expiresSoon);
  if (soon.length > 0) {
    process.stderr.write(
      `warning: ${soon.length} certificate(s) expire within the warning window; renew or rotate them\n`,
    );
  }
}

function buildProgram(): Command {
  const program = new Command('bridge-keys')
    .description(
      'Keys, certificates and trust for govbank-bridge: run the offline bridge CA, issue and rotate node keys, ' +
        'maintain trust folders and CRLs, and inspect bundles. Passphrases are never taken on the command line: ' +
        `use --passphrase-file / --passphrase-env (default ${NODE_ENV_DEFAULT}) and --ca-passphrase-file / --ca-passphrase-env (default ${CA_ENV_DEFAULT}).`,
    )
    .showHelpAfterError();

  const ca = program.command('ca').description('manage the bridge certificate authority');
  withCaPassphrase(
    ca
      .command('init')
      .description(
        'create a new CA folder: encrypted CA key (0600), self-signed CA certificate, empty CRL, audit log',
      )
      .requiredOption('--dir <dir>', 'CA folder to create (keep it offline)')
      .option('--name <name>', 'CA common name', 'govbank-bridge CA')
      .option('--days <n>', 'validity in days', days, 3650)
      .option(
        '--alg <alg>',
        'CA key algorithm: ed25519, p256, or sm2 (certificates and CRLs signed SM2-with-SM3, signer id 1234567812345678)',
        caAlgorithm,
        'ed25519' as SigningAlgorithm,
      ),
  ).action(
    async (o: { dir: string; name: string; days: number; alg: SigningAlgorithm } & PassphraseFlags) => {
      const result = await initCa({
        dir: resolve(o.dir),
        passphrase: caPassphrase(o),
        name: o.name,
        days: o.days,
        algorithm: o.alg,
      });
      print(
        `CA created: ${result.subject}, key ${result.keyId}, valid until ${result.notAfter.toISOString()}`,
      );
      print(`Certificate: ${result.certFile} (copy it to every node's trust folder)`);
    },
  );

  withNodePassphrase(
    withCaPassphrase(
      program
        .command('issue')
        .description(
          "generate a node's signing (Ed25519) and encryption (X25519) keys and certificates, or with --token-label P-256 keys inside a PKCS#11 token; writes KEYS_DIR/trust-export/ for the peer",
        )
        .requiredOption('--ca <dir>', 'CA folder')
        .addOption(new Option('--role <role>', 'node role').choices(['inner', 'outer']).makeOptionMandatory())
        .requiredOption('--name <name>', 'node name (certificate CN), e.g. county-data-office or bank-a')
        .requiredOption('--out <dir>', 'node keys folder to create')
        .option('--days <n>', 'validity in days', days, 365)
        .option(
          '--sign-alg <alg>',
          'signing key algorithm: ed25519 or p256',
          signAlgorithm,
          'ed25519' as SigningAlgorithm,
        )
        .addOption(
          new Option(
            '--suite <suite>',
            'algorithm suite: intl (Ed25519 or P-256, X25519) or sm (national: SM2 signing and encryption keys)',
          )
            .choices(['intl', 'sm', 'intl-v1', 'sm-v1'])
            .default('intl'),
        )
        .option(
          '--token-label <label>',
          'generate both key pairs (P-256) inside this PKCS#11 token instead of key files; writes token.yaml',
        )
        .option('--token-module <path>', 'PKCS#11 module of the token', '/usr/lib/softhsm/libsofthsm2.so')
        .option('--pin-file <file>', 'file (mode 0600) holding the token user PIN')
        .option('--pin-env <var>', 'environment variable holding the token user PIN'),
    ),
  ).action(
    async (
      o: {
        ca: string;
        role: NodeRole;
        name: string;
        out: string;
        days: number;
        signAlg: SigningAlgorithm;
        suite: string;
        tokenLabel?: string;
        tokenModule: string;
        pinFile?: string;
        pinEnv?: string;
      } & PassphraseFlags,
    ) => {
      const national = o.suite === 'sm' || o.suite === 'sm-v1';
      if (national && o.tokenLabel !== undefined) {
        throw new Error('--suite sm keys are key files: PKCS#11 tokens (SoftHSM2) hold no SM2 keys here');
      }
      if (o.tokenLabel !== undefined) {
        // Loaded only for token issuance, so the native PKCS#11 binding is not needed otherwise.
        const { issueTokenNodeKeys } = await import('./token-issue.js');
        const result = await issueTokenNodeKeys({
          caDir: resolve(o.ca),
          caPassphrase: caPassphrase(o),
          role: o.role,
          name: o.name,
          outDir: resolve(o.out),
          days: o.days,
          token: {
            module: o.tokenModule,
            label: o.tokenLabel,
            ...(o.pinFile !== undefined ? { pinFile: resolve(o.pinFile) } : {}),
            ...(o.pinEnv !== undefined ? { pinEnv: o.pinEnv } : {}),
          },
        });
        print(
          `Issued ${o.name} (${o.role}) in token "${o.tokenLabel}": sign key ${result.signCertificate.keyId}, enc key ${result.encCertificate.keyId} (P-256, not extractable)`,
        );
        print(`Valid until ${result.signCertificate.notAfter.toISOString()}`);
        print(
          `Hand ${result.exportDir} to the peer: bridge-keys import-cert --trust PEER_TRUST_DIR ${result.exportDir}/*.pem`,
        );
        return;
      }
      if (o.pinFile !== undefined || o.pinEnv !== undefined) {
        throw new Error('--pin-file / --pin-env need --token-label');
      }
      const result = await issueNodeKeys({
        caDir: resolve(o.ca),
        caPassphrase: caPassphrase(o),
        role: o.role,
        name: o.name,
        outDir: resolve(o.out),
        passphrase: nodePassphrase(o),
        days: o.days,
        ...(national ? { suite: 'sm-v1' as const } : { signAlgorithm: o.signAlg }),
      });
      print(
        `Issued ${o.name} (${o.role}${national ? ', suite sm-v1: SM2 keys' : ''}): sign key ${result.signCertificate.keyId}, enc key ${result.encCertificate.keyId}`,
      );
      print(`Valid until ${result.signCertificate.notAfter.toISOString()}`);
      print(
        `Hand ${result.exportDir} to the peer: bridge-keys import-cert --trust PEER_TRUST_DIR ${result.exportDir}/*.pem`,
      );
    },
  );

  program
    .command('import-cert')
    .description('copy peer certificates into TRUST_DIR/peers after checking they chain to the trusted CA')
    .requiredOption('--trust <dir>', 'trust folder')
    .option('--ca-cert <file>', 'install this CA certificate as the trust anchor if the folder has none')
    .argument('<certs...>', 'certificate files (a copy of the trusted CA certificate among them is skipped)')
    .action(async (certs: string[], o: { trust: string; caCert?: string }) => {
      const imported = await importCertificates({
        trustDir: resolve(o.trust),
        files: certs.map((c) => resolve(c)),
        ...(o.caCert ? { caCertFile: resolve(o.caCert) } : {}),
      });
      for (const c of imported) print(`imported ${c.name} ${c.role} ${c.usage} key ${c.keyId} -> ${c.file}`);
      if (imported.length === 0) print('nothing imported');
    });

  program
    .command('import-crl')
    .description('install a CRL into a trust folder (checked against the trusted CA; never goes backwards)')
    .requiredOption('--trust <dir>', 'trust folder')
    .argument('<crl>', 'CRL file from `bridge-keys crl`')
    .action(async (crl: string, o: { trust: string }) => {
      const result = await importCrl({ trustDir: resolve(o.trust), crlFile: resolve(crl) });
      print(`CRL installed: ${result.revoked} revoked certificate(s)`);
    });

  program
    .command('export-cert')
    .description("copy a node's current certificates (and the CA certificate) into a folder for its peer")
    .requiredOption('--keys <dir>', 'node keys folder')
    .requiredOption('--out <dir>', 'output folder')
    .action((o: { keys: string; out: string }) => {
      for (const file of exportCertificates({ keysDir: resolve(o.keys), outDir: resolve(o.out) }))
        print(file);
    });

  program
    .command('list')
    .description(
      'list certificates issued by a CA, or trusted in a trust folder; warns about those expiring soon',
    )
    .option('--ca <dir>', 'CA folder')
    .option('--trust <dir>', 'trust folder')
    .option('--warn-days <n>', 'warn about certificates expiring within this many days', days, 30)
    .option('--json', 'print JSON')
    .action(async (o: { ca?: string; trust?: string; warnDays: number; json?: boolean }) => {
      if (!o.ca === !o.trust) throw new Error('Give exactly one of --ca DIR or --trust DIR');
      const rows = await listCertificates({
        ...(o.ca ? { caDir: resolve(o.ca) } : {}),
        ...(o.trust ? { trustDir: resolve(o.trust) } : {}),
        warnDays: o.warnDays,
      });
      printListing(rows, o.json === true);
    });

  program
    .command('inspect')
    .description(
      'print a bundle header and, with --trust, the signer certificate, its chain to the trusted CA, revocation, ' +
        'bundle validity and a verdict on the header (nothing is decrypted); exit status 3 when the verdict is negative',
    )
    .argument('<bundle>', 'bundle file')
    .option('--trust <dir>', 'trust folder to verify the sender against')
    .addOption(
      new Option('--expect-role <role>', 'require the sender to have this role').choices(['inner', 'outer']),
    )
    .option(
      '--extract <dir>',
      'write header.json, header.preimage, header.sig, signer and CA certificates (and crl.pem) for an openssl check (docs/key-rotation.md, 5)',
    )
    .option('--json', 'print JSON')
    .action(
      async (
        bundle: string,
        o: { trust?: string; expectRole?: NodeRole; extract?: string; json?: boolean },
      ) => {
        if (o.extract && !o.trust)
          throw new Error('--extract needs --trust, to know the signer certificate and the CA');
        const trust = o.trust ? await loadTrustStore(resolve(o.trust)) : undefined;
        const now = new Date();
        const result = await inspectBundle({
          path: resolve(bundle),
          now,
          ...(trust ? { trust } : {}),
          ...(o.expectRole ? { expectSenderRole: o.expectRole } : {}),
        });
        if (o.json) print(JSON.stringify(result, null, 2));
        else for (const line of describeInspection(result)) print(line);
        if (o.extract && trust) {
          const files = await extractBundleEvidence({
            path: resolve(bundle),
            trust,
            outDir: resolve(o.extract),
            now,
          });
          process.stderr.write(
            `extracted ${files.length} files to ${resolve(o.extract)} (see docs/key-rotation.md, 5)\n`,
          );
        }
        if (trust && !result.verdict.ok) process.exitCode = 3;
      },
    );

  withCaPassphrase(
    program
      .command('revoke')
      .description(
        'revoke a certificate and re-sign CA_DIR/crl.pem; distribute it with `bridge-keys crl` / import-crl',
      )
      .requiredOption('--ca <dir>', 'CA folder')
      .option('--serial <hex>', 'serial number of the certificate to revoke')
      .option('--cert <file>', 'certificate file to revoke')
      .addOption(
        new Option('--reason <reason>', 'revocation reason')
          .choices(Object.keys(x509.X509CrlReason).filter((k) => Number.isNaN(Number(k))))
          .default('unspecified'),
      ),
  ).action(
    async (
      o: {
        ca: string;
        serial?: string;
        cert?: string;
        reason: keyof typeof x509.X509CrlReason;
      } & PassphraseFlags,
    ) => {
      if (!o.serial === !o.cert) throw new Error('Give exactly one of --serial HEX or --cert FILE');
      const result = await revokeCertificate({
        caDir: resolve(o.ca),
        caPassphrase: caPassphrase(o),
        ...(o.serial ? { serial: o.serial } : {}),
        ...(o.cert ? { certFile: resolve(o.cert) } : {}),
        reason: o.reason,
      });
      print(`revoked serial ${result.serial}; CRL updated: ${result.crlFile}`);
    },
  );

  withCaPassphrase(
    program
      .command('crl')
      .description('write a freshly signed CRL for distribution to the nodes')
      .requiredOption('--ca <dir>', 'CA folder')
      .requiredOption('--out <file>', 'CRL file to write')
      .option('--days <n>', 'days until nextUpdate', days, 30),
  ).action(async (o: { ca: string; out: string; days: number } & PassphraseFlags) => {
    const result = await createCrl({
      caDir: resolve(o.ca),
      caPassphrase: caPassphrase(o),
      out: resolve(o.out),
      days: o.days,
    });
    print(`CRL written: ${result.file} (${result.revoked} revoked)`);
  });

  withNodePassphrase(
    withCaPassphrase(
      program
        .command('rotate')
        .description(
          'issue a new encryption key and certificate for a node; the old key is kept so bundles in flight still open',
        )
        .requiredOption('--ca <dir>', 'CA folder')
        .requiredOption('--keys <dir>', 'node keys folder')
        .option('--name <name>', 'node name, checked against the keys folder')
        .option('--days <n>', 'validity in days', days, 365),
    ),
  ).action(async (o: { ca: string; keys: string; name?: string; days: number } & PassphraseFlags) => {
    const result = await rotateEncryptionKey({
      caDir: resolve(o.ca),
      caPassphrase: caPassphrase(o),
      keysDir: resolve(o.keys),
      // A token keys folder has no key files to decrypt: its keys rotate inside the token.
      passphrase: existsSync(join(resolve(o.keys), TOKEN_CONFIG_FILE)) ? '' : nodePassphrase(o),
      days: o.days,
      ...(o.name ? { name: o.name } : {}),
    });
    print(`new encryption key ${result.encCertificate.keyId}; previous ${result.previousKeyId} kept`);
    print(
      `Announce ${join(result.exportDir, `${result.encCertificate.name}-enc.cert.pem`)} to the peer before relying on it`,
    );
  });

  const audit = program.command('audit').description('the hash-chained audit log of key events');
  audit
    .command('verify')
    .description(
      'check the audit log chain; prints the head hash to compare with the one recorded last time, ' +
        'or BROKEN and each edited, removed or reordered entry by line (exit status 4)',
    )
    .option('--ca <dir>', 'CA folder (CA_DIR/audit.log)')
    .option('--trust <dir>', 'trust folder (TRUST_DIR/audit.log)')
    .option('--file <file>', 'an audit log file')
    .action((o: { ca?: string; trust?: string; file?: string }) => {
      const file =
        o.file ?? (o.ca ? join(o.ca, AUDIT_FILE) : o.trust ? join(o.trust, AUDIT_FILE) : undefined);
      if (!file) throw new Error('Give --ca DIR, --trust DIR or --file FILE');
      const result = verifyAuditLog(resolve(file));
      print(`${result.ok ? 'OK' : 'BROKEN'}: ${result.entries} entries, head ${result.head}`);
      for (const p of result.problems) print(`  - ${p}`);
      if (!result.ok) process.exitCode = 4;
    });

  return program;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (error) {
    process.stderr.write(`bridge-keys: ${describeError(error)}\n`);
    process.exitCode = 1;
  }
}

await main();
