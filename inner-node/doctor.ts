// `inner-node doctor` (issue 8): every check an operator would otherwise do by hand, each finding
// naming what it looked at and what to do. It opens no context (a node that cannot start is exactly
// when the doctor is needed): each check loads only what it needs, and a failed check does not stop
// the others. Exit code 0 when all is well, 1 with warnings, 2 with failures.
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  loadIdentity,
  loadTrustStore,
  recipientCertificates,
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
  probe,
  type Finding,
} from '../shared/doctor.js';
import { ConfigError, describeError } from '../shared/errors.js';
import { readPassphrase } from '../shared/secrets.js';
import { auditLogFiles, loadInnerConfig, type InnerSettings } from './config.js';
import { openSource } from './context.js';
import { nodeCertificates } from './observe.js';

export interface DoctorOptions {
  now?: Date;
  /** Warn when a certificate expires within this many days (default 45). */
  warnDays?: number;
}

function configFinding(path: string): { settings?: InnerSettings; finding: Finding } {
  try {
    const settings = loadInnerConfig(path);
    const c = settings.config;
    return {
      settings,
      finding: {
        level: 'ok',
        check: 'configuration',
        detail: `${settings.path}: valid (${Object.keys(c.datasets).length} dataset(s), ${Object.keys(c.banks).length} bank(s))`,
        fix: '',
      },
    };
  } catch (error) {
    return {
      finding: {
        level: 'fail',
        check: 'configuration',
        detail: describeError(error),
        fix: `Correct the configuration (inner-node check --config ${path} lists every problem with its line)`,
      },
    };
  }
}

function folderFindings(settings: InnerSettings): Finding[] {
  const f = settings.folders;
  return [
    ...checkFolder(f.outbox, { writable: true, role: 'outbox' }),
    // Cursors (resident ID numbers in keys) and the sent bundles; rejects hold raw source values.
    ...checkFolder(f.state, { writable: true, forbiddenBits: 0o007, role: 'state' }),
    ...checkFolder(f.rejects, { writable: true, forbiddenBits: 0o007, role: 'rejects' }),
    ...checkFolder(f.keys, { writable: false, forbiddenBits: 0o077, role: 'keys' }),
    ...checkFolder(f.trust, { writable: false, role: 'trust' }),
  ];
}

async function keyAndCertificateFindings(
  settings: InnerSettings,
  options: DoctorOptions,
): Promise<Finding[]> {
  const now = options.now ?? new Date();
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
      return `${settings.folders.keys}: the keys open (signing key ${identity.signKeyId})`;
    },
    'Check the passphrase (keys.passphrase_file or the environment variable) and the keys folder',
  );
  const trusted = await probe(
    'trust',
    async () => {
      trust = await loadTrustStore(settings.folders.trust);
      const store = trust;
      // Every authorised bank needs a valid encryption certificate, or its exports stop.
      const missing = Object.keys(settings.config.banks).filter(
        (bank) => recipientCertificates(store, bank, now).length === 0,
      );
      if (missing.length > 0) {
        throw new ConfigError(
          'CONFIG_INVALID',
          `no valid encryption certificate in the trust folder for ${missing.join(', ')}`,
          {
            hint: `Import the bank's current certificate: bridge-keys import-cert --trust ${settings.folders.trust} CERT.pem`,
          },
        );
      }
      return `${settings.folders.trust}: CA ${store.caSubject}, ${store.peers.length} peer certificate(s)`;
    },
    "Install the bridge CA certificate and each bank's certificates in the trust folder",
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

/** Each source opened, and the columns of each dataset's table listed (what an export reads first). */
async function sourceFindings(settings: InnerSettings): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const name of Object.keys(settings.config.sources).sort()) {
    const datasets = Object.entries(settings.config.datasets).filter(([, d]) => d.source === name);
    let reader;
    try {
      reader = openSource(settings, name);
    } catch (error) {
      findings.push({
        level: 'fail',
        check: `source ${name}`,
        detail: describeError(error),
        fix: `Correct sources.${name} in ${settings.path}`,
      });
      continue;
    }
    if (datasets.length === 0) {
      findings.push({
        level: 'warn',
        check: `source ${name}`,
        detail: `${reader.description}: no dataset reads this source`,
        fix: `Remove sources.${name} from ${settings.path}, or point a dataset at it`,
      });
    }
    try {
      for (const [dataset, spec] of datasets) {
        const source = reader;
        findings.push(
          await probe(
            `source ${name}`,
            async () => {
              const columns = await source.describe(spec.table ?? '');
              if (columns.length === 0) throw new Error(`${spec.table ?? 'the file'} has no columns`);
              return `${source.description}: dataset ${dataset} reads ${spec.table ?? 'the file'} (${columns.length} column(s): ${columns.map((c) => c.name).join(', ')})`;
            },
            `Check that the source is reachable from this machine and that its user may read ${spec.table ?? 'the file'} (sources.${name}; the password comes from password_file or password_env)`,
          ),
        );
      }
    } finally {
      await reader.close().catch(() => undefined);
    }
  }
  return findings;
}

/** Runs every check for the node configured in `configPath`. */
export async function innerDoctor(configPath: string, options: DoctorOptions = {}): Promise<Finding[]> {
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
      role: 'inner',
    }),
  );
  findings.push(...(await keyAndCertificateFindings(settings, options)));
  const f = settings.folders;
  for (const dir of [f.state, f.outbox]) if (existsSync(dir)) findings.push(...checkFreeSpace(dir));
  findings.push(...(await sourceFindings(settings)));
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
            fix: 'Keep the file as evidence, tell the security officer, and restore the newest good backup of the log (docs/audit.md); the node refuses to export until then',
          },
    );
  }
  findings.push(
    ...checkClock({
      folders: [f.outbox, f.state].filter((d) => existsSync(d)),
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
