// Portraits from the synthetic county, a scorecard trained on the synthetic loan history, and
// decisions: hard rules, reasons that match the points, money in whole yuan, the applications table
// answered in the decisions table, and the CLI end to end.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { errorCode } from '../../shared/errors.js';
import { computePortrait, type Consent, type Portrait } from '../../shared/portrait.js';
import { generateCounty } from '../../inner-node/synthetic/county.js';
import { portraitBatch } from '../../inner-node/portraits/batch.js';
import { CountyRecords } from '../../inner-node/portraits/county-records.js';
import { loadPortraitDefinition, releasePortrait } from '../../inner-node/portraits/release.js';
import { registerLendCommands } from '../../outer-node/lending/cli.js';
import { writeCsvFile } from '../../outer-node/lending/csv.js';
import { decide, type DecisionRecord } from '../../outer-node/lending/decision.js';
import { LendingStore } from '../../outer-node/lending/decisions-store.js';
import { generateLoanHistory } from '../../outer-node/lending/history.js';
import { loadPolicy, type Policy } from '../../outer-node/lending/policy.js';
import {
  loadModel,
  pointShortfalls,
  trainScorecard,
  type ScorecardModel,
} from '../../outer-node/lending/scorecard.js';

const NOW = new Date('2026-11-01T00:00:00+08:00');
const POLICY_FILE = join(import.meta.dirname, '../../outer-node/lending/policy.example.yaml');
const definition = loadPortraitDefinition();
const programme = {
  programme_id: 'P-2026-01',
  bank: 'bank-a',
  purpose: 'lending',
  features: definition.features,
  approved_by: 'county data office',
  valid_from: '2026-01-01T00:00:00+08:00',
  valid_until: '2027-01-01T00:00:00+08:00',
};
const consentFor = (idNumber: string, over: Partial<Consent> = {}): Consent => ({
  consent_id: `C-${idNumber.slice(-6)}`,
  id_number: idNumber,
  bank: 'bank-a',
  purpose: 'lending',
  scope: ['*'],
  granted_at: '2026-10-31T09:00:00+08:00',
  expires_at: '2026-12-31T00:00:00+08:00',
  verified_by: 'counter-face-check',
  ...over,
});

let dir: string;
let countyDb: string;
let povertyCsv: string;
let portraits: Portrait[];
let model: ScorecardModel;
let policy: Policy;
let historyCsv: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lend-'));
  const county = generateCounty({ seed: 11, residents: 6000, dir: join(dir, 'county'), now: NOW });
  countyDb = county.dbPath;
  povertyCsv = county.csvPath;
  portraits = [
    ...portraitBatch({
      countyDb,
      povertyCsv,
      definition,
      programme,
      grant: { bank: 'bank-a', features: definition.features },
      purpose: 'lending',
      now: NOW,
    }),
  ];
  const history = generateLoanHistory(portraits, { seed: 5 });
  historyCsv = join(dir, 'history.csv');
  writeCsvFile(historyCsv, history);
  model = trainScorecard(history, { label: 'default_12m', now: NOW, portfolioBadRate: 0.05 });
  policy = loadPolicy(POLICY_FILE);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('portraits', () => {
  it('are computed from contract rows as the definition says', () => {
    const p = computePortrait(
      {
        resident: {
          id_number: '34122519900615123X',
          birth_date: '1990-06-15',
          updated_at: '2026-01-02T02:00:00+08:00',
        },
        // Months before 2026-11 (the portrait month): 2026-10 and 2025-12 are within 12, 2024-12 within 24.
        social_security: [
          { month: '2026-10', contribution_base: '5000.00' },
          { month: '2025-12', contribution_base: '4800.50' },
          { month: '2024-12', contribution_base: '4500.00' },
          { month: '2023-10', contribution_base: '4000.00' },
        ],
        provident_fund: [{ month: '2026-09', monthly_deposit: '960.99' }],
        property: [{ appraised_value: '150000.00' }, { appraised_value: '120000.00' }],
        vehicles: [{}],
        enterprises: [{ status: '1' }, { status: '3' }],
        enforcement: [
          { dishonest: true, filed_on: '2024-01-01', closed_on: null },
          { dishonest: false, filed_on: '2020-01-01', closed_on: '2022-05-01' },
        ],
        poverty: { status: 'lifted' },
      },
      definition,
      NOW,
    );
    expect(p.features).toEqual({
      age: 36,
      ss_months_12: 2,
      ss_months_24: 3,
      ss_months_36: 3,
      ss_contribution_base: 5000,
      pf_monthly_deposit: 960,
      pf_months_24: 1,
      property_count: 2,
      property_value_band: 'band2',
      vehicle_count: 1,
      enterprise_active: 1,
      enforcement_open: 1,
      enforcement_closed_5y: 1,
      dishonest_debtor: true,
      poverty_status: 'lifted',
    });
    expect(p.sourceUpdatedAt).toBe('2026-01-02T02:00:00+08:00');
    for (const protectedName of ['gender', 'ethnicity', 'marital_status'])
      expect(p.features).not.toHaveProperty(protectedName);
  });

  it('cross only with consent, and only the features both granted and consented', () => {
    const county = new CountyRecords(countyDb, povertyCsv);
    try {
      const id = portraits[10]!.idNumber;
      const records = county.recordsFor(id)!;
      const grant = { bank: 'bank-a', features: ['age', 'ss_months_24', 'enforcement_open'] };
      const ok = releasePortrait(
        records,
        definition,
        grant,
        { consent: consentFor(id, { scope: ['age', 'ss_months_24', 'vehicle_count'] }) },
        'lending',
        NOW,
      );
      expect(ok.released && Object.keys(ok.portrait.features)).toEqual(['age', 'ss_months_24']);
      const expired = releasePortrait(
        records,
        definition,
        grant,
        { consent: consentFor(id, { expires_at: '2026-10-01T00:00:00+08:00' }) },
        'lending',
        NOW,
      );
      expect(!expired.released && expired.problems.join()).toMatch(/CONSENT_EXPIRED/);
      const other = releasePortrait(
        records,
        definition,
        grant,
        { consent: consentFor(portraits[11]!.idNumber) },
        'lending',
        NOW,
      );
      expect(!other.released && other.problems.join()).toMatch(/CONSENT_WRONG_PERSON/);
      const unverified = releasePortrait(
        records,
        definition,
        grant,
        { consent: consentFor(id, { verified_by: null }) },
        'lending',
        NOW,
      );
      expect(unverified.released).toBe(false);
    } finally {
      county.close();
    }
  });
});

describe('decisions', () => {
  let records: DecisionRecord[];
  beforeAll(() => {
    records = portraits.slice(0, 3000).map((p, i) =>
      decide({
        application: {
          applicationId: `A${i}`,
          idNumber: p.idNumber,
          amountYuan: 50_000,
          consentId: `C-${p.idNumber.slice(-6)}`,
        },
        portrait: p,
        consent: consentFor(p.idNumber),
        model,
        policy,
        bank: 'bank-a',
        now: NOW,
      }),
    );
  });

  it('reach all three outcomes on the synthetic county', () => {
    const outcomes = new Set(records.map((r) => r.decision));
    expect(outcomes).toEqual(new Set(['approve', 'refer', 'decline']));
  });

  it('carry reason codes on every decline and referral, and the score reasons match the points', () => {
    for (const r of records.filter((x) => x.decision !== 'approve')) {
      expect(r.reasons.length, r.applicationId).toBeGreaterThan(0);
      const expected = pointShortfalls(r.points, policy.reasons.count).map((p) => [
        p.name,
        p.maxPoints - p.points,
      ]);
      const scoreReasons = r.reasons
        .filter((x) => x.source === 'score')
        .map((x) => [x.characteristic, x.shortfall]);
      expect(scoreReasons).toEqual(expected);
      // Each score reason's shortfall is at least as large as that of every characteristic not named.
      const named = new Set(scoreReasons.map(([n]) => n));
      const smallestNamed = Math.min(...scoreReasons.map(([, s]) => s as number));
      for (const p of r.points)
        if (!named.has(p.name)) expect(p.maxPoints - p.points).toBeLessThanOrEqual(smallestNamed);
      // The points add up to the score.
      expect(r.points.reduce((s, p) => s + p.points, 0)).toBe(r.score);
    }
  });

  it('follow the hard rules and the cutoffs, with money in whole yuan', () => {
    for (const r of records) {
      const byRule = new Map(r.hardRules.map((h) => [h.rule, h]));
      if (
        byRule.get('age')?.passed === false ||
        byRule.get('enforcement')?.passed === false ||
        byRule.get('dishonest_debtor')?.passed === false
      ) {
        expect(r.decision).toBe('decline');
        expect(r.reasons[0]!.source).toBe('rule');
      }
      if (r.decision === 'approve') {
        expect(r.score!).toBeGreaterThanOrEqual(policy.cutoffs.approve_at);
        expect(
          Number.isSafeInteger(r.lineYuan) &&
            r.lineYuan >= policy.credit_line.min_line_yuan &&
            r.lineYuan <= 50_000,
        ).toBe(true);
        expect(r.lineYuan % policy.credit_line.round_down_to_yuan === 0 || r.lineYuan === 50_000).toBe(true);
        expect(r.ratePercent).toMatch(/^\d+\.\d+$/);
        expect(Number.isInteger(r.rateBasisPoints)).toBe(true);
      } else {
        expect(r.lineYuan).toBe(0);
      }
      expect(r.modelVersion).toBe(model.version);
      expect(r.policyVersion).toBe('county-consumer-credit@2026.11.1');
      expect(r.portraitDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    }
  });

  it('refer when the consent does not cover the model, and say why', () => {
    const p = portraits[0]!;
    const r = decide({
      application: { applicationId: 'X', idNumber: p.idNumber, amountYuan: 20_000, consentId: 'C' },
      portrait: p,
      consent: consentFor(p.idNumber, { scope: ['age'] }),
      model,
      policy,
      bank: 'bank-a',
      now: NOW,
    });
    expect(r.decision === 'decline' || r.decision === 'refer').toBe(true);
    expect(r.reasons.map((x) => x.code)).toContain('H04');
  });
});

describe('protected attributes', () => {
  it('a model file that uses one without a recorded override is refused', () => {
    const file = join(dir, 'tampered.json');
    const tampered = JSON.parse(JSON.stringify(model)) as ScorecardModel;
    tampered.characteristics[0]!.name = 'gender';
    writeFileSync(file, JSON.stringify(tampered));
    expect.assertions(2);
    try {
      loadModel(file);
    } catch (error) {
      expect(errorCode(error)).toBe('LEND_MODEL');
      expect(String(error)).toMatch(/gender: protected attribute/);
    }
  });
});

describe('applications table', () => {
  it('waits for a portrait, queues a request for the reverse lane, then decides when it arrives', () => {
    const store = new LendingStore(join(dir, 'bank.db'));
    try {
      const p = portraits[42]!;
      const consent = consentFor(p.idNumber);
      store.recordConsent(consent);
      store.submitApplication(
        { applicationId: 'APP-1', idNumber: p.idNumber, amountYuan: 30_000, consentId: consent.consent_id },
        NOW,
      );
      const first = store.answerPending({ model, policy, bank: 'bank-a', now: () => NOW });
      expect(first).toMatchObject({ decided: [], requested: 1, awaiting: 1 });
      expect(store.application('APP-1')?.status).toBe('awaiting_portrait');
      expect(
        store.db.prepare('SELECT id_number, consent_id, status FROM lend_portrait_requests').all(),
      ).toEqual([{ id_number: p.idNumber, consent_id: consent.consent_id, status: 'queued' }]);
      // The portrait arrives over the gap.
      store.putPortrait(p);
      const later = new Date(NOW.getTime() + 2000);
      const second = store.answerPending({ model, policy, bank: 'bank-a', now: () => later });
      expect(second.decided).toHaveLength(1);
      const row = store.db
        .prepare('SELECT * FROM lend_decisions WHERE application_id = ?')
        .get('APP-1') as Record<string, unknown>;
      expect(row).toMatchObject({
        consent_id: consent.consent_id,
        model_version: model.version,
        policy_version: 'county-consumer-credit@2026.11.1',
        application_to_decision_ms: 2000,
      });
      expect(typeof row['line_yuan']).toBe('number');
      expect(JSON.parse(row['points_json'] as string)).toHaveLength(model.characteristics.length);
      expect(store.application('APP-1')?.status).toBe('decided');
      // Without consent, no request goes out: referred at once with the consent reason.
      store.submitApplication(
        { applicationId: 'APP-2', idNumber: portraits[43]!.idNumber, amountYuan: 30_000, consentId: 'nope' },
        NOW,
      );
      const third = store.answerPending({ model, policy, bank: 'bank-a', now: () => later });
      expect(third.decided[0]?.reasons.map((r) => r.code)).toContain('H04');
    } finally {
      store.close();
    }
  });
});

describe('outer-node lend (CLI)', () => {
  async function run(args: string[]): Promise<string> {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    try {
      const program = new Command('outer-node').exitOverride();
      registerLendCommands(program);
      await program.parseAsync(['node', 'outer-node', ...args]);
    } finally {
      spy.mockRestore();
    }
    expect(process.exitCode ?? 0).toBe(0);
    return out.join('');
  }

  it('trains, evaluates, scores and decides', async () => {
    const modelFile = join(dir, 'model.json');
    expect(
      await run([
        'lend',
        'train',
        '--data',
        historyCsv,
        '--label',
        'default_12m',
        '--out',
        modelFile,
        '--portfolio-bad-rate',
        '0.05',
      ]),
    ).toMatch(/model scorecard@[0-9a-f]{12} written/);
    const evaluation = await run([
      'lend',
      'evaluate',
      '--model',
      modelFile,
      '--data',
      historyCsv,
      '--compare',
      historyCsv,
    ]);
    expect(evaluation).toMatch(/AUC 0\.\d{4}/);
    expect(evaluation).toMatch(/PSI 0\.0000/);
    const scored = join(dir, 'scored.csv');
    await run([
      'lend',
      'score',
      '--model',
      modelFile,
      '--data',
      historyCsv,
      '--out',
      scored,
      '--id',
      'loan_id',
    ]);
    expect(readFileSync(scored, 'utf8').split('\r\n')[0]).toMatch(/^loan_id,score,probability,points_/);
    const p = portraits[7]!;
    writeFileSync(join(dir, 'consent.json'), JSON.stringify(consentFor(p.idNumber)));
    writeFileSync(join(dir, 'portrait.json'), JSON.stringify(p));
    const decision = await run([
      'lend',
      'apply',
      '--db',
      join(dir, 'cli-bank.db'),
      '--id-number',
      p.idNumber,
      '--amount',
      '40000',
      '--consent',
      `C-${p.idNumber.slice(-6)}`,
      '--consent-file',
      join(dir, 'consent.json'),
      '--portrait-file',
      join(dir, 'portrait.json'),
      '--model',
      modelFile,
      '--policy',
      POLICY_FILE,
    ]);
    expect(decision).toMatch(/: (APPROVE|REFER|DECLINE)/);
    expect(decision).toMatch(/points per characteristic/);
  });
});
