// The four command-line programs start and describe themselves, from dist/ and through npm's bin links.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const ENV = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };

interface Program {
  bin: string;
  entry: string;
  /** Commands (or options) the help must list. */
  listed: string[];
}

const PROGRAMS: Program[] = [
  {
    bin: 'inner-node',
    entry: 'dist/inner-node/cli.js',
    listed: ['init', 'check', 'export', 'run', 'status'],
  },
  {
    bin: 'outer-node',
    entry: 'dist/outer-node/cli.js',
    listed: ['init', 'check', 'schema', 'import', 'run', 'status'],
  },
  { bin: 'bridge-keys', entry: 'dist/crypto/cli.js', listed: ['ca', 'issue', 'list', 'inspect'] },
  { bin: 'bridge-ferry', entry: 'dist/shared/ferry/cli.js', listed: ['--from', '--to'] },
];

interface Output {
  stdout: string;
  stderr: string;
}

/** Help output per program, straight from dist/. */
const direct = new Map<string, Output>();
/** inner-node's help through its npm bin link. */
let linked: Output | undefined;

// npm does not link a package's own bins into its node_modules/.bin; `npx --no-install` resolves
// them from package.json instead, running the entry through its shebang. Only inner-node goes
// through npm (about half a second each); the others' shebang and mode are checked statically.
function runLinked(bin: string): Promise<Output> {
  const link = join(REPO, 'node_modules/.bin', bin);
  return existsSync(link)
    ? run(link, ['--help'], { cwd: REPO, env: ENV, timeout: 20_000 })
    : run('npx', ['--no-install', bin, '--help'], { cwd: REPO, env: ENV, timeout: 30_000 });
}

beforeAll(async () => {
  if (!existsSync(join(REPO, 'dist/inner-node/cli.js'))) {
    execFileSync('npm', ['run', 'build'], { cwd: REPO, stdio: 'pipe', env: ENV });
  }
  // All runs at once; a non-zero exit rejects and fails every test here with the command's output.
  await Promise.all([
    ...PROGRAMS.map((program) =>
      run(process.execPath, [join(REPO, program.entry), '--help'], {
        cwd: REPO,
        env: ENV,
        timeout: 20_000,
      }).then((out) => direct.set(program.bin, out)),
    ),
    runLinked('inner-node').then((out) => (linked = out)),
  ]);
}, 300_000);

/** Asserts a help text names the program and lists each command or option at the start of a line. */
function expectHelp(output: Output | undefined, program: Program): void {
  expect(output, `${program.bin} ran`).toBeDefined();
  const stdout = output?.stdout ?? '';
  expect(stdout).toContain(`Usage: ${program.bin}`);
  for (const item of program.listed) {
    const pattern = new RegExp(`^\\s+${item.replace(/-/g, '\\-')}\\b`, 'm');
    expect(stdout, `${program.bin} --help lists ${item}`).toMatch(pattern);
  }
}

describe('--help from dist/', () => {
  it.each(PROGRAMS)('$bin exits 0 and lists its commands', (program) => {
    expectHelp(direct.get(program.bin), program);
    expect(direct.get(program.bin)?.stderr).toBe('');
  });
});

describe('the npm bin links', () => {
  it('package.json maps each program to its dist entry', () => {
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
    };
    expect(pkg.bin).toEqual(Object.fromEntries(PROGRAMS.map((p) => [p.bin, p.entry])));
  });

  it.each(PROGRAMS)('$bin is executable with a node shebang', (program) => {
    const path = join(REPO, program.entry);
    expect(readFileSync(path, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(statSync(path).mode & 0o111, `${program.entry} is executable`).toBe(0o111);
  });

  it('inner-node --help works through the bin link from the repository root', () => {
    const inner = PROGRAMS[0];
    if (!inner) throw new Error('no programs');
    expectHelp(linked, inner);
  });
});
