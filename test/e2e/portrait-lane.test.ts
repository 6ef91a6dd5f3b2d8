// Issue 7 as a bank and a county would run it: both daemons as separate processes, `bridge-ferry
// --every` carrying files each way, and an application recorded with `outer-node lend apply` for a
// person whose portrait the bank does not have. With no operator action the outer node requests the
// portrait over the reverse lane, the county releases it under the consent, and the application is
// decided with it. The logs of both daemons never show the full resident ID number.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, querySqlite, runCli, temporaryBridge } from '../support/bridge.js';
import { POLICY_FILE, writeTestModel } from '../outer/lending-fixture.js';
import { editYaml } from '../support/daemons.js';

function start(args: string[], log: { text: string }): ChildProcess {
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BRIDGE_LOG_LEVEL: 'info' },
  });
  child.stdout?.on('data', (d: Buffer) => (log.text += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log.text += d.toString()));
  return child;
}

function stopAll(children: ChildProcess[]): Promise<(number | null)[]> {
  return Promise.all(
    children.map(
      (child) =>
        new Promise<number | null>((resolve) => {
          if (child.exitCode !== null) return resolve(child.exitCode);
          child.once('exit', (code) => resolve(code));
          child.kill('SIGTERM');
        }),
    ),
  );
}

describe('an application decided through the reverse lane, daemons and ferries running', () => {
  let bridge: Awaited<ReturnType<typeof temporaryBridge>>;

  beforeAll(async () => {
    bridge = await temporaryBridge(300, 31);
    editYaml(bridge.innerConfig, [
      [['portraits', 'source'], 'county'],
      [['banks', 'bank-a', 'portraits'], '*'],
    ]);
    const model = join(bridge.outerDir, 'model.json');
    writeTestModel(model);
    editYaml(bridge.outerConfig, [
      [['lending', 'model'], model],
      [['lending', 'policy'], POLICY_FILE],
      [['lending', 'interval'], '200ms'],
      [['import', 'settle'], '0s'],
    ]);
  }, 120_000);
  afterAll(() => bridge.cleanup());

  it('requests the portrait, gets it from the county under the consent, and decides with it', async () => {
    const county = new Database(bridge.county.dbPath, { readonly: true });
    const { SFZH: idNumber } = county
      .prepare(
        "SELECT SFZH FROM RK_JBXX WHERE CSRQ <= '19950101' AND CSRQ >= '19700101' ORDER BY SFZH LIMIT 1",
      )
      .get() as { SFZH: string };
    county.close();
    const consentFile = join(bridge.dir, 'consent.json');
    writeFileSync(
      consentFile,
      JSON.stringify({
        consent_id: 'C-E2E-1',
        id_number: idNumber,
        bank: 'bank-a',
        purpose: 'lending',
        scope: ['*'],
        granted_at: new Date(Date.now() - 60_000).toISOString(),
        expires_at: new Date(Date.now() + 86_400_000).toISOString(),
        verified_by: 'counter-face-check',
      }),
    );
    const log = { text: '' };
    const children = [
      start([BIN.inner, 'run', '--config', bridge.innerConfig], log),
      start([BIN.outer, 'run', '--config', bridge.outerConfig], log),
      start(
        [
          BIN.ferry,
          '--from',
          join(bridge.innerDir, 'outbox'),
          '--to',
          join(bridge.outerDir, 'inbox'),
          '--every',
          '500ms',
        ],
        { text: '' },
      ),
      start(
        [
          BIN.ferry,
          '--from',
          join(bridge.outerDir, 'outbox'),
          '--to',
          join(bridge.innerDir, 'inbox'),
          '--every',
          '500ms',
        ],
        { text: '' },
      ),
    ];
    let codes: (number | null)[] = [];
    try {
      const submitted = Date.now();
      const { stdout } = await runCli(BIN.outer, [
        'lend',
        'apply',
        '--db',
        bridge.bankDb,
        '--id-number',
        idNumber,
        '--amount',
        '30000',
        '--consent',
        'C-E2E-1',
        '--consent-file',
        consentFile,
        '--application-id',
        'A-E2E-1',
      ]);
      expect(stdout).toContain('A-E2E-1 recorded');
      let decision: { decision: string; portrait_digest: string | null; record_json: string } | undefined;
      while (Date.now() - submitted < 60_000) {
        [decision] = querySqlite<NonNullable<typeof decision>>(
          bridge.bankDb,
          "SELECT decision, portrait_digest, record_json FROM lend_decisions WHERE application_id = 'A-E2E-1'",
        );
        if (decision) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const seconds = (Date.now() - submitted) / 1000;
      console.log(
        `application to decision through the reverse lane (ferry every 500 ms): ${seconds.toFixed(1)} s`,
      );
      expect(decision, `no decision; daemon logs:\n${log.text.slice(-3000)}`).toBeDefined();
      expect(decision!.portrait_digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      const [request] = querySqlite<{ status: string; refusal: string | null }>(
        bridge.bankDb,
        "SELECT status, refusal FROM lend_portrait_requests WHERE application_id = 'A-E2E-1'",
      );
      expect(request).toEqual({ status: 'answered', refusal: null });
    } finally {
      codes = await stopAll(children);
    }
    expect(codes.slice(0, 2)).toEqual([0, 0]);
    expect(log.text).toContain('portrait released');
    expect(log.text).toContain('portrait arrived');
    expect(log.text).not.toContain(idNumber);
  }, 120_000);
});
