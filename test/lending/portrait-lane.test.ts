// Portraits over the reverse lane (issue 7) with real keys, real files and the synthetic county: an
// application without a fresh portrait makes the bank's outer node send a consent-backed request; the
// county's inner node checks the consent and its grant to that bank, computes the portrait from its own
// records and seals it back; the bank records it and decides. Refusals (expired consent, nobody by that
// number, an unverified consent) come back as reasons on the referral at once, not after the wait.
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openInnerContext, type InnerContext } from '../../inner-node/context.js';
import { answerPortraitRequest } from '../../inner-node/portraits/requests.js';
import { intakeReverseLane } from '../../inner-node/reverse-inbox.js';
import { openOuterContext, type OuterContext } from '../../outer-node/context.js';
import { contextWorkers, workerPass } from '../../outer-node/import.js';
import { sendPortraitRequests } from '../../outer-node/lending-watch.js';
import { featuresNeeded } from '../../outer-node/lending/decision.js';
import { LendingStore } from '../../outer-node/lending/decisions-store.js';
import { loadPolicy, type Policy } from '../../outer-node/lending/policy.js';
import { loadModel, type ScorecardModel } from '../../outer-node/lending/scorecard.js';
import { isTemporaryName } from '../../shared/atomic-file.js';
import { createLogger } from '../../shared/logger.js';
import type { Consent } from '../../shared/portrait.js';
import { temporaryBridge } from '../support/bridge.js';
import { POLICY_FILE, writeTestModel } from '../outer/lending-fixture.js';
import { residentId } from '../outer/support.js';
import { editYaml } from '../support/daemons.js';

const logger = createLogger({ name: 'test', level: 'silent' });

let bridge: Awaited<ReturnType<typeof temporaryBridge>>;
let inner: InnerContext;
let outer: OuterContext;
let store: LendingStore;
let model: ScorecardModel;
let policy: Policy;
let residents: string[];

/** The ferry: every finished file of `from` moved into `to` (a diode does no more). */
function carry(from: string, to: string): number {
  mkdirSync(to, { recursive: true });
  let moved = 0;
  for (const name of existsSync(from) ? readdirSync(from) : []) {
    if (isTemporaryName(name)) continue;
    renameSync(join(from, name), join(to, name));
    moved++;
  }
  return moved;
}

beforeAll(async () => {
  bridge = await temporaryBridge(200, 23);
  editYaml(bridge.innerConfig, [
    [['portraits', 'source'], 'county'],
    [['banks', 'bank-a', 'portraits'], '*'],
  ]);
  const modelFile = join(bridge.outerDir, 'model.json');
  writeTestModel(modelFile);
  editYaml(bridge.outerConfig, [
    [['lending', 'model'], modelFile],
    [['lending', 'policy'], POLICY_FILE],
    // Files the test carries are complete: no need to wait for them to settle.
    [['import', 'settle'], '0s'],
  ]);
  model = loadModel(modelFile);
  policy = loadPolicy(POLICY_FILE);
  const county = new Database(bridge.county.dbPath, { readonly: true });
  residents = (
    county.prepare('SELECT SFZH FROM RK_JBXX ORDER BY SFZH LIMIT 5').all() as { SFZH: string }[]
  ).map((r) => r.SFZH);
  county.close();
  inner = await openInnerContext(bridge.innerConfig, logger);
  outer = await openOuterContext(bridge.outerConfig, logger);
  store = new LendingStore(bridge.bankDb);
}, 120_000);

afterAll(async () => {
  store.close();
  inner.close();
  await outer.close();
  bridge.cleanup();
});

function consentFor(idNumber: string, id: string, overrides: Partial<Consent> = {}): Consent {
  const now = Date.now();
  const consent: Consent = {
    consent_id: id,
    id_number: idNumber,
    bank: 'bank-a',
    purpose: 'lending',
    scope: ['*'],
    granted_at: new Date(now - 3_600_000).toISOString(),
    expires_at: new Date(now + 30 * 86_400_000).toISOString(),
    verified_by: 'counter-face-check',
    ...overrides,
  };
  store.recordConsent(consent);
  return consent;
}

/** One round trip: bank pass and send, ferry in, county answers, ferry out, bank imports and decides. */
async function roundTrip(): Promise<{ released: boolean; problems: string[] }[]> {
  store.answerPending({ model, policy, bank: 'bank-a' });
  await sendPortraitRequests(outer, store, model, 30_000);
  carry(outer.settings.folders.outbox, inner.settings.folders.inbox);
  const intake = await intakeReverseLane(inner);
  expect(intake.refused).toEqual([]);
  const answers = [];
  for (const accepted of intake.accepted) {
    if (accepted.message.kind !== 'portrait-request') continue;
    answers.push(await answerPortraitRequest(inner, { sender: accepted.sender, message: accepted.message }));
  }
  carry(inner.settings.folders.outbox, outer.settings.folders.inbox);
  const [worker] = contextWorkers(outer, 1);
  await workerPass(outer, worker!);
  store.answerPending({ model, policy, bank: 'bank-a' });
  return answers;
}

describe('portraits over the reverse lane', () => {
  it('a consented request is answered with a portrait computed by the county, and the application is decided', async () => {
    const idNumber = residents[0]!;
    consentFor(idNumber, 'C-lane-1');
    store.submitApplication({
      applicationId: 'A-lane-1',
      idNumber,
      amountYuan: 30_000,
      consentId: 'C-lane-1',
    });
    const answers = await roundTrip();
    expect(answers).toHaveLength(1);
    expect(answers[0]!.released).toBe(true);
    // Only what the bank asked for (its model and policy) of what it is granted: data minimisation.
    expect(new Set(Object.keys(store.portrait(idNumber)!.features))).toEqual(new Set(featuresNeeded(model)));
    const decision = store.decision('A-lane-1');
    expect(decision).toBeDefined();
    expect(decision!.portraitDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(decision!.hardRules.find((r) => r.rule === 'portrait_missing')?.passed).toBe(true);
    // The county recorded what it released, under which consent; the log line masks the ID number.
    const state = new Database(join(inner.settings.folders.state, 'inner-state.db'), { readonly: true });
    try {
      const rows = state.prepare('SELECT consent_id, released FROM portrait_answers').all();
      expect(rows).toEqual([{ consent_id: 'C-lane-1', released: 1 }]);
    } finally {
      state.close();
    }
  });

  it('an expired consent is refused by the county, and the referral says why at once', async () => {
    const idNumber = residents[1]!;
    consentFor(idNumber, 'C-lane-2', {
      granted_at: new Date(Date.now() - 40 * 86_400_000).toISOString(),
      expires_at: new Date(Date.now() - 86_400_000).toISOString(),
    });
    store.submitApplication({
      applicationId: 'A-lane-2',
      idNumber,
      amountYuan: 30_000,
      consentId: 'C-lane-2',
    });
    const answers = await roundTrip();
    expect(answers[0]!.released).toBe(false);
    expect(answers[0]!.problems.join(' ')).toContain('CONSENT_EXPIRED');
    const decision = store.decision('A-lane-2')!;
    expect(decision.decision).toBe('refer');
    expect(decision.portraitDigest).toBeNull();
    const missing = decision.hardRules.find((r) => r.rule === 'portrait_missing')!;
    expect(missing.detail).toContain('the county did not release the portrait');
    expect(missing.detail).toContain('CONSENT_EXPIRED');
    expect(store.portrait(idNumber)).toBeUndefined();
  });

  it('a person the county does not know gets a refusal, not a portrait', async () => {
    const idNumber = residentId(987_654);
    expect(residents).not.toContain(idNumber);
    consentFor(idNumber, 'C-lane-3');
    store.submitApplication({
      applicationId: 'A-lane-3',
      idNumber,
      amountYuan: 30_000,
      consentId: 'C-lane-3',
    });
    const answers = await roundTrip();
    expect(answers[0]!.problems.join(' ')).toContain('PERSON_NOT_FOUND');
    expect(store.decision('A-lane-3')!.decision).toBe('refer');
  });

  it('an unverified consent is never sent: the application is referred with the reason', async () => {
    const idNumber = residents[2]!;
    consentFor(idNumber, 'C-lane-4', { verified_by: null });
    store.submitApplication({
      applicationId: 'A-lane-4',
      idNumber,
      amountYuan: 30_000,
      consentId: 'C-lane-4',
    });
    const answers = await roundTrip();
    expect(answers).toEqual([]);
    const decision = store.decision('A-lane-4')!;
    expect(decision.decision).toBe('refer');
    expect(JSON.stringify(decision.hardRules)).toContain('CONSENT_NOT_VERIFIED');
  });

  it('a bank the county grants no portraits gets a refusal naming that', async () => {
    editYaml(bridge.innerConfig, [[['banks', 'bank-a', 'portraits'], undefined]]);
    const strict = await openInnerContext(bridge.innerConfig, logger);
    try {
      const idNumber = residents[3]!;
      const answer = await answerPortraitRequest(strict, {
        sender: 'bank-a',
        message: {
          kind: 'portrait-request',
          requestId: 'lpr-999',
          consent: {
            consentId: 'C-lane-5',
            idNumber,
            purpose: 'lending',
            scope: ['*'],
            grantedAt: new Date(Date.now() - 3_600_000).toISOString(),
            expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
            verifiedBy: 'counter-face-check',
          },
          features: ['age'],
        },
      });
      expect(answer.released).toBe(false);
      expect(answer.problems.join(' ')).toContain('NOT_GRANTED');
    } finally {
      strict.close();
      editYaml(bridge.innerConfig, [[['banks', 'bank-a', 'portraits'], '*']]);
    }
  });

  it('a duplicated portrait bundle changes nothing', async () => {
    const idNumber = residents[4]!;
    consentFor(idNumber, 'C-lane-6');
    store.submitApplication({
      applicationId: 'A-lane-6',
      idNumber,
      amountYuan: 30_000,
      consentId: 'C-lane-6',
    });
    store.answerPending({ model, policy, bank: 'bank-a' });
    await sendPortraitRequests(outer, store, model, 30_000);
    carry(outer.settings.folders.outbox, inner.settings.folders.inbox);
    const intake = await intakeReverseLane(inner);
    const request = intake.accepted.find((a) => a.message.kind === 'portrait-request')!;
    if (request.message.kind !== 'portrait-request') throw new Error('no request');
    const answer = await answerPortraitRequest(inner, { sender: request.sender, message: request.message });
    const file = readdirSync(inner.settings.folders.outbox).find((n) => n.includes('.portraits.'))!;
    mkdirSync(outer.settings.folders.inbox, { recursive: true });
    writeFileSync(join(outer.settings.folders.inbox, `copy-${file}`), readFileSync(answer.sealed.path));
    carry(inner.settings.folders.outbox, outer.settings.folders.inbox);
    const [worker] = contextWorkers(outer, 1);
    const summary = await workerPass(outer, worker!);
    expect(summary.quarantined).toBe(0);
    expect(readdirSync(outer.settings.folders.inbox)).toEqual([]);
    store.answerPending({ model, policy, bank: 'bank-a' });
    expect(store.decision('A-lane-6')?.portraitDigest).toMatch(/^sha256:/);
  });
});
