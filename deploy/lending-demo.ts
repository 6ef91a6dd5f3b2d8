// The demo's lending step: the county releases portraits under a batch programme, the bank trains a
// scorecard on a synthetic loan history built from them (known ground truth, never from protected
// attributes), and one applicant with recorded consent gets an instant decision with reasons.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { portraitBatch } from '../inner-node/portraits/batch.js';
import { loadPortraitDefinition } from '../inner-node/portraits/release.js';
import { formatDecision } from '../outer-node/lending/cli.js';
import { editYamlConfig } from '../shared/config-loader.js';
import { LendingStore } from '../outer-node/lending/decisions-store.js';
import { generateLoanHistory } from '../outer-node/lending/history.js';
import { loadPolicy } from '../outer-node/lending/policy.js';
import { trainScorecard } from '../outer-node/lending/scorecard.js';

const REPO = resolve(import.meta.dirname, /[\\/]dist[\\/]deploy$/.test(import.meta.dirname) ? '../..' : '..');
export const EXAMPLE_POLICY = resolve(REPO, 'outer-node/lending/policy.example.yaml');

export interface LendingDemoResult {
  loans: number;
  auc: number;
  modelVersion: string;
  decision: string;
  decideMs: number;
  /** An applicant whose portrait the bank does not have yet, with a consent file ready to use. */
  laneApplicant: { idNumber: string; consentId: string; consentFile: string };
}

export function runLendingDemo(options: {
  countyDb: string;
  povertyCsv: string;
  bankDb: string;
  bank: string;
  /** The demo's node folders: lending and portraits are switched on in their configurations. */
  innerConfig: string;
  outerConfig: string;
  outerDir: string;
  now?: Date;
}): LendingDemoResult {
  const now = options.now ?? new Date();
  const definition = loadPortraitDefinition();
  const features = definition.features;
  const programme = {
    programme_id: 'DEMO-HISTORY',
    bank: options.bank,
    purpose: 'lending',
    features,
    approved_by: 'demo county data office',
    valid_from: new Date(now.getTime() - 86_400_000).toISOString(),
    valid_until: new Date(now.getTime() + 86_400_000).toISOString(),
  };
  const portraits = [
    ...portraitBatch({
      countyDb: options.countyDb,
      povertyCsv: options.povertyCsv,
      definition,
      programme,
      grant: { bank: options.bank, features },
      purpose: 'lending',
      now,
    }),
  ];
  const history = generateLoanHistory(portraits, { seed: 20261122 });
  const model = trainScorecard(history, { label: 'default_12m', portfolioBadRate: 0.05, now });
  const applicant = portraits.find((p) => p.features['age'] === 35) ?? portraits[0];
  if (!applicant) throw new Error('the synthetic county has no residents to lend to');
  const store = new LendingStore(options.bankDb);
  try {
    store.recordConsent({
      consent_id: 'DEMO-CONSENT-1',
      id_number: applicant.idNumber,
      bank: options.bank,
      purpose: 'lending',
      scope: ['*'],
      granted_at: now.toISOString(),
      expires_at: new Date(now.getTime() + 30 * 86_400_000).toISOString(),
      verified_by: 'demo counter',
    });
    store.putPortrait(applicant);
    store.submitApplication({
      applicationId: `DEMO-APP-${now.getTime()}`,
      idNumber: applicant.idNumber,
      amountYuan: 50_000,
      consentId: 'DEMO-CONSENT-1',
    });
    const started = performance.now();
    store.answerPending({ model, policy: loadPolicy(EXAMPLE_POLICY), bank: options.bank });
    const decideMs = performance.now() - started;
    const record = store.decision(`DEMO-APP-${now.getTime()}`);
    if (!record) throw new Error('the application was not answered');
    const laneApplicant = switchOnLendingOverTheLane(options, model, portraits, applicant.idNumber, now);
    return {
      laneApplicant,
      loans: history.rows.length,
      auc: model.training.auc,
      modelVersion: model.version,
      decision: formatDecision(record),
      decideMs,
    };
  } finally {
    store.close();
  }
}

/**
 * Leaves the demo ready for an application through the reverse lane: the model and the policy in
 * outer/lending/ and named in outer-node.yaml, portraits switched on in inner-node.yaml for the bank
 * (every feature), and a consent file for a second applicant whose portrait the bank does not have.
 */
function switchOnLendingOverTheLane(
  options: { innerConfig: string; outerConfig: string; outerDir: string; bank: string; povertyCsv: string },
  model: ReturnType<typeof trainScorecard>,
  portraits: readonly { idNumber: string; features: Record<string, unknown> }[],
  taken: string,
  now: Date,
): LendingDemoResult['laneApplicant'] {
  const dir = join(options.outerDir, 'lending');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.json'), `${JSON.stringify(model, null, 2)}\n`);
  copyFileSync(EXAMPLE_POLICY, join(dir, 'policy.yaml'));
  editYamlConfig(options.outerConfig, [
    [['lending', 'model'], 'lending/model.json'],
    [['lending', 'policy'], 'lending/policy.yaml'],
  ]);
  editYamlConfig(options.innerConfig, [
    [['portraits', 'source'], 'county'],
    [['portraits', 'poverty_csv'], options.povertyCsv],
    [['banks', options.bank, 'portraits'], '*'],
  ]);
  const person =
    portraits.find((p) => p.idNumber !== taken && p.features['age'] === 41) ??
    portraits.find((p) => p.idNumber !== taken);
  if (!person) throw new Error('the synthetic county has only one resident');
  const consentId = 'DEMO-CONSENT-2';
  const consentFile = join(dir, 'consent-2.json');
  writeFileSync(
    consentFile,
    `${JSON.stringify(
      {
        consent_id: consentId,
        id_number: person.idNumber,
        bank: options.bank,
        purpose: 'lending',
        scope: ['*'],
        granted_at: now.toISOString(),
        expires_at: new Date(now.getTime() + 30 * 86_400_000).toISOString(),
        verified_by: 'demo counter',
      },
      null,
      2,
    )}\n`,
  );
  return { idNumber: person.idNumber, consentId, consentFile };
}
