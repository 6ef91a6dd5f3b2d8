// The systemd units (issue 8): `systemd-analyze verify` passes on both units, alone and with each
// drop-in example, without a single warning; the hardening the issue asks for is present; and the
// `systemd-analyze security --offline=yes` exposure scores are printed and kept in
// test-output/systemd/security.txt for the closing note.
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findTool, REPO, testOutputDir } from './tools.js';

const UNITS_DIR = join(REPO, 'deploy', 'systemd');
const UNITS = ['govbank-inner.service', 'govbank-outer.service'] as const;
const analyze = findTool('systemd-analyze', 'systemd');
const work = mkdtempSync(join(tmpdir(), 'govbank-systemd-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/**
 * A copy of a unit whose ExecStart program exists on this machine: verify checks that the program is
 * executable, and Node may live elsewhere than /usr/bin/node here. The script paths under
 * /opt/govbank-bridge are arguments, which verify does not open.
 */
function templated(unit: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const text = readFileSync(join(UNITS_DIR, unit), 'utf8').replaceAll(
    '/usr/bin/node ',
    `${process.execPath} `,
  );
  const path = join(dir, unit);
  writeFileSync(path, text);
  return path;
}

function run(args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(analyze.path ?? 'systemd-analyze', args, {
    cwd,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function dropIns(unit: string): string[] {
  try {
    return readdirSync(join(UNITS_DIR, `${unit}.d`)).filter((n) => n.endsWith('.conf.example'));
  } catch {
    return [];
  }
}

/** The overall exposure score from `systemd-analyze security`, e.g. 1.2 (lower is safer, 0 to 10). */
function exposure(output: string): number | undefined {
  const match = /Overall exposure level for \S+: (\d+(?:\.\d+)?) (\S+)/.exec(output);
  return match ? Number(match[1]) : undefined;
}

describe('systemd units', () => {
  it.each(UNITS)('%s declares the hardening issue 8 asks for', (unit) => {
    const text = readFileSync(join(UNITS_DIR, unit), 'utf8');
    const directives = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('['));
    const value = (key: string): string[] =>
      directives.filter((d) => d.startsWith(`${key}=`)).map((d) => d.slice(key.length + 1));
    expect(value('User')[0]).toMatch(/^govbank-(inner|outer)$/);
    expect(value('NoNewPrivileges')).toEqual(['yes']);
    expect(value('ProtectSystem')).toEqual(['strict']);
    expect(value('PrivateTmp')).toEqual(['yes']);
    expect(value('CapabilityBoundingSet')).toEqual(['']); // no capabilities at all
    expect(value('AmbientCapabilities')).toEqual(['']);
    expect(value('RestrictAddressFamilies')).toEqual(['AF_UNIX AF_INET AF_INET6']);
    expect(value('IPAddressDeny')).toEqual(['any']);
    expect(value('IPAddressAllow')).toEqual(['localhost']);
    expect(value('SocketBindDeny')).toEqual(['any']); // no listening socket, ever
    expect(value('EnvironmentFile')[0]).toMatch(/^\/etc\/govbank-bridge\/(inner|outer)\.env$/);
    expect(value('StateDirectory')).toHaveLength(1);
    expect(value('UMask')).toEqual(['0077']);
  });

  it.skipIf(!analyze.path)('a misspelt directive is reported (the check is not vacuous)', () => {
    const dir = join(work, 'control');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'control.service'),
      `[Service]\nExecStart=${process.execPath} --version\nProtectSystm=strict\n`,
    );
    const result = run(['verify', './control.service'], dir);
    expect(result.stderr).toContain("Unknown key 'ProtectSystm'");
  });

  it.skipIf(!analyze.path).each(UNITS)('systemd-analyze verify passes on %s, with no warning', (unit) => {
    const dir = join(work, 'plain');
    templated(unit, dir);
    const result = run(['verify', `./${unit}`], dir);
    expect(result.stderr, result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it.skipIf(!analyze.path).each(UNITS)(
    'systemd-analyze verify passes on %s with each drop-in example',
    (unit) => {
      const examples = dropIns(unit);
      expect(examples.length).toBeGreaterThan(0);
      for (const example of examples) {
        const dir = join(work, `dropin-${example}`);
        templated(unit, dir);
        mkdirSync(join(dir, `${unit}.d`), { recursive: true });
        copyFileSync(
          join(UNITS_DIR, `${unit}.d`, example),
          join(dir, `${unit}.d`, example.replace(/\.example$/, '')),
        );
        const result = run(['verify', `./${unit}`], dir);
        expect(result.stderr, `${example}: ${result.stderr}`).toBe('');
        expect(result.status).toBe(0);
      }
    },
  );

  it.skipIf(!analyze.path)('systemd-analyze security scores are recorded', () => {
    const lines: string[] = [];
    const record = (label: string, path: string, cwd: string): number => {
      const result = run(['security', '--offline=yes', `./${path}`], cwd);
      const score = exposure(result.stdout);
      expect(score, `${label}: ${result.stdout}${result.stderr}`).toBeDefined();
      lines.push(`${label}: exposure ${score} (0 is best, 10 worst)`);
      return score ?? 10;
    };
    for (const unit of UNITS) {
      const dir = join(work, 'security');
      templated(unit, dir);
      expect(record(unit, unit, dir)).toBeLessThanOrEqual(2);
      // `security --offline` does not read drop-ins, so a drop-in's effect is scored on the unit with
      // the drop-in's [Service] lines appended (what systemd merges at run time).
      for (const example of dropIns(unit)) {
        const merged = `${readFileSync(join(dir, unit), 'utf8')}\n${readFileSync(join(UNITS_DIR, `${unit}.d`, example), 'utf8')}`;
        const name = `${unit.replace('.service', '')}-with-${example.replace('.conf.example', '')}.service`;
        writeFileSync(join(dir, name), merged);
        expect(record(`${unit} + ${example}`, name, dir)).toBeLessThanOrEqual(2);
      }
    }
    const report = `${lines.join('\n')}\n`;
    writeFileSync(join(testOutputDir('systemd'), 'security.txt'), report);
    process.stdout.write(`systemd-analyze security --offline=yes:\n${report}`);
  });
});
