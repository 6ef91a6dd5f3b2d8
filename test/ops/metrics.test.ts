// The metrics file (issue 8): rendered in the Prometheus text exposition format, checked by the real
// `promtool check metrics` (Debian package prometheus) and by a strict parser written here, written
// by write-and-rename, and rewritten every few seconds by the periodic writer.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  nodeMetricFamilies,
  renderMetrics,
  startMetricsWriter,
  writeMetricsFile,
  type MetricFamily,
  type NodeMetricsSnapshot,
} from '../../shared/metrics-file.js';
import { findTool } from './tools.js';

const promtool = findTool('promtool', 'prometheus');
const work = mkdtempSync(join(tmpdir(), 'govbank-metrics-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict parser of the text exposition format (0.0.4) as this project writes it: every family has
 * HELP then TYPE before its samples, names and labels are valid, label values use only the three
 * escapes, values are numbers, counters end in _total. Throws on the first deviation, with the line.
 */
function parseExposition(text: string): { types: Map<string, string>; samples: ParsedSample[] } {
  if (text !== '' && !text.endsWith('\n')) throw new Error('the file does not end with a line feed');
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const samples: ParsedSample[] = [];
  const lines = text.split('\n').slice(0, -1);
  lines.forEach((line, index) => {
    const at = `line ${index + 1}: ${line}`;
    const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (help) {
      const [, name = '', body = ''] = help;
      if (helps.has(name)) throw new Error(`${at}: second HELP`);
      if (/\\[^\\n]/.test(body.replaceAll('\\\\', ''))) throw new Error(`${at}: bad escape in HELP`);
      helps.add(name);
      return;
    }
    if (type) {
      const [, name = '', kind = ''] = type;
      if (!helps.has(name)) throw new Error(`${at}: TYPE before HELP`);
      if (types.has(name)) throw new Error(`${at}: second TYPE`);
      if (kind === 'counter' && !name.endsWith('_total')) throw new Error(`${at}: counter without _total`);
      types.set(name, kind);
      return;
    }
    if (line.startsWith('#')) throw new Error(`${at}: unexpected comment`);
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    if (!sample) throw new Error(`${at}: not a sample line`);
    const [, name = '', labelText, valueText = ''] = sample;
    if (!types.has(name)) throw new Error(`${at}: sample without TYPE`);
    const labels: Record<string, string> = {};
    if (labelText !== undefined) {
      let rest = labelText.slice(1, -1);
      while (rest.length > 0) {
        const pair = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)/.exec(rest);
        if (!pair) throw new Error(`${at}: bad label near ${rest}`);
        const [whole, key = '', raw = ''] = pair;
        if (key in labels) throw new Error(`${at}: label ${key} twice`);
        labels[key] = raw.replace(/\\(["\\n])/g, (_m, c: string) => (c === 'n' ? '\n' : c));
        rest = rest.slice(whole.length);
      }
    }
    const value = ['NaN', '+Inf', '-Inf'].includes(valueText)
      ? Number(valueText.replace('+', ''))
      : Number(valueText);
    if (!/^(NaN|[+-]Inf|-?\d+(\.\d+)?(e[+-]?\d+)?)$/.test(valueText)) throw new Error(`${at}: bad value`);
    if (types.get(name) === 'counter' && !(value >= 0)) throw new Error(`${at}: negative counter`);
    samples.push({ name, labels, value });
  });
  return { types, samples };
}

/** Validates with promtool when present (it lints names and units too), and always with the parser. */
function checkExposition(text: string): void {
  parseExposition(text);
  if (!promtool.path) {
    process.stderr.write('promtool missing: checked with the strict parser in this test only\n');
    return;
  }
  const result = spawnSync(promtool.path, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  expect(`${result.stdout}${result.stderr}`, text).toBe('');
  expect(result.status).toBe(0);
}

const snapshot: NodeMetricsSnapshot = {
  role: 'outer',
  streams: [
    {
      stream: 'county.bank-a.residents',
      bundles: 42,
      rows: 50_000,
      rejects: 3,
      gapSequences: 0,
      lagSeconds: 2,
    },
    {
      stream: 'county.bank-a.social_security',
      bundles: 120,
      rows: 1_200_000,
      rejects: 0,
      gapSequences: 2,
      lagSeconds: 95,
    },
  ],
  quarantine: { VERIFY_NOT_FOR_US: 1, VERIFY_HEADER_SIGNATURE: 2 },
  retrying: 1,
  retryAttempts: 7,
  certificates: [
    { name: 'county', usage: 'signing', notAfter: new Date('2027-03-01T00:00:00Z') },
    { name: 'bank-a', usage: 'encryption', notAfter: new Date('2026-11-20T00:00:00Z') },
  ],
  decisions: { approved: 310, declined: 95, review: 41 },
  now: new Date('2026-11-22T08:00:00Z'),
};

describe('renderMetrics', () => {
  it('writes HELP, TYPE and samples with sorted, escaped labels', () => {
    const families: MetricFamily[] = [
      {
        name: 'govbank_quarantine_files',
        help: 'Files in quarantine now.\nSecond line with a \\ backslash.',
        type: 'gauge',
        samples: [{ labels: { code: 'a"b\\c\nd' }, value: 2 }],
      },
      { name: 'govbank_retry_attempts_total', help: 'Retries.', type: 'counter', samples: [{ value: 7 }] },
    ];
    expect(renderMetrics(families, { node: 'bank-a' })).toBe(
      [
        '# HELP govbank_quarantine_files Files in quarantine now.\\nSecond line with a \\\\ backslash.',
        '# TYPE govbank_quarantine_files gauge',
        'govbank_quarantine_files{code="a\\"b\\\\c\\nd",node="bank-a"} 2',
        '# HELP govbank_retry_attempts_total Retries.',
        '# TYPE govbank_retry_attempts_total counter',
        'govbank_retry_attempts_total{node="bank-a"} 7',
        '',
      ].join('\n'),
    );
    const parsed = parseExposition(renderMetrics(families));
    expect(parsed.samples[0]?.labels['code']).toBe('a"b\\c\nd');
  });

  it('writes NaN and infinities by their exposition names', () => {
    const text = renderMetrics([
      {
        name: 'x',
        help: 'x',
        type: 'gauge',
        samples: [
          { labels: { k: 'nan' }, value: Number.NaN },
          { labels: { k: 'inf' }, value: Number.POSITIVE_INFINITY },
          { labels: { k: 'ninf' }, value: Number.NEGATIVE_INFINITY },
        ],
      },
    ]);
    expect(text).toContain('x{k="nan"} NaN\n');
    expect(text).toContain('x{k="inf"} +Inf\n');
    expect(text).toContain('x{k="ninf"} -Inf\n');
  });

  it('refuses what the format cannot carry', () => {
    const gauge = (over: Partial<MetricFamily>): MetricFamily[] => [
      { name: 'ok', help: 'h', type: 'gauge', samples: [{ value: 1 }], ...over },
    ];
    expect(() => renderMetrics(gauge({ name: 'bad-name' }))).toThrow(/not allowed/);
    expect(() => renderMetrics(gauge({ samples: [{ labels: { 'bad-label': 'x' }, value: 1 }] }))).toThrow(
      /label name/,
    );
    expect(() => renderMetrics(gauge({ samples: [{ labels: { __reserved: 'x' }, value: 1 }] }))).toThrow(
      /label name/,
    );
    expect(() => renderMetrics(gauge({ type: 'counter', name: 'no_suffix' }))).toThrow(/_total/);
    expect(() =>
      renderMetrics(gauge({ type: 'counter', name: 'x_total', samples: [{ value: -1 }] })),
    ).toThrow(/negative/);
    expect(() => renderMetrics([...gauge({}), ...gauge({})])).toThrow(/twice/);
    expect(() => renderMetrics(gauge({ samples: [{ value: 1 }, { value: 2 }] }))).toThrow(/twice/);
  });

  it("the node's families pass promtool check metrics (or the strict parser) and carry the snapshot", () => {
    const text = renderMetrics(nodeMetricFamilies(snapshot), { node: 'bank-a' });
    checkExposition(text);
    const { samples, types } = parseExposition(text);
    const value = (name: string, labels: Record<string, string>): number | undefined =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
        ?.value;
    // Counters carry exactly what the status command reports (the same snapshot feeds both).
    expect(
      value('govbank_rows_total', { stream: 'county.bank-a.social_security', direction: 'applied' }),
    ).toBe(1_200_000);
    expect(value('govbank_bundles_total', { stream: 'county.bank-a.residents' })).toBe(42);
    expect(value('govbank_rejected_rows_total', { stream: 'county.bank-a.residents' })).toBe(3);
    expect(value('govbank_quarantine_files', { code: 'VERIFY_HEADER_SIGNATURE' })).toBe(2);
    expect(value('govbank_stream_gap_sequences', { stream: 'county.bank-a.social_security' })).toBe(2);
    expect(value('govbank_lag_seconds', { stream: 'county.bank-a.social_security' })).toBe(95);
    expect(value('govbank_certificate_expiry_seconds', { name: 'bank-a' })).toBe(-2 * 86400 - 8 * 3600);
    expect(value('govbank_decisions_total', { outcome: 'review' })).toBe(41);
    expect(value('govbank_retrying_tasks', {})).toBe(1);
    expect(types.get('govbank_decisions_total')).toBe('counter');
    expect(samples.every((s) => s.labels['node'] === 'bank-a')).toBe(true);
  });

  it('an empty node still writes every family (alert rules never see one vanish)', () => {
    const text = renderMetrics(
      nodeMetricFamilies({
        role: 'inner',
        streams: [],
        quarantine: {},
        retrying: 0,
        retryAttempts: 0,
        certificates: [],
        decisions: {},
        now: new Date('2026-11-22T08:00:00Z'),
      }),
    );
    checkExposition(text);
    expect(parseExposition(text).types.size).toBe(nodeMetricFamilies(snapshot).length);
  });

  it.skipIf(!promtool.path)('promtool catches a broken file (the check is not vacuous)', () => {
    const result = spawnSync(promtool.path ?? 'promtool', ['check', 'metrics'], {
      input: '# TYPE x counter\nx{a="b} 1\n',
      encoding: 'utf8',
    });
    expect(result.status).not.toBe(0);
  });
});

describe('writeMetricsFile', () => {
  it('writes by rename, readable by node_exporter whatever the umask, and leaves no temporary file', async () => {
    const dir = join(work, 'textfile');
    const path = join(dir, 'govbank-outer.prom');
    const previous = process.umask(0o077);
    try {
      await writeMetricsFile(path, nodeMetricFamilies(snapshot), { node: 'bank-a' });
    } finally {
      process.umask(previous);
    }
    expect(statSync(path).mode & 0o777).toBe(0o644);
    expect(readdirSync(dir)).toEqual(['govbank-outer.prom']);
    checkExposition(readFileSync(path, 'utf8'));
  });
});

describe('startMetricsWriter', () => {
  it('writes at once, again every interval, and a last time on stop; a failure does not stop it', async () => {
    const path = join(work, 'periodic', 'govbank-inner.prom');
    let calls = 0;
    const errors: unknown[] = [];
    const writer = startMetricsWriter({
      path,
      intervalMs: 20,
      collect: () => {
        calls += 1;
        if (calls === 2) throw new Error('state database busy');
        return [{ name: 'govbank_ticks', help: 'Collections.', type: 'gauge', samples: [{ value: calls }] }];
      },
      onError: (error) => errors.push(error),
    });
    await writer.flush();
    expect(readFileSync(path, 'utf8')).toContain('govbank_ticks 1\n');
    await new Promise((r) => setTimeout(r, 150));
    await writer.stop();
    const afterStop = calls;
    expect(afterStop).toBeGreaterThanOrEqual(4);
    expect(errors).toHaveLength(1);
    expect(readFileSync(path, 'utf8')).toContain(`govbank_ticks ${afterStop}\n`);
    await new Promise((r) => setTimeout(r, 60));
    expect(calls).toBe(afterStop); // stopped for good
  });
});
