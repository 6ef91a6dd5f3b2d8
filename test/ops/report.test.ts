// The HTML report (issue 8): rendered from realistic sample data, opened in headless Chromium (Debian
// package chromium), every chart checked to have drawn (the page's self-check counts marks with a
// visible size after layout), a screenshot kept in test-output/report/ for CI's artefacts, and the
// page checked to load nothing from anywhere.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  escapeHtml,
  formatDuration,
  formatInteger,
  renderReport,
  scoreHistogram,
  type ReportData,
} from '../../shared/report-html.js';
import { findTool, testOutputDir } from './tools.js';

const chromium = findTool('chromium', 'chromium', ['/usr/lib/chromium']);
const profiles = mkdtempSync(join(tmpdir(), 'govbank-chromium-'));
afterAll(() => rmSync(profiles, { recursive: true, force: true }));

const CHARTS = ['throughput', 'lag', 'keys', 'quarantine', 'rejects', 'gaps', 'decisions', 'scores'] as const;

/** A deterministic pseudo-random source, so the sample (and the screenshot) is the same every run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** A week at bank A: hourly imports per dataset with a working-day rhythm, and the usual troubles. */
export function sampleReport(): ReportData {
  const random = seeded(8);
  const from = Date.parse('2026-11-15T00:00:00+08:00');
  const hours = 7 * 24;
  const datasets: [string, number][] = [
    ['residents', 900],
    ['social_security', 5200],
    ['provident_fund', 2100],
    ['property', 350],
  ];
  const series = datasets.map(([name, base]) => ({
    name,
    points: Array.from({ length: hours }, (_, h) => {
      const hourOfDay = (h + 8) % 24;
      const working = hourOfDay >= 8 && hourOfDay <= 18 && Math.floor(h / 24) % 7 < 5 ? 1 : 0.15;
      const burst = name === 'social_security' && h === 60 ? 6 : 1;
      return {
        at: new Date(from + h * 3_600_000).toISOString(),
        rows: Math.round(base * working * burst * (0.7 + random() * 0.6)),
      };
    }),
  }));
  const scores = Array.from({ length: 1400 }, () => {
    const u = random() + random() + random();
    return Math.round(460 + (u / 3) * 320);
  });
  return {
    node: { name: 'bank-a', role: 'outer' },
    generatedAt: '2026-11-22T09:30:00+08:00',
    period: { from: '2026-11-15T00:00:00+08:00', to: '2026-11-22T00:00:00+08:00' },
    utcOffset: '+08:00',
    throughput: { series },
    lag: [
      { stream: 'county.bank-a.social_security', seconds: 5_400 },
      { stream: 'county.bank-a.provident_fund', seconds: 1_260 },
      { stream: 'county.bank-a.residents', seconds: 42 },
      { stream: 'county.bank-a.property', seconds: 8 },
    ],
    quarantine: [
      { reason: 'VERIFY_NOT_FOR_US', count: 3 },
      { reason: 'VERIFY_HEADER_SIGNATURE', count: 1 },
      { reason: 'BUNDLE_MALFORMED <truncated>', count: 2 },
    ],
    rejects: [
      { reason: 'resident_id: check digit', count: 37 },
      { reason: 'birth_date: not yyyyMMdd', count: 12 },
      { reason: 'contribution_base: not an exact amount', count: 4 },
      { reason: 'address: longer than the bank column (200 bytes)', count: 2 },
    ],
    gaps: [
      {
        stream: 'county.bank-a.social_security',
        from: 812,
        to: 814,
        since: '2026-11-17T10:05:00+08:00',
        filledAt: '2026-11-17T16:40:00+08:00',
        state: 'filled',
      },
      {
        stream: 'county.bank-a.social_security',
        from: 1033,
        to: 1033,
        since: '2026-11-21T22:10:00+08:00',
        state: 'requested',
      },
      {
        stream: 'county.bank-a.provident_fund',
        from: 77,
        to: 80,
        since: '2026-11-15T03:00:00+08:00',
        state: 'out-of-retention',
      },
    ],
    keys: [
      { name: 'bank-a', usage: 'encryption', notAfter: '2026-12-01T00:00:00Z' },
      { name: 'bank-a', usage: 'signing', notAfter: '2027-01-02T00:00:00Z' },
      { name: 'county', usage: 'signing', notAfter: '2027-09-30T00:00:00Z' },
      { name: 'Example County Bridge CA', usage: 'CA', notAfter: '2036-01-01T00:00:00Z' },
      { name: 'bank-a (old)', usage: 'encryption', notAfter: '2026-11-18T00:00:00Z' },
    ],
    decisions: [
      { outcome: 'approved', count: scores.filter((s) => s >= 600).length },
      { outcome: 'review', count: scores.filter((s) => s >= 560 && s < 600).length },
      { outcome: 'declined', count: scores.filter((s) => s < 560).length },
    ],
    scores: {
      bins: scoreHistogram(scores, { min: 400, max: 800, width: 20 }),
      bands: { reviewFrom: 560, approveFrom: 600 },
    },
  };
}

function emptyReport(): ReportData {
  return {
    node: { name: 'county', role: 'inner' },
    generatedAt: '2026-11-22T09:30:00+08:00',
    period: { from: '2026-11-21T00:00:00+08:00', to: '2026-11-22T00:00:00+08:00' },
    throughput: { series: [] },
    lag: [],
    quarantine: [],
    rejects: [],
    gaps: [],
    keys: [],
    decisions: [],
    scores: { bins: [] },
  };
}

/** Runs headless Chromium with the flags that keep it off the network. */
function runChromium(
  args: string[],
  profile: string,
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(
    chromium.path ?? 'chromium',
    [
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
      `--user-data-dir=${join(profiles, profile)}`,
      ...args,
    ],
    { encoding: 'utf8', timeout: 90_000, maxBuffer: 64 * 1024 * 1024 },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Per chart: whether it is an empty-state message, how many marks it has, and how many drew. */
function chartsIn(dom: string): Map<string, { empty: boolean; marks: number; drawn: number | undefined }> {
  const charts = new Map<string, { empty: boolean; marks: number; drawn: number | undefined }>();
  for (const match of dom.matchAll(/<svg\b([^>]*)>([\s\S]*?)<\/svg>/g)) {
    const attrs = match[1] ?? '';
    const name = /data-chart="([^"]+)"/.exec(attrs)?.[1];
    if (!name) continue;
    const drawn = /data-drawn="(\d+)"/.exec(attrs)?.[1];
    const marks = (match[2] ?? '').match(/data-mark="/g)?.length ?? 0;
    charts.set(name, { empty: false, marks, drawn: drawn === undefined ? undefined : Number(drawn) });
  }
  for (const match of dom.matchAll(/<div class="empty" data-chart="([^"]+)" data-empty="true">/g)) {
    if (match[1]) charts.set(match[1], { empty: true, marks: 0, drawn: undefined });
  }
  return charts;
}

/** Width and height from a PNG's IHDR chunk. */
function pngSize(file: string): { width: number; height: number } {
  const bytes = readFileSync(file);
  expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

describe('renderReport', () => {
  it('is one self-contained page: no external reference of any kind, and a policy that forbids fetching', () => {
    const html = renderReport(sampleReport());
    const withoutNamespace = html.replaceAll('xmlns="http://www.w3.org/2000/svg"', '');
    expect(withoutNamespace).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/\s(src|href)=/i);
    expect(html).not.toMatch(/url\(|@import|fetch\(|XMLHttpRequest|WebSocket|<link|<img|<iframe/i);
    expect(html).toContain(`content="default-src 'none';`);
    for (const chart of CHARTS) expect(html, chart).toContain(`data-chart="${chart}"`);
  });

  it('escapes every text that comes from the data', () => {
    const data = sampleReport();
    data.node.name = '<script>alert(1)</script>';
    data.quarantine.push({ reason: '"><img src=x onerror=alert(2)>', count: 1 });
    data.gaps.push({ stream: "o'neil&<b>", from: 1, to: 1, since: '2026-11-20T00:00:00Z', state: 'waiting' });
    const html = renderReport(data);
    expect(html).not.toContain('<script>alert(1)');
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('o&#39;neil&amp;&lt;b&gt;');
  });

  it('shows an empty-state message for every section without data', () => {
    const charts = chartsIn(renderReport(emptyReport()));
    for (const chart of CHARTS) expect(charts.get(chart)?.empty, chart).toBe(true);
  });

  it('formats numbers and durations the same on every machine', () => {
    expect(formatInteger(1234567)).toBe('1,234,567');
    expect(formatInteger(-1000)).toBe('-1,000');
    expect(formatDuration(42)).toBe('42 s');
    expect(formatDuration(95)).toBe('1 min 35 s');
    expect(formatDuration(5400)).toBe('1 h 30 min');
    expect(formatDuration(3 * 86400 + 7200)).toBe('3 d 2 h');
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    expect(scoreHistogram([400, 419, 420, 800, 801, 399], { min: 400, max: 800, width: 200 })).toEqual([
      { from: 400, to: 600, count: 3 },
      { from: 600, to: 800, count: 1 },
    ]);
  });
});

describe('the report in headless Chromium', () => {
  it.skipIf(!chromium.path)('draws every chart, and the screenshot is kept as an artefact', () => {
    const out = testOutputDir('report');
    const page = join(out, 'report.html');
    writeFileSync(page, renderReport(sampleReport()));

    const dump = runChromium(['--dump-dom', `file://${page}`], 'dump');
    expect(dump.status, dump.stderr).toBe(0);
    writeFileSync(join(out, 'report.dom.html'), dump.stdout);
    const charts = chartsIn(dump.stdout);
    for (const chart of CHARTS) {
      const found = charts.get(chart);
      expect(found, `${chart} is in the page`).toBeDefined();
      expect(found?.empty, `${chart} has data`).toBe(false);
      expect(found?.marks, `${chart} has marks`).toBeGreaterThan(0);
      // data-drawn is set by the page after layout: every mark has a visible size.
      expect(found?.drawn, `${chart} drew in the browser`).toBe(found?.marks);
    }

    const screenshot = join(out, 'report.png');
    rmSync(screenshot, { force: true });
    const shot = runChromium(
      [`--screenshot=${screenshot}`, '--window-size=1280,2000', `file://${page}`],
      'shot',
    );
    expect(shot.status, shot.stderr).toBe(0);
    expect(pngSize(screenshot)).toEqual({ width: 1280, height: 2000 });
    expect(statSync(screenshot).size).toBeGreaterThan(50_000); // a blank page compresses to a few KiB
    process.stdout.write(`report screenshot: ${screenshot}\n`);
  });

  it.skipIf(!chromium.path)('shows every empty-state message in the browser', () => {
    const out = testOutputDir('report');
    const page = join(out, 'report-empty.html');
    writeFileSync(page, renderReport(emptyReport()));
    const dump = runChromium(['--dump-dom', `file://${page}`], 'empty');
    expect(dump.status, dump.stderr).toBe(0);
    const charts = chartsIn(dump.stdout);
    for (const chart of CHARTS) expect(charts.get(chart)?.empty, chart).toBe(true);
    const shot = runChromium(
      [`--screenshot=${join(out, 'report-empty.png')}`, '--window-size=1280,1400', `file://${page}`],
      'empty-shot',
    );
    expect(shot.status, shot.stderr).toBe(0);
  });
});
