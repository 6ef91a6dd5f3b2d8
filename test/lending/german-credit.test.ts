// Quality on a public credit dataset (Statlog German Credit, fixtures/README.md): on a held-out 30%
// (fixed seed), the full scorecard (IV filter, sign check, integer points) must score within 0.01 AUC
// of standard scorecard tooling, a plain logistic regression on the WoE of the same bins, and every
// numeric characteristic's bins must be monotone. Also: the protected attribute in this set
// (personal status and sex) is refused, and allowed only by a recorded override.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { errorCode } from '../../shared/errors.js';
import { DEFAULT_BINNING, isMonotone } from '../../outer-node/lending/binning.js';
import type { Table } from '../../outer-node/lending/csv.js';
import { seededRandom } from '../../outer-node/lending/history.js';
import { auc, ks } from '../../outer-node/lending/metrics.js';
import {
  binCandidates,
  fitWoeLogistic,
  readLabels,
  scoreTable,
  selectCandidates,
  trainScorecard,
  type TrainOptions,
} from '../../outer-node/lending/scorecard.js';

const COLUMNS = [
  'checking_status',
  'duration',
  'credit_history',
  'purpose',
  'credit_amount',
  'savings_status',
  'employment',
  'installment_commitment',
  'personal_status_sex',
  'other_parties',
  'residence_since',
  'property_magnitude',
  'age',
  'other_payment_plans',
  'housing',
  'existing_credits',
  'job',
  'num_dependents',
  'own_telephone',
  'foreign_worker',
  'class',
];

function loadGerman(): Table {
  const text = readFileSync(join(import.meta.dirname, 'fixtures', 'german.data'), 'utf8');
  const rows = text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.trim().split(/\s+/));
  return { columns: COLUMNS, rows };
}

/** A seeded 70/30 split. */
function split(table: Table, seed: number): { train: Table; test: Table } {
  const random = seededRandom(seed);
  const order = table.rows.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const cut = Math.round(order.length * 0.7);
  const pick = (idx: number[]): Table => ({ columns: table.columns, rows: idx.map((i) => table.rows[i]!) });
  return { train: pick(order.slice(0, cut)), test: pick(order.slice(cut)) };
}

// Class 2 is bad. foreign_worker is listed as protected too (national origin).
const OPTIONS: TrainOptions = {
  label: 'class',
  badValue: '2',
  exclude: ['personal_status_sex'],
  protectedAttributes: ['foreign_worker'],
  now: new Date('2026-11-01T00:00:00Z'),
};

describe('German Credit (Statlog): scorecard against logistic regression on WoE', () => {
  const table = loadGerman();
  const { train, test } = split(table, 20261122);
  let results: { scorecard: number; reference: number; ks: number; characteristics: number } | undefined;

  beforeAll(() => {
    const opts = { ...OPTIONS, exclude: [...OPTIONS.exclude!, 'foreign_worker'] };
    const model = trainScorecard(train, opts);
    const labelsTest = readLabels(test, 'class', '2', 'test');
    const scorecardRisk = scoreTable(model, test).map((s) => s.probability);

    // Standard tooling: the same bins, every characteristic, a plain logistic regression on WoE.
    const labelsTrain = readLabels(train, 'class', '2', 'train');
    const binned = binCandidates(train, labelsTrain, selectCandidates(train, opts), DEFAULT_BINNING);
    const reference = fitWoeLogistic(train, labelsTrain, binned);
    const referenceRisk = reference.predict(test);
    results = {
      scorecard: auc(scorecardRisk, labelsTest),
      reference: auc(referenceRisk, labelsTest),
      ks: ks(scorecardRisk, labelsTest).ks,
      characteristics: model.characteristics.length,
    };
    // The figures, for the record (docs/lending.md quotes them).
    console.info(
      `German Credit hold-out (n=${test.rows.length}): scorecard AUC ${results.scorecard.toFixed(4)}, KS ${results.ks.toFixed(4)}, ${results.characteristics} characteristics; LR on WoE AUC ${results.reference.toFixed(4)}`,
    );
    for (const b of binned) expect(isMonotone(b), `${b.name} bins monotone`).toBe(true);
    for (const c of model.characteristics) {
      expect(isMonotone(c), `${c.name} bins monotone`).toBe(true);
      expect(c.coefficient, `${c.name} coefficient sign`).toBeLessThan(0);
    }
  });

  it('scores within 0.01 AUC of the reference on the hold-out, and well above chance', () => {
    expect(results).toBeDefined();
    expect(Math.abs(results!.scorecard - results!.reference)).toBeLessThanOrEqual(0.01);
    expect(results!.scorecard).toBeGreaterThan(0.7);
  });

  it('refuses a protected attribute as an input', () => {
    expect.assertions(3);
    try {
      trainScorecard(train, { ...OPTIONS, exclude: [] });
    } catch (error) {
      expect(errorCode(error)).toBe('LEND_PROTECTED_ATTRIBUTE');
      expect(String(error)).toContain('personal_status_sex (sex)');
      expect(String(error)).toContain('foreign_worker');
    }
  });

  it('allows it only by an explicit override that warns and is recorded in the model', () => {
    const warnings: string[] = [];
    const model = trainScorecard(train, {
      ...OPTIONS,
      exclude: ['foreign_worker'],
      allowProtected: ['personal_status_sex'],
      minIv: 0,
      warn: (m) => warnings.push(m),
    });
    expect(warnings).toEqual([expect.stringContaining('personal_status_sex')]);
    const used = model.characteristics.some((c) => c.name === 'personal_status_sex');
    expect(model.protectedOverrides.map((o) => o.name)).toEqual(used ? ['personal_status_sex'] : []);
  });
});
