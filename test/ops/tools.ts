// External programs the operations tests drive (systemd-analyze, promtool, chromium). Under CI=true a
// missing program is a failure; on a laptop without it the test is skipped with the reason printed.
import { accessSync, constants, mkdirSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';

export const CI = process.env['CI'] === 'true';
export const REPO = resolve(import.meta.dirname, '../..');

/** Where a test keeps what a person or CI should look at afterwards (gitignored, kept as an artefact). */
export function testOutputDir(name: string): string {
  const dir = join(REPO, 'test-output', name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export interface Tool {
  path: string | undefined;
  /** Why the tool is missing, with the Debian package that provides it; '' when found. */
  reason: string;
}

/** Looks a program up on PATH (and in the given extra places); throws under CI=true when it is missing. */
export function findTool(name: string, debianPackage: string, extra: readonly string[] = []): Tool {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean), ...extra];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return { path: candidate, reason: '' };
    } catch {
      // not here
    }
  }
  const reason = `${name} not found on PATH; install the Debian package '${debianPackage}' (apt-get install ${debianPackage})`;
  if (CI) throw new Error(`CI=true and ${reason}`);
  process.stderr.write(`SKIPPED: ${reason}\n`);
  return { path: undefined, reason };
}
