// Configuration loading: YAML syntax errors, every schema problem with its path and line, sizes and
// durations, and the real inner and outer templates (valid as written, refused when broken).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InnerConfigSchema } from '../../inner-node/config.js';
import { innerConfigTemplate } from '../../inner-node/init.js';
import { OuterConfigSchema } from '../../outer-node/config.js';
import { outerConfigTemplate } from '../../outer-node/init.js';
import {
  loadYamlConfig,
  parseDuration,
  parseSize,
  parseYamlConfig,
  resolveFrom,
} from '../../shared/config-loader.js';
import { ConfigError, describeError } from '../../shared/errors.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gbb-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const duration = z.string().refine((s) => parseDuration(s) !== undefined, 'a duration');
const SmallSchema = z.strictObject({
  name: z.string(),
  server: z.strictObject({ port: z.number().int(), timeout: duration.default('5s') }),
  tags: z.array(z.string()).default([]),
});

/** The ConfigError thrown by fn. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

/** 1-based line of the first line of text containing needle (after the first line containing after). */
function lineOf(text: string, needle: string, after?: string): number {
  const lines = text.split('\n');
  const start = after === undefined ? 0 : lines.findIndex((l) => l.includes(after));
  const index = lines.findIndex((l, i) => i >= start && l.includes(needle));
  if (start < 0 || index < 0) throw new Error(`'${needle}' not in text`);
  return index + 1;
}

/** Replaces exactly one occurrence, so a template change cannot silently make a test vacuous. */
function replaceOnce(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error(`'${from}' must occur exactly once`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

/** Replaces the first occurrence of from after anchor (templates repeat keys per dataset). */
function replaceAfter(text: string, anchor: string, from: string, to: string): string {
  const start = text.indexOf(anchor);
  const at = start < 0 ? -1 : text.indexOf(from, start);
  if (at < 0) throw new Error(`'${from}' not found after '${anchor}'`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

// The residents dataset of the inner template: the block every inner test edits.
const RESIDENTS = '  residents:\n    contract: residents';

describe('parseYamlConfig', () => {
  it('returns the parsed config with defaults, the resolved path and its folder', () => {
    const loaded = parseYamlConfig('name: a\nserver:\n  port: 80\n', 'conf/node.yaml', SmallSchema);
    expect(loaded.config).toEqual({ name: 'a', server: { port: 80, timeout: '5s' }, tags: [] });
    expect(loaded.path).toBe(join(process.cwd(), 'conf/node.yaml'));
    expect(loaded.baseDir).toBe(join(process.cwd(), 'conf'));
  });

  it('refuses a YAML syntax error with CONFIG_SYNTAX', () => {
    const error = configError(() =>
      parseYamlConfig('name: a\nserver:\n  port: [80\n', 'bad.yaml', SmallSchema),
    );
    expect(error.code).toBe('CONFIG_SYNTAX');
    expect(error.name).toBe('ConfigError');
    expect(error.message).toContain('bad.yaml is not valid YAML');
    expect(error.problems.length).toBeGreaterThan(0);
    expect(error.hint).toBeTruthy();
  });

  it('refuses duplicate keys and tab indentation as syntax errors', () => {
    expect(configError(() => parseYamlConfig('name: a\nname: b\n', 'f.yaml', SmallSchema)).code).toBe(
      'CONFIG_SYNTAX',
    );
    expect(configError(() => parseYamlConfig('server:\n\tport: 1\n', 'f.yaml', SmallSchema)).code).toBe(
      'CONFIG_SYNTAX',
    );
  });

  // BUG (shared/config-loader.ts lines 37-41): parseDocument is called with prettyErrors: false, so
  // the yaml library never fills in YAMLError.linePos and `e.linePos?.[0]` is always undefined: a
  // syntax problem is reported as e.g. 'Map keys must be unique' with no line, although the module
  // promises "each with its path in the file, its line". Using lineCounter.linePos(e.pos[0]) would
  // fix it. Expected: 'line 2, column 1: Map keys must be unique'; actual: 'Map keys must be unique'.
  // Left failing on purpose.
  it('names the line of each syntax problem', () => {
    const duplicate = configError(() => parseYamlConfig('name: a\nname: b\n', 'f.yaml', SmallSchema));
    expect(duplicate.problems[0]).toMatch(/^line 2, column \d+: /);
    const tab = configError(() => parseYamlConfig('name: a\nserver:\n\tport: 1\n', 'f.yaml', SmallSchema));
    expect(tab.problems[0]).toMatch(/^line 3, column \d+: Tabs are not allowed/);
  });

  it('lists every schema problem at once, each with its dotted path and real line', () => {
    const text = [
      'name: demo', // 1
      'server:', // 2
      '  port: eighty', // 3
      '  timeout: 5 sec', // 4
      'tags:', // 5
      '  - ok', // 6
      '  - 42', // 7
    ].join('\n');
    const error = configError(() => parseYamlConfig(text, 'node.yaml', SmallSchema));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('node.yaml has 3 problem(s)');
    expect(error.problems).toHaveLength(3);
    expect(error.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^server\.port \(line 3\): .*number/),
        expect.stringMatching(/^server\.timeout \(line 4\): a duration$/),
        expect.stringMatching(/^tags\.1 \(line 7\): .*string/),
      ]),
    );
    // The operator-facing description lists them all.
    const described = describeError(error);
    for (const problem of error.problems) expect(described).toContain(`  - ${problem}`);
  });

  it('reports unknown keys with the path of their mapping, and missing keys without a line', () => {
    const error = configError(() =>
      parseYamlConfig('server:\n  port: 1\n  colour: blue\n', 'node.yaml', SmallSchema),
    );
    expect(error.code).toBe('CONFIG_INVALID');
    // The line is where the enclosing mapping starts (line 2), not the unknown key's own line.
    expect(error.problems).toContain('server (line 2): Unrecognized key: "colour"');
    expect(error.problems).toEqual(expect.arrayContaining([expect.stringMatching(/^name: /)]));
  });

  it('treats an empty document as an empty mapping', () => {
    const error = configError(() => parseYamlConfig('', 'empty.yaml', SmallSchema));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.problems.some((p) => p.startsWith('name'))).toBe(true);
    expect(error.problems.some((p) => p.startsWith('server'))).toBe(true);
  });
});

describe('loadYamlConfig', () => {
  it('loads a file and resolves relative paths against its folder', () => {
    const path = join(dir, 'node.yaml');
    writeFileSync(path, 'name: a\nserver:\n  port: 1\n');
    const loaded = loadYamlConfig(path, SmallSchema);
    expect(loaded.config.server.port).toBe(1);
    expect(loaded.baseDir).toBe(dir);
    expect(resolveFrom(loaded.baseDir, 'outbox')).toBe(join(dir, 'outbox'));
    expect(resolveFrom(loaded.baseDir, '/var/outbox')).toBe('/var/outbox');
  });

  it('refuses a missing file with CONFIG_NOT_FOUND, naming the path and what to do', () => {
    const path = join(dir, 'missing.yaml');
    const error = configError(() => loadYamlConfig(path, SmallSchema));
    expect(error.code).toBe('CONFIG_NOT_FOUND');
    expect(error.message).toContain(path);
    expect(error.message).toContain('init DIR');
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('refuses an unreadable path with CONFIG_UNREADABLE', () => {
    const error = configError(() => loadYamlConfig(dir, SmallSchema));
    expect(error.code).toBe('CONFIG_UNREADABLE');
  });
});

describe('parseDuration and parseSize', () => {
  it('parses durations', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration(' 1s ')).toBe(1000);
    expect(parseDuration('0s')).toBe(0);
  });

  it('refuses what is not a duration', () => {
    for (const text of ['', '5', '5 s', '1.5h', '-1s', '5sec', '1w', 's', '1S']) {
      expect(parseDuration(text), text).toBeUndefined();
    }
  });

  it('parses sizes', () => {
    expect(parseSize('1000')).toBe(1000);
    expect(parseSize('10B')).toBe(10);
    expect(parseSize('512KiB')).toBe(512 * 1024);
    expect(parseSize('64MiB')).toBe(64 * 1024 * 1024);
    expect(parseSize('1 GiB')).toBe(1024 ** 3);
  });

  it('refuses what is not a size', () => {
    for (const text of ['', 'MiB', '1MB', '1.5MiB', '-1', '1 mib', '1KB']) {
      expect(parseSize(text), text).toBeUndefined();
    }
  });
});

describe('the inner node template', () => {
  const template = innerConfigTemplate();
  const problemsOf = (text: string): readonly string[] => {
    const error = configError(() => parseYamlConfig(text, 'inner-node.yaml', InnerConfigSchema));
    expect(error.code).toBe('CONFIG_INVALID');
    return error.problems;
  };

  it('is valid as written, with defaults applied', () => {
    const { config } = parseYamlConfig(template, 'inner-node.yaml', InnerConfigSchema);
    expect(config.node.name).toBe('county');
    expect(Object.keys(config.datasets)).toContain('residents');
    for (const [name, dataset] of Object.entries(config.datasets)) {
      expect(config.sources[dataset.source], `dataset ${name}`).toBeDefined();
    }
    expect(config.datasets['residents']?.columns?.['id_number']).toMatchObject({
      from: 'SFZH',
      trim: true,
      on_error: 'reject',
    });
    expect(config.banks['bank-a']?.datasets['residents']).toContain('id_number');
    expect(config.keys.passphrase_env).toBe('BRIDGE_KEY_PASSPHRASE');
  });

  it('is valid with other names', () => {
    const text = innerConfigTemplate({ name: 'county-2', bank: 'bank-b', sourcePath: '/data/c.db' });
    const { config } = parseYamlConfig(text, 'inner-node.yaml', InnerConfigSchema);
    expect(config.node.name).toBe('county-2');
    expect(config.sources['county']).toEqual({ kind: 'sqlite', path: '/data/c.db' });
    expect(Object.keys(config.banks)).toEqual(['bank-b']);
    expect(config.banks['bank-b']?.datasets['residents']).toContain('id_number');
  });

  it('refuses an unknown key', () => {
    const text = replaceAfter(template, RESIDENTS, '    table:', '    colour: blue\n    table:');
    expect(problemsOf(text)).toEqual([
      `datasets.residents (line ${lineOf(text, 'contract: residents')}): Unrecognized key: "colour"`,
    ]);
  });

  it('refuses a bad duration', () => {
    const text = replaceAfter(template, RESIDENTS, 'safety_lag: 5s', 'safety_lag: soon');
    expect(problemsOf(text)).toEqual([
      `datasets.residents.safety_lag (line ${lineOf(text, 'safety_lag: soon')}): a duration such as '30s', '5m', '7d'`,
    ]);
  });

  it('refuses a dataset whose source is not defined', () => {
    const text = replaceAfter(template, RESIDENTS, '    source: county', '    source: city');
    expect(problemsOf(text)).toEqual([
      `datasets.residents.source (line ${lineOf(text, 'source: city')}): no source named 'city' under sources`,
    ]);
  });

  it('refuses a bank authorised for a column that is not in the contract', () => {
    const text = replaceOnce(
      template,
      'residents: [id_number, name,',
      'residents: [id_number, salary, name,',
    );
    expect(problemsOf(text)).toEqual([
      `banks.bank-a.datasets.residents (line ${lineOf(text, 'salary')}): 'salary' is not a column of contract residents`,
    ]);
  });

  it('refuses a bank not authorised for the key column', () => {
    const text = replaceOnce(template, 'residents: [id_number, name,', 'residents: [name,');
    expect(problemsOf(text)).toEqual([
      `banks.bank-a.datasets.residents (line ${lineOf(text, 'residents: [name,')}): the key column 'id_number' must be authorised, or rows cannot be applied exactly once`,
    ]);
  });

  it('refuses a bank authorised for a dataset that does not exist', () => {
    const text = replaceOnce(
      template,
      '      residents: [id_number,',
      '      loans: [id_number]\n      residents: [id_number,',
    );
    expect(problemsOf(text)).toEqual([
      `banks.bank-a.datasets.loans (line ${lineOf(text, 'loans: [id_number]')}): no such dataset`,
    ]);
  });

  it('lists all of these problems at once', () => {
    let text = replaceAfter(template, RESIDENTS, '    table:', '    colour: blue\n    table:');
    text = replaceAfter(text, RESIDENTS, 'safety_lag: 5s', 'safety_lag: soon');
    text = replaceAfter(text, RESIDENTS, '    source: county', '    source: city');
    text = replaceOnce(text, 'residents: [id_number, name,', 'residents: [salary, name,');
    text = replaceOnce(text, 'max_bytes: 64MiB', 'max_bytes: 64MB');
    const problems = problemsOf(text);
    expect(problems).toHaveLength(6);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^datasets\.residents \(line \d+\): Unrecognized key: "colour"$/),
        `datasets.residents.safety_lag (line ${lineOf(text, 'safety_lag: soon')}): a duration such as '30s', '5m', '7d'`,
        expect.stringMatching(/^datasets\.residents\.source \(line \d+\): no source named 'city'/),
        expect.stringMatching(/^banks\.bank-a\.datasets\.residents \(line \d+\): 'salary' is not a column/),
        expect.stringMatching(/^banks\.bank-a\.datasets\.residents \(line \d+\): the key column 'id_number'/),
        `bundles.max_bytes (line ${lineOf(text, 'max_bytes:')}): a size such as '64MiB' or '512KiB'`,
      ]),
    );
  });
});

describe('the outer node template', () => {
  const template = outerConfigTemplate();
  const problemsOf = (text: string): readonly string[] => {
    const error = configError(() => parseYamlConfig(text, 'outer-node.yaml', OuterConfigSchema));
    expect(error.code).toBe('CONFIG_INVALID');
    return error.problems;
  };

  it('is valid as written, with defaults applied', () => {
    const { config } = parseYamlConfig(template, 'outer-node.yaml', OuterConfigSchema);
    expect(config.node.name).toBe('bank-a');
    expect(config.senders).toEqual(['county']);
    expect(config.target).toMatchObject({ kind: 'sqlite', path: 'bank.db' });
    expect(config.datasets['residents']?.columns?.['id_number']).toBe('ZJHM');
    expect(config.import).toMatchObject({ poll_interval: '2s', workers: 1, batch_rows: 5000 });
    expect(config.folders.quarantine).toBe('quarantine');
  });

  it('is valid with other names', () => {
    const text = outerConfigTemplate({ name: 'bank-b', sender: 'county-2', targetPath: '/data/b.db' });
    const { config } = parseYamlConfig(text, 'outer-node.yaml', OuterConfigSchema);
    expect(config.node.name).toBe('bank-b');
    expect(config.senders).toEqual(['county-2']);
  });

  it('refuses an unknown key', () => {
    const text = replaceOnce(template, '  workers: 1', '  workers: 1\n  threads: 4');
    expect(problemsOf(text)).toEqual([
      `import (line ${lineOf(text, 'poll_interval:')}): Unrecognized key: "threads"`,
    ]);
  });

  it('refuses a bad duration', () => {
    const text = replaceOnce(template, 'poll_interval: 2s', 'poll_interval: 2 seconds');
    expect(problemsOf(text)).toEqual([
      `import.poll_interval (line ${lineOf(text, 'poll_interval:')}): a duration such as '2s', '5m'`,
    ]);
  });

  it('refuses a dataset that is not a data contract', () => {
    const text = replaceOnce(
      template,
      'datasets:\n',
      'datasets:\n  loans:\n    table: LOANS\n    columns: { id: ID }\n',
    );
    expect(problemsOf(text)).toEqual([
      `datasets.loans (line ${lineOf(text, 'table: LOANS')}): not the name of a known data contract`,
    ]);
  });

  it('refuses a column that is not in the contract', () => {
    const text = replaceOnce(template, '      name: KHXM', '      name: KHXM\n      salary: GZ');
    expect(problemsOf(text)).toEqual([
      `datasets.residents.columns.salary (line ${lineOf(text, 'salary: GZ')}): not a column of contract residents`,
    ]);
  });

  it('refuses a dataset whose key column is not mapped', () => {
    const text = replaceOnce(template, '      id_number: ZJHM\n', '');
    expect(problemsOf(text)).toEqual([
      `datasets.residents.columns (line ${lineOf(text, 'name: KHXM')}): the key column 'id_number' must be mapped, or rows cannot be applied exactly once`,
    ]);
  });

  it('refuses no senders and a bank column that is not a plain identifier', () => {
    let text = replaceOnce(template, 'senders: [county]', 'senders: []');
    text = replaceOnce(text, '      name: KHXM', '      name: "KH XM"');
    const problems = problemsOf(text);
    expect(problems).toHaveLength(2);
    expect(problems).toEqual(
      expect.arrayContaining([
        `senders (line ${lineOf(text, 'senders:')}): list at least one inner node whose bundles this bank accepts`,
        `datasets.residents.columns.name (line ${lineOf(text, 'KH XM')}): a plain SQL identifier (letters, digits, _)`,
      ]),
    );
  });
});
