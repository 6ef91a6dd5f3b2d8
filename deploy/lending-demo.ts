// The demo's lending step: the county releases portraits under a batch programme, the bank trains a
// scorecard on a synthetic loan history built from them (known ground truth, never from protected
// attributes), and one applicant with recorded consent gets an instant decision with reasons.
import { resolve } from 'node:path';
import { portraitBatch } from '../inner-node/portraits/batch.js';
import { loadPortraitDefinition } from '../inner-node/portraits/release.js';
import { formatDecision } from '../outer-node/lending/cli.js';
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
}

export function runLendingDemo(options: {
  countyDb: string;
  povertyCsv: string;
  bankDb: string;
  bank: string;
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
    return {
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
