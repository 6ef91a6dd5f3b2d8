// A stop at any moment of start-up (style.md rule 10): `inner-node run` and `outer-node run` get
// SIGTERM at several moments, from just after exec, through the opening of keys, state and databases,
// to just after they report running, and every time they end promptly and cleanly: exit code 0, or,
// for a signal that lands before the program's code has loaded, the documented default (ended by
// SIGTERM itself, having opened nothing: see stopSignal in shared/cli-support.ts). No daemon is left
// behind, and the inner node's pid file is gone. And a start-up that fails after it has connected to
// PostgreSQL (here: the state folder is a file) ends promptly with its error, signalled or not, even
// though the failed start-up leaves that connection open (shared/cli-support.ts exitWhenIdle).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, temporaryBridge } from '../support/bridge.js';
import { createPostgresDatabase, serverAvailability } from '../support/databases.js';

const pgState = await serverAvailability('postgres');

type Bridge = Awaited<ReturnType<typeof temporaryBridge>>;

/** From the signal to the exit; a start-up step (keys, a database) may have to finish first. */
const PROMPT_MS = 10_000;

interface Outcome {
  when: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Milliseconds from the signal to the exit. */
  stopMs: number;
  /** What the daemon had logged when the signal was sent, and in all. */
  logBefore: string;
  log: string;
}

function exited(
  child: ChildProcess,
  timeoutMs: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null } | 'hung'> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    const timer = setTimeout(() => resolve('hung'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Starts a daemon, sends SIGTERM after `ms` or once `line` is logged (unless it ended), awaits its exit. */
async function stopDuringStartup(
  bin: string,
  config: string,
  trigger: { ms: number } | { line: string },
): Promise<Outcome> {
  const child = spawn(process.execPath, [bin, 'run', '--config', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, BRIDGE_LOG_LEVEL: 'info' },
  });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  try {
    // Until the moment comes, or the daemon has ended by itself.
    const deadline = Date.now() + ('ms' in trigger ? trigger.ms : 60_000);
    const reached = (): boolean => 'line' in trigger && log.includes(trigger.line);
    while (!reached() && child.exitCode === null && child.signalCode === null && Date.now() < deadline)
      await sleep(2);
    const logBefore = log;
    const signalled = Date.now();
    child.kill('SIGTERM');
    const result = await exited(child, PROMPT_MS * 3);
    if (result === 'hung') throw new Error(`still running ${PROMPT_MS * 3} ms after SIGTERM:\n${log}`);
    const when = 'ms' in trigger ? `${trigger.ms} ms after spawn` : `on '${trigger.line}'`;
    return { when, ...result, stopMs: Date.now() - signalled, logBefore, log };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** Every outcome must be a prompt, clean stop; returns them for the caller's own checks. */
function expectCleanStop(outcome: Outcome, side: 'inner' | 'outer'): void {
  const context = `${side} node stopped ${outcome.when}: ${JSON.stringify({ code: outcome.code, signal: outcome.signal, stopMs: outcome.stopMs })}\n${outcome.log.slice(-3000)}`;
  expect(outcome.stopMs, context).toBeLessThan(PROMPT_MS);
  if (outcome.logBefore.includes(`${side} node starting`)) {
    // Our code was running when the signal came: it is a stop request, never a kill.
    expect({ code: outcome.code, signal: outcome.signal }, context).toEqual({ code: 0, signal: null });
  } else if (outcome.code !== 0) {
    // Only before the program's code has loaded may the signal's default action end the process.
    expect({ code: outcome.code, signal: outcome.signal }, context).toEqual({
      code: null,
      signal: 'SIGTERM',
    });
    expect(outcome.log, context).not.toContain(`${side} node starting`);
  }
  // A clean stop logs no error (pino levels 50 and 60).
  expect(outcome.log, context).not.toMatch(/"level":(50|60)/);
}

describe('a SIGTERM during start-up ends the daemons promptly and cleanly', () => {
  let bridge: Bridge;

  beforeAll(async () => {
    bridge = await temporaryBridge(200, 13);
  });
  afterAll(() => bridge.cleanup());

  for (const side of ['inner', 'outer'] as const) {
    it(`${side}-node run`, async () => {
      const bin = side === 'inner' ? BIN.inner : BIN.outer;
      const config = side === 'inner' ? bridge.innerConfig : bridge.outerConfig;
      const pidFile = join(bridge.innerDir, 'state', 'inner-node.pid');
      const outcomes: Outcome[] = [];
      const record = (outcome: Outcome): Outcome => {
        expectCleanStop(outcome, side);
        if (side === 'inner') expect(existsSync(pidFile), `pid file left ${outcome.when}`).toBe(false);
        outcomes.push(outcome);
        return outcome;
      };

      // Once fully started: how long start-up takes on this machine now, for the moments in between.
      const spawned = Date.now();
      const running = record(await stopDuringStartup(bin, config, { line: `${side} node running` }));
      const startupMs = Date.now() - spawned - running.stopMs;
      expect(running.log).toContain(`${side} node stopped`);

      // Right after our code starts, before keys, state or databases are opened: a stop request that
      // start-up honours before it starts anything.
      const opening = record(await stopDuringStartup(bin, config, { line: `${side} node starting` }));
      expect(opening.log).toContain(`${side} node stopped during start-up`);
      expect(opening.log).not.toContain(`${side} node running`);

      // Fixed moments after spawn, and moments spread over this machine's start-up.
      const moments = [0, 50, 150, 400, ...[0.3, 0.6, 0.8, 0.95].map((f) => Math.round(f * startupMs))];
      for (const ms of moments) record(await stopDuringStartup(bin, config, { ms }));

      // And it starts again afterwards: nothing was left half-done.
      record(await stopDuringStartup(bin, config, { line: `${side} node running` }));
      const summary = outcomes.map((o) => `${o.when}: ${o.code ?? o.signal} in ${o.stopMs} ms`).join('; ');
      process.stderr.write(`${side}-node run, start-up ${startupMs} ms; ${summary}\n`);
    }, 180_000);
  }

  it.skipIf(!pgState.available)(
    `outer-node run: a start-up that fails with a PostgreSQL connection open still ends ${pgState.reason}`,
    async () => {
      const db = await createPostgresDatabase();
      try {
        const config = join(bridge.outerDir, 'broken-state.yaml');
        writeFileSync(join(bridge.outerDir, 'state-file'), 'a file where the state folder should be\n');
        const text = readFileSync(bridge.outerConfig, 'utf8')
          .replace(/^ {2}state: state\b/m, '  state: state-file')
          .replace(
            /^target:\n {2}kind: sqlite\n {2}path: bank\.db$/m,
            `target:\n  kind: postgres\n  url: ${db.url}`,
          );
        expect(text).toContain('state: state-file');
        expect(text).toContain('kind: postgres');
        writeFileSync(config, text);
        // Left alone (it ends by itself long before 30 s), and signalled as soon as it starts.
        for (const trigger of [{ ms: 30_000 }, { line: 'outer node starting' }]) {
          const spawned = Date.now();
          const outcome = await stopDuringStartup(BIN.outer, config, trigger);
          const context = `${outcome.when}: ${JSON.stringify({ code: outcome.code, signal: outcome.signal })}\n${outcome.log}`;
          // The start-up error is the outcome (exit code 1), signalled or not, within seconds.
          expect({ code: outcome.code, signal: outcome.signal }, context).toEqual({ code: 1, signal: null });
          expect(outcome.log, context).toContain('state-file');
          expect(Date.now() - spawned, context).toBeLessThan(PROMPT_MS + 5000);
        }
      } finally {
        await db.drop();
      }
    },
    120_000,
  );
});
