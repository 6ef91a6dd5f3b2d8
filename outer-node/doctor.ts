// `outer-node doctor` (issue 8): every check an operator would otherwise do by hand, each finding
// naming what it looked at and what to do. It opens no context (a node that cannot start is exactly
// when the doctor is needed): each check loads only what it needs, and a failed check does not stop
// the others. Exit code 0 when all is well, 1 with warnings, 2 with failures.
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  loadIdentity,
  loadTrustStore,
  verifyAuditLog,
  type Identity,
  type TrustStore,
} from '../crypto/index.js';
import {
  checkCertificates,
  checkClock,
  checkFolder,
  checkFreeSpace,
  checkNodeKeyFiles,
  checkRenameBetween,
  probe,
  type Finding,
} from '../shared/doctor.js';
import { ConfigError, describeError } from '../shared/errors.js';
import { readPassphrase } from '../shared/secrets.js';
import { assertSchema, checkTargetSchema } from './bank-mapping.js';
import { auditLogFiles, lendingDatabase, loadOuterConfig, type OuterSettings } from './config.js';
import { openTarget } from './context.js';
import { loadPolicy } from './lending/policy.js';
import { loadModel } from './lending/scorecard.js';
import { nodeCertificates } from './observe.js';

export interface DoctorOptions {
  now?: Date;
  /** Warn when a certificate expires within this many days (default 45). */
  warnDays?: number;
}

function configFinding(path: string): { settings?: OuterSettings; finding: Finding } {
  try {
    const settings = loadOuterConfig(path);
    return {
      settings,
      finding: {
        level: 'ok',
        check: 'configuration',
        detail: `${settings.path}: valid (${Object.keys(settings.config.datasets).length} dataset(s))`,
        fix: '',
      },
    };
  } catch (error) {
    return {
      finding: {
        level: 'fail',
        check: 'configuration',
        detail: describeError(error),
        fix: `Correct the configuration (outer-node check --config ${path} lists every problem with its line)`,
      },
    };
  }
}

function folderFindings(settings: OuterSettings): Finding[] {
  const f = settings.folders;
  return [
    ...checkFolder(f.inbox, { writable: true, role: 'inbox' }),
    ...checkFolder(f.outbox, { writable: true, role: 'outbox' }),
    // Claimed bundles and the task table; rejects hold (masked) personal data: not for others.
    ...checkFolder(f.state, { writable: true, forbiddenBits: 0o007, role: 'state' }),
    ...checkFolder(f.rejects, { writable: true, forbiddenBits: 0o007, role: 'rejects' }),
    ...checkFolder(f.quarantine, { writable: true, forbiddenBits: 0o007, role: 'quarantine' }),
    ...checkFolder(f.keys, { writable: false, forbiddenBits: 0o077, role: 'keys' }),
    ...checkFolder(f.trust, { writable: false, role: 'trust' }),
  ];
}

async function keyAndCertificateFindings(
  settings: OuterSettings,
  options: DoctorOptions,
): Promise<Finding[]> {
  let identity: Identity | undefined;
  let trust: TrustStore | undefined;
  const keys = await probe(
    'keys',
    async () => {
      const passphrase = readPassphrase(
        {
          file:
            settings.config.keys.passphrase_file && settings.resolve(settings.config.keys.passphrase_file),
          env: settings.config.keys.passphrase_env,
        },
        `node ${settings.config.node.name}'s keys`,
      );
      identity = await loadIdentity({ keysDir: settings.folders.keys, passphrase });
      return `${settings.folders.keys}: the keys open (signing key ${identity.signKeyId}, ${identity.encKeyIds.length} decryption key(s))`;
    },
    'Check the passphrase (keys.passphrase_file or the environment variable) and the keys folder',
  );
  const trusted = await probe(
    'trust',
    async () => {
      trust = await loadTrustStore(settings.folders.trust);
      const senders = settings.config.senders.filter((s) => !trust?.peers.some((p) => p.name === s));
      if (senders.length > 0) {
        throw new ConfigError(
          'CONFIG_INVALID',
          `no certificate in the trust folder for ${senders.join(', ')}`,
          {
            hint: `Import the county's certificates: bridge-keys import-cert --trust ${settings.folders.trust} FILE`,
          },
        );
      }
      return `${settings.folders.trust}: CA ${trust.caSubject}, ${trust.peers.length} peer certificate(s)`;
    },
    'Install the bridge CA certificate and the county certificates in the trust folder',
  );
  const findings = [keys, trusted];
  for (const problem of trust?.problems ?? []) {
    findings.push({
      level: 'warn',
      check: 'trust',
      detail: `${problem.file}: ${problem.reason}`,
      fix: 'Remove the file or replace it with a certificate the bridge CA issued',
    });
  }
  if (identity && trust) {
    const now = options.now ?? new Date();
    findings.push(
      ...checkCertificates(
        nodeCertificates(identity, trust, now).map((c) => ({
          name: `${c.name} ${c.usage === 'sign' ? 'signing' : 'encryption'}`,
          notAfter: c.notAfter,
          notBefore: c.notBefore,
        })),
        { now, ...(options.warnDays !== undefined ? { warnDays: options.warnDays } : {}) },
      ),
    );
  }
  return findings;
}

/** Reachability (connect and read the ledger), privileges (a temporary table) and the mapping. */
async function databaseFindings(settings: OuterSettings): Promise<Finding[]> {
  const target = openTarget(settings);
  const fix =
    'Start the database or correct target in the configuration (host, port, database, user; the password comes from password_env)';
  try {
    const reach = await probe(
      'bank database',
      async () => {
        const ledger = await target.ledgerSummary();
        return `${target.description}: connected; the ledger holds ${ledger.reduce((n, l) => n + l.bundles, 0)} bundle(s) in ${ledger.length} stream(s)`;
      },
      fix,
    );
    if (reach.level !== 'ok') {
      // A missing ledger is not an unreachable database: say which.
      if (/bridge_ledger/.test(reach.detail)) {
        reach.fix = `Create the ledger and the mapped tables: outer-node schema apply --config ${settings.path}`;
      }
      return [reach];
    }
    const privileges = await probe(
      'database privileges',
      async () => {
        await target.exec('CREATE TEMPORARY TABLE bridge_doctor_probe (x INTEGER)');
        await target.exec('DROP TABLE bridge_doctor_probe');
        return `${target.description}: can create and drop a temporary table`;
      },
      "Grant the bridge's database user TEMPORARY (PostgreSQL) / CREATE TEMPORARY TABLES (MariaDB) and INSERT, UPDATE, DELETE on the mapped tables",
    );
    const schema = await probe(
      'bank schema',
      async () => {
        const check = await checkTargetSchema(settings, target);
        assertSchema(check, target.description);
        return `the mapping fits ${check.shapes.size} table(s)${check.warnings.length > 0 ? ` (${check.warnings.length} warning(s): outer-node schema check)` : ''}`;
      },
      `Run outer-node schema check --config ${settings.path} and fix each problem it lists`,
    );
    return [reach, privileges, schema];
  } finally {
    await target.close().catch(() => undefined);
  }
}

async function lendingFindings(settings: OuterSettings): Promise<Finding[]> {
  const { model, policy } = settings.config.lending;
  if (model === undefined || policy === undefined) return [];
  return [
    await probe(
      'lending model',
      () => `${loadModel(settings.resolve(model)).version}`,
      `Train a model with outer-node lend train, then point lending.model at it`,
    ),
    await probe(
      'lending policy',
      () => {
        const p = loadPolicy(settings.resolve(policy));
        return `${p.name}@${p.version}`;
      },
      'Correct the policy file (outer-node/lending/policy.example.yaml is a complete example)',
    ),
    await probe(
      'lending database',
      () => {
        const db = lendingDatabase(settings);
        if (db === undefined || !existsSync(dirname(db)))
          throw new Error(`no folder for ${db ?? 'lending.db'}`);
        return db;
      },
      'Set lending.db to a SQLite file in a folder the node can write',
    ),
  ];
}

/** Runs every check for the node configured in `configPath`. */
export async function outerDoctor(configPath: string, options: DoctorOptions = {}): Promise<Finding[]> {
  const { settings, finding } = configFinding(configPath);
  if (!settings) return [finding];
  const findings: Finding[] = [finding];
  findings.push(...folderFindings(settings));
  findings.push(
    ...checkNodeKeyFiles({
      keysDir: settings.folders.keys,
      passphraseFile:
        settings.config.keys.passphrase_file !== undefined
          ? settings.resolve(settings.config.keys.passphrase_file)
          : undefined,
      role: 'outer',
    }),
  );
  findings.push(...(await keyAndCertificateFindings(settings, options)));
  const f = settings.folders;
  if (existsSync(f.state)) findings.push(...checkFreeSpace(f.state));
  if (existsSync(f.inbox) && existsSync(f.state))
    findings.push(checkRenameBetween(f.inbox, f.state, 'claim by rename (inbox to state)'));
  findings.push(...(await databaseFindings(settings)));
  findings.push(...(await lendingFindings(settings)));
  const metricsFile = settings.config.metrics.file;
  if (metricsFile !== undefined) {
    findings.push(
      ...checkFolder(dirname(settings.resolve(metricsFile)), { writable: true, role: 'metrics' }).map((x) =>
        x.level === 'fail' && x.detail.includes('belongs to') ? { ...x, level: 'warn' as const } : x,
      ),
    );
  }
  for (const audit of auditLogFiles(settings)) {
    const chain = verifyAuditLog(audit);
    findings.push(
      chain.ok
        ? {
            level: 'ok',
            check: 'audit log',
            detail: `${audit}: ${chain.entries} entries, head ${chain.headSeq}:${chain.head}`,
            fix: '',
          }
        : {
            level: 'fail',
            check: 'audit log',
            detail: `${audit}: ${chain.problems.join('; ')}`,
            fix: 'Keep the file as evidence, tell the security officer, and restore the newest good backup of the log (docs/audit.md); the node refuses to import until then',
          },
    );
  }
  findings.push(
    ...checkClock({
      folders: [f.inbox, f.state, f.outbox].filter((d) => existsSync(d)),
      ...(options.now ? { now: options.now.getTime() } : {}),
    }),
  );
  return findings;
}

/** The CLI's exit code for findings: 0 ok, 1 warnings, 2 failures. */
export function doctorExitCode(findings: readonly Finding[]): number {
  if (findings.some((x) => x.level === 'fail')) return 2;
  return findings.some((x) => x.level === 'warn') ? 1 : 0;
}
