// The inner node's operations commands on a real bridge (issue 8): export, ferry and import through
// the compiled commands, then `metrics --write` (promtool-checked, counters equal to `status --json`),
// `report --html` (drawn by headless Chromium), `doctor` on a healthy node and on broken ones, the
// daemon writing its metrics and pid files, the audit log of bundles sent (edits, removals and
// reorders caught), and `backup` / `restore` (destroy the state, restore, add rows, export again:
// nothing lost, nothing sent twice).
import Database from 'better-sqlite3';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { verifyAuditExport } from '../../crypto/index.js';
import { formatInstant } from '../../shared/time.js';
import { findTool, testOutputDir } from '../ops/tools.js';
import { BIN, querySqlite, REPO, runCli, temporaryBridge } from '../support/bridge.js';
import { waitFor } from '../outer/support.js';

const promtool = findTool('promtool', 'prometheus');
const chromium = findTool('chromium', 'chromium', ['/usr/lib/chromium']);
const execFileAsync = promisify(execFile);
/** An 18-character resident ID number standing alone (not inside a hex digest or key id). */
const FULL_RESIDENT_ID = /(?<![0-9A-Za-z])\d{17}[\dX](?![0-9A-Za-z])/;
/** Source table and bank table of each dataset in the demo bridge. */
const TABLES: Record<string, { source: string; bank: string }> = {
  residents: { source: 'RK_JBXX', bank: 'GOV_RESIDENT' },
  social_security: { source: 'SB_JFJL', bank: 'GOV_SOCIAL_INSURANCE' },
};

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

/** Rewrites a YAML configuration into `out` (comments are not kept; fine for a test's copy). */
function editConfig(file: string, edit: (config: Record<string, unknown>) => void, out: string): string {
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
  datasets: { dataset: string; paused: { reason: string } | null }[];
  streams: {
    stream: string;
    dataset: string;
    bundles: number;
    rows: number;
    rejects: number;
    nextSequence: number;
  }[];
}

function count(db: string, table: string): number {
  return querySqlite<{ n: number }>(db, `SELECT COUNT(*) AS n FROM "${table}"`)[0]?.n ?? -1;
}

describe('inner node operations on a real bridge', () => {
  let bridge: Awaited<ReturnType<typeof temporaryBridge>>;
  let bundles = 0;
  const inner = (...args: string[]): string[] => [...args, '--config', bridge.innerConfig];

  /** Export, ferry and import through the compiled commands; returns the bundles exported. */
  async function exportFerryImport(): Promise<number> {
    const exported = await runCli(BIN.inner, inner('export'));
    const sealed = [...exported.stdout.matchAll(/in (\d+) bundle\(s\)/g)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );
    await runCli(BIN.ferry, [
      '--from',
      join(bridge.innerDir, 'outbox'),
      '--to',
      join(bridge.outerDir, 'inbox'),
    ]);
    await runCli(BIN.outer, ['import', '--settle', '0', '--config', bridge.outerConfig]);
    return sealed;
  }

  beforeAll(async () => {
    bridge = await temporaryBridge(300, 11);
    bundles = await exportFerryImport();
    expect(bundles).toBeGreaterThan(1);
  }, 60_000);
  afterAll(() => bridge.cleanup());

  it('metrics --write: a valid exposition whose counters equal status --json on the same state', async () => {
    const file = join(bridge.innerDir, 'metrics', 'govbank-inner.prom');
    await runCli(BIN.inner, inner('metrics', '--write', file));
    const text = readFileSync(file, 'utf8');
    expect(statSync(file).mode & 0o777).toBe(0o644);
    if (promtool.path) {
      const check = spawnSync(promtool.path, ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect(`${check.stdout}${check.stderr}`, text).toBe('');
      expect(check.status).toBe(0);
    }
    const status = JSON.parse((await runCli(BIN.inner, inner('status', '--json'))).stdout) as StatusJson;
    const found = samples(text);
    const value = (name: string, labels: Record<string, string> = {}): number | undefined =>
      found.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
        ?.value;
    expect(status.streams.length).toBeGreaterThan(1);
    for (const s of status.streams) {
      expect(value('govbank_bundles_total', { stream: s.stream, direction: 'sent' })).toBe(s.bundles);
      expect(value('govbank_rows_total', { stream: s.stream, direction: 'sent' })).toBe(s.rows);
      expect(value('govbank_rejected_rows_total', { stream: s.stream })).toBe(s.rejects);
      expect(value('govbank_last_export_age_seconds', { stream: s.stream })).toBeGreaterThanOrEqual(0);
    }
    expect(status.streams.reduce((n, s) => n + s.bundles, 0)).toBe(bundles);
    for (const d of status.datasets) expect(value('govbank_dataset_paused', { dataset: d.dataset })).toBe(0);
    expect(value('govbank_sent_bundles_kept')).toBe(bundles);
    expect(value('govbank_certificate_expiry_seconds', { name: 'county', usage: 'sign' })).toBeGreaterThan(
      86400,
    );
    expect(value('govbank_certificate_expiry_seconds', { name: 'bank-a', usage: 'encrypt' })).toBeGreaterThan(
      86400,
    );
    expect(found.every((s) => s.labels['node'] === 'county')).toBe(true);
  });

  it('report --html: rows sent over time, rejects, paused datasets and keys; Chromium draws it', async () => {
    const out = testOutputDir('inner-report');
    const page = join(out, 'report.html');
    const from = new Date(Date.now() - 6 * 3_600_000).toISOString();
    await runCli(BIN.inner, inner('report', '--html', page, '--from', from));
    const html = readFileSync(page, 'utf8');
    expect(html).toContain('county');
    expect(html).toContain('Inner node (government side)');
    expect(html).not.toMatch(/\s(src|href)=/i);
    for (const chart of ['throughput', 'keys'])
      expect(html, chart).toMatch(new RegExp(`<svg data-chart="${chart}"`));
    expect(html).toContain('No dataset is paused.');
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
    expect(charts).toBeGreaterThanOrEqual(2);
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

  it('doctor: a healthy node passes (exit 0); a readable key, a missing folder, an unreachable source fail (exit 2)', async () => {
    const healthy = await runExit(BIN.inner, inner('doctor'));
    expect(healthy.stdout, healthy.stdout).not.toContain('FAIL');
    expect(healthy.code, healthy.stdout).toBe(0);
    expect(healthy.stdout).toMatch(
      /ok {4}source county: .*dataset residents reads RK_JBXX \(\d+ column\(s\): .*SFZH/,
    );
    expect(healthy.stdout).toMatch(/ok {4}audit log: .*audit\.log: \d+ entries/);

    const key = join(bridge.innerDir, 'keys', 'enc.key.pem');
    chmodSync(key, 0o644);
    const rejects = join(bridge.innerDir, 'rejects');
    const hadRejects = existsSync(rejects);
    if (hadRejects) renameSync(rejects, `${rejects}.away`);
    try {
      const broken = await runExit(BIN.inner, inner('doctor'));
      expect(broken.code).toBe(2);
      expect(broken.stdout).toContain(`FAIL  key file: ${key} has mode 0644`);
      expect(broken.stdout).toMatch(/FAIL {2}rejects folder: .*rejects: ENOENT\n\s+fix: install -d/);
    } finally {
      chmodSync(key, 0o600);
      if (hadRejects) renameSync(`${rejects}.away`, rejects);
    }

    const unreachable = editConfig(
      bridge.innerConfig,
      (c) => {
        (c['sources'] as Record<string, unknown>)['county'] = { kind: 'sqlite', path: 'nowhere/county.db' };
      },
      join(bridge.innerDir, 'unreachable.yaml'),
    );
    const down = await runExit(BIN.inner, ['doctor', '--config', unreachable]);
    expect(down.code, down.stdout).toBe(2);
    expect(down.stdout).toMatch(/FAIL {2}source county: /);
    expect(down.stdout).toContain('ok    key file'); // the other checks still ran
  }, 60_000);

  it('run writes the metrics file and a pid file, and removes the pid file when stopped', async () => {
    const metricsFile = join(bridge.innerDir, 'metrics', 'daemon.prom');
    const config = editConfig(
      bridge.innerConfig,
      (c) => {
        c['metrics'] = { file: 'metrics/daemon.prom', interval: '200ms' };
      },
      join(bridge.innerDir, 'daemon.yaml'),
    );
    const pidFile = join(bridge.innerDir, 'state', 'inner-node.pid');
    const daemon = spawn(process.execPath, [BIN.inner, 'run', '--config', config], {
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
      expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(daemon.pid));
      const text = readFileSync(metricsFile, 'utf8');
      expect(samples(text).some((s) => s.name === 'govbank_bundles_total')).toBe(true);
      // A restore is refused while the daemon runs (its pid file), even with --force.
      const backupDir = join(bridge.dir, 'backups', 'while-running');
      await runCli(BIN.inner, inner('backup', backupDir));
      const refused = await runExit(BIN.inner, inner('restore', backupDir, '--force'));
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain('RESTORE_TARGET_IN_USE');
      expect(refused.stderr).toContain(`pid ${daemon.pid}`);
    } finally {
      daemon.kill('SIGTERM');
      expect(await exited, log).toBe(0);
    }
    expect(existsSync(pidFile)).toBe(false);
  }, 60_000);

  it('audit: every bundle sent is on the chain; edits, removals and reorders are caught', async () => {
    const log = join(bridge.innerDir, 'state', 'audit.log');
    const original = readFileSync(log, 'utf8');
    const entries = original
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; event: string; details: Record<string, unknown> });
    const sent = entries.filter((e) => e.event === 'bundle-sent');
    const ledger = querySqlite<{ bundle_id: string; digest: string }>(
      bridge.bankDb,
      'SELECT bundle_id, digest FROM bridge_ledger',
    );
    expect(sent).toHaveLength(ledger.length);
    // The county's entries match the bank's ledger bundle by bundle (id and digest).
    const digests = new Map(ledger.map((l) => [l.bundle_id, l.digest]));
    for (const e of sent) {
      expect(digests.get(String(e.details['bundleId']))).toBe(e.details['digest']);
      expect(e.details['recipients']).toEqual([expect.any(String)]);
      expect(e.details['sequence']).toBeGreaterThan(0);
    }
    expect(original).not.toMatch(FULL_RESIDENT_ID);

    const ok = await runExit(BIN.inner, inner('audit', 'verify'));
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(
      new RegExp(`^OK: .*: ${entries.length} entries, head ${entries.length}:[0-9a-f]{64}`),
    );
    const head = /head (\d+:[0-9a-f]{64})/.exec(ok.stdout)?.[1] ?? '';

    const excerpt = join(bridge.dir, 'inner-audit-excerpt.json');
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const to = new Date(Date.now() + 60_000).toISOString();
    const exported = await runExit(
      BIN.inner,
      inner('audit', 'export', '--from', from, '--to', to, '--out', excerpt),
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
      ['removed', lines.filter((_, i) => i !== 1), /line 2: sequence 3, expected 2/],
      [
        'reordered',
        [lines[0] ?? '', lines[2] ?? '', lines[1] ?? '', ...lines.slice(3)],
        /line 2: sequence 3, expected 2/,
      ],
    ];
    try {
      for (const [what, changed, problem] of cases) {
        tampered(changed);
        const broken = await runExit(BIN.inner, inner('audit', 'verify'));
        expect(broken.code, what).toBe(2);
        expect(broken.stdout, what).toMatch(/^BROKEN: /);
        expect(broken.stdout, what).toMatch(problem);
      }
      // The newest entry cut off: only the recorded head finds it.
      tampered(lines.slice(0, -1));
      expect((await runExit(BIN.inner, inner('audit', 'verify'))).code).toBe(0);
      expect((await runExit(BIN.inner, inner('audit', 'verify', '--head', head))).code).toBe(2);
      // The node refuses to export onto a broken log, and the doctor says so.
      tampered(cases[0]?.[1] ?? []);
      const refused = await runExit(BIN.inner, inner('export'));
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain('KEY_AUDIT_BROKEN');
      expect((await runExit(BIN.inner, inner('doctor'))).stdout).toMatch(/FAIL {2}audit log: /);
    } finally {
      writeFileSync(log, original);
    }
    expect((await runExit(BIN.inner, inner('audit', 'verify', '--head', head))).code).toBe(0);
  }, 60_000);

  it('backup, destroy the state, restore, add rows, export again: nothing lost, nothing sent twice', async () => {
    const backupDir = join(bridge.dir, 'backups', 'inner-first');
    const before = JSON.parse((await runCli(BIN.inner, inner('status', '--json'))).stdout) as StatusJson;
    const taken = await runCli(BIN.inner, inner('backup', backupDir));
    expect(taken.stdout).toMatch(new RegExp(`state database, ${bundles} sent bundle\\(s\\), .*1 audit log`));
    expect((await runExit(BIN.inner, inner('backup', backupDir))).stderr).toContain('BACKUP_EXISTS');

    // Restore refuses while a process holds the state database open.
    const holder = new Database(join(bridge.innerDir, 'state', 'inner-state.db'));
    try {
      holder.prepare('SELECT 1').get();
      const refused = await runExit(BIN.inner, inner('restore', backupDir, '--force'));
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain('RESTORE_TARGET_IN_USE');
    } finally {
      holder.close();
    }

    // ... and while a live process holds an export lock (an 'inner-node export' between reads).
    const locked = new Database(join(bridge.innerDir, 'state', 'inner-state.db'));
    try {
      locked
        .prepare('INSERT INTO export_locks (dataset, pid, since) VALUES (?, ?, ?)')
        .run('residents', process.pid, new Date().toISOString());
    } finally {
      locked.close();
    }
    const lockRefused = await runExit(BIN.inner, inner('restore', backupDir, '--force'));
    expect(lockRefused.stderr).toContain(`process ${process.pid} is exporting dataset residents`);

    // The county's machine loses its state folder: cursors, sequences, sent bundles, audit log.
    rmSync(join(bridge.innerDir, 'state'), { recursive: true, force: true });
    const restored = await runCli(BIN.inner, inner('restore', backupDir));
    expect(restored.stdout).toContain('inner-state.db');
    // Every dataset is held until reconciled, and the restore says so.
    expect(restored.stdout).toMatch(/paused until reconciled with each bank.*residents/);
    const after = JSON.parse((await runCli(BIN.inner, inner('status', '--json'))).stdout) as StatusJson;
    expect(after.streams.map((s) => [s.stream, s.nextSequence])).toEqual(
      before.streams.map((s) => [s.stream, s.nextSequence]),
    );
    expect(after.datasets.every((d) => d.paused !== null)).toBe(true);
    expect((await runExit(BIN.inner, inner('audit', 'verify'))).code).toBe(0);

    // The report shows the paused datasets with the restore's reason.
    const page = join(testOutputDir('inner-report'), 'paused.html');
    await runCli(BIN.inner, inner('report', '--html', page));
    const html = readFileSync(page, 'utf8');
    expect(html).toMatch(/<svg data-chart="paused"/);
    expect(html).toContain('restored from the backup of');

    // Reconciled (the bank applied N - 1 for every stream): resume each dataset.
    for (const d of after.datasets) await runCli(BIN.inner, inner('resume', '--dataset', d.dataset));

    // New rows at the source: residents' contributions for a new month, written a minute ago.
    const written = formatInstant(new Date(Date.now() - 60_000), 'yyyy-MM-dd HH:mm:ss', '+08:00');
    const county = new Database(bridge.county.dbPath);
    let added = 0;
    try {
      const columns = (
        county.prepare('SELECT name FROM pragma_table_info(?)').all('SB_JFJL') as { name: string }[]
      ).map((c) => c.name);
      const select = columns.map((c) => (c === 'JFNY' ? "'202612'" : c === 'GXSJ' ? '?' : c)).join(', ');
      added = county
        .prepare(
          `INSERT OR IGNORE INTO SB_JFJL (${columns.join(', ')}) SELECT ${select} FROM SB_JFJL
           WHERE (SFZH, JFNY) IN (SELECT SFZH, MIN(JFNY) FROM SB_JFJL GROUP BY SFZH LIMIT 25)`,
        )
        .run(written).changes;
    } finally {
      county.close();
    }
    expect(added).toBeGreaterThan(0);

    const again = await exportFerryImport();
    expect(again).toBeGreaterThan(0);
    // Nothing lost: every source row is at the bank.
    for (const [dataset, t] of Object.entries(TABLES)) {
      expect(count(bridge.bankDb, t.bank), dataset).toBe(count(bridge.county.dbPath, t.source));
    }
    // Nothing sent twice: one ledger row per bundle, sequences 1..n without a gap, no duplicates or
    // quarantine at the bank.
    const ledger = querySqlite<{ stream: string; n: number; first: number; last: number }>(
      bridge.bankDb,
      'SELECT stream, COUNT(*) AS n, MIN(sequence) AS first, MAX(sequence) AS last FROM bridge_ledger GROUP BY stream',
    );
    expect(ledger.reduce((n, l) => n + l.n, 0)).toBe(bundles + again);
    for (const l of ledger) expect([l.stream, l.first, l.last]).toEqual([l.stream, 1, l.n]);
    const tasks = querySqlite<{ state: string; n: number }>(
      join(bridge.outerDir, 'state', 'outer-state.db'),
      'SELECT state, COUNT(*) AS n FROM tasks GROUP BY state',
    );
    expect(tasks.filter((t) => !['loaded', 'acked'].includes(t.state))).toEqual([]);
    expect(tasks.reduce((n, t) => n + t.n, 0)).toBe(bundles + again);
    const duplicateBundles = querySqlite<{ n: number }>(
      join(bridge.outerDir, 'state', 'outer-state.db'),
      'SELECT COUNT(*) AS n FROM (SELECT bundle_id FROM tasks GROUP BY bundle_id HAVING COUNT(*) > 1)',
    );
    expect(duplicateBundles[0]?.n).toBe(0);
    // The audit chain continues from the restored head and holds every bundle sent.
    const verified = await runExit(BIN.inner, inner('audit', 'verify'));
    expect(verified.stdout).toMatch(/^OK: /);
    const sentEntries = readFileSync(join(bridge.innerDir, 'state', 'audit.log'), 'utf8')
      .trimEnd()
      .split('\n')
      .filter((l) => l.includes('"bundle-sent"'));
    expect(sentEntries).toHaveLength(bundles + again);
  }, 120_000);
});
