// Two processes opening a fresh state folder at the same moment (two `outer-node run` on one inbox,
// an `inner-node export` beside the daemon) must both get a working state database: creating it needs
// a write lock that SQLite refuses at once (SQLITE_BUSY) rather than waiting, so the open is retried
// (shared/state-database.ts). Real processes, real files: several rounds of six racing openers.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO } from '../support/bridge.js';

const root = mkdtempSync(join(tmpdir(), 'gbb-state-race-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function opener(
  module: string,
  className: string,
  dir: string,
): Promise<{ code: number | null; err: string }> {
  const script = `
    const { ${className} } = await import(${JSON.stringify(join(REPO, 'dist', module))});
    const state = new ${className}(${JSON.stringify(dir)});
    state.db.prepare('SELECT 1').get();
    state.close();`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => resolve({ code, err }));
  });
}

describe('state databases opened by racing processes', () => {
  for (const [module, className] of [
    ['outer-node/state.js', 'OuterState'],
    ['inner-node/state.js', 'InnerState'],
  ] as const) {
    it(`${className}: six processes open one fresh folder at once, five times over, and all succeed`, async () => {
      for (let round = 0; round < 5; round++) {
        const dir = join(root, `${className}-${round}`);
        const results = await Promise.all(Array.from({ length: 6 }, () => opener(module, className, dir)));
        expect(results.filter((r) => r.code !== 0).map((r) => r.err)).toEqual([]);
      }
    }, 120_000);
  }
});
