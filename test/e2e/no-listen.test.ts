// Neither node opens a listening socket of any kind (design 2): both daemons run for a few seconds,
// doing real work (export, ferry, import), while /proc is checked for TCP/UDP/raw sockets and Unix
// stream listeners held by their processes.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ferryOnce } from '../../shared/ferry/ferry.js';
import { listeningSockets, processTree } from '../support/sockets.js';
import { BIN, querySqlite, temporaryBridge } from '../support/bridge.js';
import { exited, startDaemon } from '../support/daemons.js';

describe('no listening socket', () => {
  let bridge: Awaited<ReturnType<typeof temporaryBridge>>;

  beforeAll(async () => {
    bridge = await temporaryBridge(1500, 5);
  });
  afterAll(() => bridge.cleanup());

  it('the detector itself sees TCP, UDP and Unix listeners (control)', async () => {
    const script = `
      const net = require('node:net'); const dgram = require('node:dgram');
      net.createServer().listen(0, '127.0.0.1');
      net.createServer().listen(require('node:path').join(require('node:os').tmpdir(), 'gbb-ctl-' + process.pid + '.sock'));
      dgram.createSocket('udp4').bind(0, '127.0.0.1');
      setTimeout(() => process.exit(0), 3000);`;
    const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 700));
    const tables = listeningSockets(processTree(child.pid ?? -1)).listeners.map((l) => l.table);
    child.kill('SIGKILL');
    expect(tables).toEqual(expect.arrayContaining(['tcp', 'udp', 'unix']));
  });

  it('inner and outer daemons hold no listener while they work, and stop cleanly on SIGTERM', async () => {
    const inner = startDaemon(BIN.inner, bridge.innerConfig);
    const outer = startDaemon(BIN.outer, bridge.outerConfig);
    let innerErr = '';
    let outerErr = '';
    inner.stderr?.on('data', (d: Buffer) => (innerErr += d.toString()));
    outer.stderr?.on('data', (d: Buffer) => (outerErr += d.toString()));
    try {
      const samples: string[] = [];
      const deadline = Date.now() + 6000;
      while (Date.now() < deadline) {
        await ferryOnce({ from: join(bridge.innerDir, 'outbox'), to: join(bridge.outerDir, 'inbox') });
        for (const [name, child] of [
          ['inner', inner],
          ['outer', outer],
        ] as const) {
          expect(
            child.exitCode,
            `${name} exited early: ${name === 'inner' ? innerErr : outerErr}`,
          ).toBeNull();
          const { listeners } = listeningSockets(processTree(child.pid ?? -1));
          samples.push(...listeners.map((l) => `${name} ${l.table}: ${l.line}`));
        }
        await new Promise((r) => setTimeout(r, 300));
      }
      expect(samples).toEqual([]);
      // They did real work while being watched.
      const applied = querySqlite<{ n: number }>(bridge.bankDb, 'SELECT COUNT(*) AS n FROM GOV_RESIDENT');
      expect(applied[0]?.n).toBe(1500);
      inner.kill('SIGTERM');
      outer.kill('SIGTERM');
      expect(await exited(inner)).toBe(0);
      expect(await exited(outer)).toBe(0);
    } finally {
      // A failed assertion must not leave daemons running after the test.
      for (const child of [inner, outer]) if (child.exitCode === null) child.kill('SIGKILL');
    }
    expect(innerErr).toContain('inner node stopped');
    expect(outerErr).toContain('outer node stopped');
  });
});
