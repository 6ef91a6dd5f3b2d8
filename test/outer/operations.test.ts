// The outer node's operations commands on a real bridge (issue 8): export, ferry and import through
// the compiled commands, then `metrics --write` (promtool-checked, counters equal to `status --json`),
// `report --html` (drawn by headless Chromium), `doctor` on a healthy node and on broken ones, the
// daemon answering a loan application while writing its metrics file, and `backup` / `restore`
// (destroy, restore, resume: nothing lost, nothing applied twice).
import Database from 'better-sqlite3';
import { execFile, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { verifyAuditExport } from '../../crypto/index.js';
import { LendingStore } from '../../outer-node/lending/decisions-store.js';
import { loadModel } from '../../outer-node/lending/scorecard.js';
import { loadPolicy } from '../../outer-node/lending/policy.js';
import { findTool, testOutputDir } from '../ops/tools.js';
import { BIN, REPO, runCli, tableDigest, temporaryBridge } from '../support/bridge.js';
import { POLICY_FILE, recordApplicant, writeTestModel } from './lending-fixture.js';
import { waitFor } from './support.js';

const promtool = findTool('promtool', 'prometheus');
const chromium = findTool('chromium', 'chromium', ['/usr/lib/chromium']);
const execFileAsync = promisify(execFile);
/** An 18-character resident ID number standing alone (not inside a hex digest or key id). */
const FULL_RESIDENT_ID = /(?<![0-9A-Za-z])\d{17}[\dX](?![0-9A-Za-z])/;

/** Runs a compiled command and returns its exit code and output, whatever the exit code. */
async function runExit(
  bin: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [bin, ...args], {
      cwd: REPO,
      env: { ...process.env, BRIDGE_LOG_LEVEL: 'warn' },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Rewrites a YAML configuration (comments are not kept; fine for a test's copy). */
function editConfig(file: string, edit: (config: Record<string, unknown>) => void, out = file): string {
  const config = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(config);
  writeFileSync(out, stringify(config));
  return out;
}

/** name{labels} value lines of a metrics file, as objects. */
function samples(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  return text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((line) => {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m) throw new Error(`not a sample: ${line}`);
      const labels: Record<string, string> = {};
      for (const pair of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g))
        labels[pair[1] ?? ''] = pair[2] ?? '';
      return { name: m[1] ?? '', labels, value: Number(m[3]) };
    });
}

interface StatusJson {
  streams: { stream: string; bundlesApplied: number; rowsApplied: number; lagSeconds: number }[];
  quarantined: number;
}

describe('outer node operations on a real bridge', () => {
  let bridge: Awaited<ReturnType<typeof temporaryBridge>>;
  let bundles = 0;
  const outer = (...args: string[]): string[] => [...args, '--config', bridge.outerConfig];

  beforeAll(async () => {
    bridge = await temporaryBridge(400, 9);
    const exported = await runCli(BIN.inner, ['export', '--config', bridge.innerConfig]);
    bundles = [...exported.stdout.matchAll(/in (\d+) bundle\(s\)/g)].reduce((n, m) => n + Number(m[1]), 0);
    await runCli(BIN.ferry, [
      '--from',
      join(bridge.innerDir, 'outbox'),
      '--to',
      join(bridge.outerDir, 'inbox'),
    ]);
    // Something that is not a bundle, for the quarantine.
    writeFileSync(join(bridge.outerDir, 'inbox', 'notes.txt'), 'left here by someone\n');
    const imported = await runCli(BIN.outer, outer('import', '--settle', '0'));
    expect(imported.stdout).toMatch(new RegExp(`applied ${bundles} bundle\\(s\\)`));
    // Decisions for the report and the metrics: a model, the example policy, three applicants.
    const model = join(bridge.outerDir, 'model.json');
    writeTestModel(model);
    const store = new LendingStore(bridge.bankDb);
    try {
      for (const serial of [11, 12, 24]) {
        const { idNumber, consentId } = recordApplicant(bridge.bankDb, serial);
        store.submitApplication({ applicationId: `APP-${serial}`, idNumber, amountYuan: 20000, consentId });
      }
      store.answerPending({ model: loadModel(model), policy: loadPolicy(POLICY_FILE), bank: 'bank-a' });
    } finally {
      store.close();
    }
  }, 60_000);
  afterAll(() => bridge.cleanup());

  it('metrics --write: a valid exposition whose counters equal status --json on the same state', async () => {
    const file = join(bridge.outerDir, 'metrics', 'govbank-outer.prom');
    await runCli(BIN.outer, outer('metrics', '--write', file));
    const text = readFileSync(file, 'utf8');
    expect(statSync(file).mode & 0o777).toBe(0o644);
    if (promtool.path) {
      const check = spawnSync(promtool.path, ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect(`${check.stdout}${check.stderr}`, text).toBe('');
      expect(check.status).toBe(0);
    }
    const status = JSON.parse((await runCli(BIN.outer, outer('status', '--json'))).stdout) as StatusJson;
    const found = samples(text);
    const value = (name: string, labels: Record<string, string> = {}): number | undefined =>
      found.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
        ?.value;
    expect(status.streams.length).toBeGreaterThan(1);
    for (const s of status.streams) {
      expect(value('govbank_bundles_total', { stream: s.stream, direction: 'applied' })).toBe(
        s.bundlesApplied,
      );
      expect(value('govbank_rows_total', { stream: s.stream })).toBe(s.rowsApplied);
      expect(value('govbank_lag_seconds', { stream: s.stream })).toBe(s.lagSeconds);
      expect(value('govbank_stream_gap_sequences', { stream: s.stream })).toBe(0);
    }
    expect(status.streams.reduce((n, s) => n + s.bundlesApplied, 0)).toBe(bundles);
    expect(value('govbank_quarantine_files', { code: 'INBOX_NOT_A_BUNDLE' })).toBe(status.quarantined);
    expect(status.quarantined).toBe(1);
    expect(value('govbank_retrying_tasks')).toBe(0);
    const decisions = found.filter((s) => s.name === 'govbank_decisions_total');
    expect(decisions.reduce((n, s) => n + s.value, 0)).toBe(3);
    // The county's signing certificate and this bank's own, with seconds to expiry.
    expect(value('govbank_certificate_expiry_seconds', { name: 'county', usage: 'sign' })).toBeGreaterThan(
      86400,
    );
    expect(value('govbank_certificate_expiry_seconds', { name: 'bank-a', usage: 'sign' })).toBeGreaterThan(
      86400,
    );
    expect(found.every((s) => s.labels['node'] === 'bank-a')).toBe(true);
  });

  it('report --html: built from the state, ledger, quarantine, certificates and decisions; Chromium draws it', async () => {
    const out = testOutputDir('outer-report');
    const page = join(out, 'report.html');
    const from = new Date(Date.now() - 6 * 3_600_000).toISOString();
    await runCli(BIN.outer, outer('report', '--html', page, '--from', from));
    const html = readFileSync(page, 'utf8');
    expect(html).toContain('bank-a');
    expect(html).not.toMatch(/\s(src|href)=/i);
    for (const chart of ['throughput', 'keys', 'quarantine', 'decisions', 'scores'])
      expect(html, chart).toMatch(new RegExp(`<svg data-chart="${chart}"`));
    expect(html).toContain('INBOX_NOT_A_BUNDLE');
    // No full resident ID number anywhere in the page.
    expect(html).not.toMatch(FULL_RESIDENT_ID);
    if (!chromium.path) return;
    const profile = join(bridge.dir, 'chromium-profile');
    const flags = [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
      '--hide-scrollbars',
      `--user-data-dir=${profile}`,
    ];
    const dump = spawnSync(chromium.path, [...flags, '--dump-dom', `file://${page}`], {
      encoding: 'utf8',
      timeout: 90_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(dump.status, dump.stderr).toBe(0);
    let charts = 0;
    for (const match of dump.stdout.matchAll(/<svg\b([^>]*)>([\s\S]*?)<\/svg>/g)) {
      const name = /data-chart="([^"]+)"/.exec(match[1] ?? '')?.[1];
      if (!name) continue;
      const marks = (match[2] ?? '').match(/data-mark="/g)?.length ?? 0;
      const drawn = Number(/data-drawn="(\d+)"/.exec(match[1] ?? '')?.[1] ?? -1);
      expect(marks, `${name} has marks`).toBeGreaterThan(0);
      expect(drawn, `${name} drew in the browser`).toBe(marks);
      charts++;
    }
    expect(charts).toBeGreaterThanOrEqual(5);
    const shot = join(out, 'report.png');
    rmSync(shot, { force: true });
    const screenshot = spawnSync(
      chromium.path,
      [...flags, `--screenshot=${shot}`, '--window-size=1280,2000', `file://${page}`],
      { encoding: 'utf8', timeout: 90_000 },
    );
    expect(screenshot.status, screenshot.stderr).toBe(0);
    expect(statSync(shot).size).toBeGreaterThan(30_000);
  }, 60_000);

  it('doctor: a healthy node passes (exit 0); a readable key, a missing folder, an unreachable database fail (exit 2)', async () => {
    const healthy = await runExit(BIN.outer, outer('doctor'));
    expect(healthy.stdout, healthy.stdout).not.toContain('FAIL');
    expect(healthy.code, healthy.stdout).toBe(0);
    expect(healthy.stdout).toMatch(/ok {4}bank database: SQLite .*connected/);
    expect(healthy.stdout).toMatch(/ok {4}claim by rename/);

    const key = join(bridge.outerDir, 'keys', 'enc.key.pem');
    chmodSync(key, 0o644);
    const quarantine = join(bridge.outerDir, 'quarantine');
    renameSync(quarantine, `${quarantine}.away`);
    try {
      const broken = await runExit(BIN.outer, outer('doctor'));
      expect(broken.code).toBe(2);
      expect(broken.stdout).toContain(`FAIL  key file: ${key} has mode 0644`);
      expect(broken.stdout).toContain(`fix: chmod 600 ${key}`);
      expect(broken.stdout).toMatch(/FAIL {2}quarantine folder: .*quarantine: ENOENT\n\s+fix: install -d/);
    } finally {
      chmodSync(key, 0o600);
      renameSync(`${quarantine}.away`, quarantine);
    }

    const unreachable = editConfig(
      bridge.outerConfig,
      (c) => {
        c['target'] = { kind: 'postgres', url: 'postgresql://bridge@127.0.0.1:1/bank' };
      },
      join(bridge.outerDir, 'unreachable.yaml'),
    );
    const down = await runExit(BIN.outer, ['doctor', '--config', unreachable]);
    expect(down.code).toBe(2);
    expect(down.stdout).toMatch(/FAIL {2}bank database: Cannot connect to PostgreSQL 127\.0\.0\.1:1/);
    expect(down.stdout).toMatch(/ {6}fix: Check that the server runs/);
    expect(down.stdout).toContain('ok    key file'); // the other checks still ran
  }, 60_000);

  it('run answers an application inserted into lend_applications and keeps the metrics file current', async () => {
    const model = join(bridge.outerDir, 'model.json');
    const metricsFile = join(bridge.outerDir, 'metrics', 'daemon.prom');
    const config = editConfig(
      bridge.outerConfig,
      (c) => {
        c['lending'] = { model: 'model.json', policy: POLICY_FILE, interval: '100ms' };
        c['metrics'] = { file: 'metrics/daemon.prom', interval: '200ms' };
      },
      join(bridge.outerDir, 'lending.yaml'),
    );
    expect(existsSync(model)).toBe(true);
    const daemon = spawn(process.execPath, [BIN.outer, 'run', '--config', config], {
      cwd: REPO,
      env: { ...process.env, BRIDGE_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    daemon.stdout.on('data', (c: Buffer) => (log += c.toString()));
    daemon.stderr.on('data', (c: Buffer) => (log += c.toString()));
    const exited = new Promise<number | null>((resolve) => daemon.on('exit', (code) => resolve(code)));
    try {
      await waitFor('the metrics file', () => existsSync(metricsFile), 15_000);
      // The bank's own system inserts an application row, as it would with SQL.
      const { idNumber, consentId } = recordApplicant(bridge.bankDb, 37);
      const db = new Database(bridge.bankDb);
      try {
        db.prepare(
          `INSERT INTO lend_applications (application_id, id_number, amount_yuan, consent_id, submitted_at, status)
           VALUES ('APP-BANK-1', ?, 30000, ?, ?, 'pending')`,
        ).run(idNumber, consentId, new Date().toISOString());
      } finally {
        db.close();
      }
      const decision = ():
        { decision: string; portrait_digest: string | null; model_version: string } | undefined => {
        const read = new Database(bridge.bankDb, { readonly: true });
        try {
          return read
            .prepare(
              "SELECT decision, portrait_digest, model_version FROM lend_decisions WHERE application_id = 'APP-BANK-1'",
            )
            .get() as { decision: string; portrait_digest: string | null; model_version: string } | undefined;
        } finally {
          read.close();
        }
      };
      await waitFor('the decision', () => decision() !== undefined, 15_000, 100);
      const row = decision();
      expect(['approve', 'refer', 'decline']).toContain(row?.decision);
      expect(row?.portrait_digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(row?.model_version).toBe(loadModel(model).version);
      // The metrics file follows: four decisions now.
      await waitFor(
        'the decision in the metrics file',
        () =>
          samples(readFileSync(metricsFile, 'utf8'))
            .filter((s) => s.name === 'govbank_decisions_total')
            .reduce((n, s) => n + s.value, 0) === 4,
        10_000,
      );
      expect(log).toContain('application decided');
      expect(log).not.toContain(idNumber); // never a full resident ID in the log
    } finally {
      daemon.kill('SIGTERM');
      expect(await exited, log).toBe(0);
    }
  }, 60_000);

  it('audit: every bundle applied, the quarantine and the decision are on the chain; edits, removals and reorders are caught', async () => {
    const log = join(bridge.outerDir, 'state', 'audit.log');
    const original = readFileSync(log, 'utf8');
    const entries = original
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; event: string; details: Record<string, unknown> });
    expect(entries.filter((e) => e.event === 'bundle-applied')).toHaveLength(bundles);
    const quarantined = entries.filter((e) => e.event === 'bundle-quarantined');
    expect(quarantined.map((e) => e.details['code'])).toEqual(['INBOX_NOT_A_BUNDLE']);
    const applied = entries.find((e) => e.event === 'bundle-applied');
    expect(applied?.details['signer']).toBe('county');
    expect(applied?.details['digest']).toMatch(/^sha256:[0-9a-f]{64}$/);
    const decision = entries.find((e) => e.event === 'decision');
    expect(decision?.details).toMatchObject({ applicationId: 'APP-BANK-1', consentId: 'C-37' });
    expect(decision?.details['idNumber']).toMatch(/^\d{6}\*{8}[\dX]{4}$/);
    expect(original).not.toMatch(FULL_RESIDENT_ID); // never a full resident ID number

    const ok = await runExit(BIN.outer, outer('audit', 'verify'));
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(
      new RegExp(`^OK: .*: ${entries.length} entries, head ${entries.length}:[0-9a-f]{64}`),
    );
    const head = /head (\d+:[0-9a-f]{64})/.exec(ok.stdout)?.[1] ?? '';

    const excerpt = join(bridge.dir, 'audit-excerpt.json');
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const to = new Date(Date.now() + 60_000).toISOString();
    const exported = await runExit(
      BIN.outer,
      outer('audit', 'export', '--from', from, '--to', to, '--out', excerpt),
    );
    expect(exported.code, exported.stderr).toBe(0);
    const doc = JSON.parse(readFileSync(excerpt, 'utf8')) as Parameters<typeof verifyAuditExport>[0];
    expect(doc.entries).toHaveLength(entries.length);
    expect(verifyAuditExport(doc)).toEqual([]);

    const lines = original.trimEnd().split('\n');
    const tampered = (changed: string[]): void => writeFileSync(log, `${changed.join('\n')}\n`);
    const cases: [string, string[], RegExp][] = [
      [
        'edited',
        lines.map((l, i) => (i === 1 ? l.replace(/"rows":(\d+)/, '"rows":1$1') : l)),
        /line 2: content does not match its hash/,
      ],
      ['removed', lines.filter((_, i) => i !== 2), /line 3: sequence 4, expected 3/],
      [
        'reordered',
        [lines[0] ?? '', lines[2] ?? '', lines[1] ?? '', ...lines.slice(3)],
        /line 2: sequence 3, expected 2/,
      ],
    ];
    try {
      for (const [what, changed, problem] of cases) {
        tampered(changed);
        const broken = await runExit(BIN.outer, outer('audit', 'verify'));
        expect(broken.code, what).toBe(2);
        expect(broken.stdout, what).toMatch(/^BROKEN: /);
        expect(broken.stdout, what).toMatch(problem);
      }
      // The newest entry cut off: only the recorded head finds it.
      tampered(lines.slice(0, -1));
      expect((await runExit(BIN.outer, outer('audit', 'verify'))).code).toBe(0);
      const cut = await runExit(BIN.outer, outer('audit', 'verify', '--head', head));
      expect(cut.code).toBe(2);
      // A node refuses to import onto a broken log.
      tampered(cases[0]?.[1] ?? []);
      const refused = await runExit(BIN.outer, outer('import', '--settle', '0'));
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain('KEY_AUDIT_BROKEN');
    } finally {
      writeFileSync(log, original);
    }
    expect((await runExit(BIN.outer, outer('audit', 'verify', '--head', head))).code).toBe(0);
  }, 60_000);

  it('backup, destroy, restore, resume: nothing lost, nothing applied twice', async () => {
    const backupDir = join(bridge.dir, 'backups', 'first');
    const residents = tableDigest(bridge.bankDb, 'GOV_RESIDENT', 'ZJHM');
    const ledger = tableDigest(bridge.bankDb, 'bridge_ledger', 'bundle_id');
    const decisions = tableDigest(bridge.bankDb, 'lend_decisions', 'application_id');
    const taken = await runCli(BIN.outer, outer('backup', backupDir));
    expect(taken.stdout).toMatch(
      /state database, bank database, \d+ unapplied bundle\(s\), [1-9]\d* quarantine file/,
    );
    // A second backup into the same folder is refused.
    expect((await runExit(BIN.outer, outer('backup', backupDir))).stderr).toContain('BACKUP_EXISTS');

    // Restore refuses while the node runs (it holds its state database open).
    const holder = new Database(join(bridge.outerDir, 'state', 'outer-state.db'));
    try {
      holder.prepare('SELECT 1').get();
      const refused = await runExit(BIN.outer, outer('restore', backupDir, '--force'));
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain('RESTORE_TARGET_IN_USE');
    } finally {
      holder.close();
    }

    // The machine is lost: state, bank database, quarantine.
    for (const gone of ['state', 'quarantine', 'bank.db', 'bank.db-wal', 'bank.db-shm'])
      rmSync(join(bridge.outerDir, gone), { recursive: true, force: true });
    const restored = await runCli(BIN.outer, outer('restore', backupDir));
    expect(restored.stdout).toContain('outer-state.db');
    expect(tableDigest(bridge.bankDb, 'GOV_RESIDENT', 'ZJHM')).toEqual(residents);
    expect(tableDigest(bridge.bankDb, 'bridge_ledger', 'bundle_id')).toEqual(ledger);
    expect(tableDigest(bridge.bankDb, 'lend_decisions', 'application_id')).toEqual(decisions);
    expect(readdirSync(join(bridge.outerDir, 'quarantine')).some((f) => f.startsWith('notes.txt'))).toBe(
      true,
    );

    // Resume: the ferry delivers every bundle again; all are duplicates, nothing changes.
    const sent = join(bridge.innerDir, 'state', 'sent');
    const files = readdirSync(sent).filter((f) => f.endsWith('.gbb'));
    for (const name of files) copyFileSync(join(sent, name), join(bridge.outerDir, 'inbox', name));
    const again = await runCli(BIN.outer, outer('import', '--settle', '0'));
    expect(again.stdout).toMatch(new RegExp(`applied 0 bundle\\(s\\), 0 rows.* ${files.length} duplicate`));
    expect(tableDigest(bridge.bankDb, 'GOV_RESIDENT', 'ZJHM')).toEqual(residents);
    expect(tableDigest(bridge.bankDb, 'bridge_ledger', 'bundle_id')).toEqual(ledger);
    const status = JSON.parse((await runCli(BIN.outer, outer('status', '--json'))).stdout) as StatusJson;
    expect(status.streams.reduce((n, s) => n + s.bundlesApplied, 0)).toBe(bundles);
  }, 60_000);
});
