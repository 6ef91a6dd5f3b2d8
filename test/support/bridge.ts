// Test support: a whole bridge in a temporary folder (real CA, keys, county and bank databases), plus
// a content digest of a bank table so tests can prove "nothing changed".
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { buildDemoEnvironment, type DemoEnvironment } from '../../deploy/demo-environment.js';

export const REPO = resolve(import.meta.dirname, '../..');
export const BIN = {
  inner: join(REPO, 'dist/inner-node/cli.js'),
  outer: join(REPO, 'dist/outer-node/cli.js'),
  keys: join(REPO, 'dist/crypto/cli.js'),
  ferry: join(REPO, 'dist/shared/ferry/cli.js'),
};

export async function temporaryBridge(
  residents = 2000,
  seed = 7,
): Promise<DemoEnvironment & { cleanup(): void }> {
  const root = mkdtempSync(join(tmpdir(), 'gbb-test-'));
  const env = await buildDemoEnvironment({ dir: join(root, 'bridge'), residents, seed });
  return { ...env, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** Row count and SHA-256 over every row of a table in key order: equal digests mean equal content. */
export function tableDigest(
  dbPath: string,
  table: string,
  orderBy: string,
): { rows: number; digest: string } {
  const db = new Database(dbPath, { readonly: true });
  try {
    const hash = createHash('sha256');
    let rows = 0;
    for (const row of db.prepare(`SELECT * FROM "${table}" ORDER BY ${orderBy}`).iterate()) {
      hash.update(JSON.stringify(row));
      hash.update('\n');
      rows++;
    }
    return { rows, digest: hash.digest('hex') };
  } finally {
    db.close();
  }
}

export function querySqlite<T>(dbPath: string, sql: string): T[] {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

const execFileAsync = promisify(execFile);

/** Runs one of the compiled commands as a user would; returns its output (throws on non-zero exit). */
export async function runCli(bin: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return execFileAsync(process.execPath, [bin, ...args], {
    cwd: REPO,
    env: { ...process.env, BRIDGE_LOG_LEVEL: 'warn' },
  });
}
