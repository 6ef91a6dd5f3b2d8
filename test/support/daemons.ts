// Test support: the daemons as a user runs them (`inner-node run`, `outer-node run` in their own
// processes), and small edits of their configuration files between runs.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

/** Starts `bin run --config config` with its log (level info) on the child's standard error. */
export function startDaemon(bin: string, config: string): ChildProcess {
  return spawn(process.execPath, [bin, 'run', '--config', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BRIDGE_LOG_LEVEL: 'info' },
  });
}

/** The child's exit code once it has exited (at once when it already has). */
export function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

/** Replaces `from` in a text file; throws when the file has no match (the test's premise is gone). */
export function rewrite(path: string, from: RegExp, to: string): void {
  const text = readFileSync(path, 'utf8');
  if (!from.test(text)) throw new Error(`${path} has no ${String(from)}`);
  writeFileSync(path, text.replace(from, to));
}

/** Sets (or, with undefined, removes) values of a YAML configuration, keeping its comments. */
export { editYamlConfig as editYaml } from '../../shared/config-loader.js';
