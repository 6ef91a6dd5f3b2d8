// One lending decision, as a pure function of the application, the portrait, the consent, the model,
// the policy and the time (design 7). Order: hard rules (consent, portrait present and fresh, age,
// enforcement, dishonest debtor, amount), then the score against the cutoffs with a human-review band,
// then grade, rate and credit line. Every decline and referral carries reason codes: the hard rules
// that failed first, then the characteristics with the largest shortfall from their maximum points.
import { canonicalJson, sha256Hex } from '../../crypto/index.js';
import { PORTRAIT_FEATURE_NAMES, checkConsent, type Consent, type Portrait } from '../../shared/portrait.js';
import { creditLine, gradeFor, incomeProxy, policyVersion, rateBasisPoints, type Policy } from './policy.js';
import { pointShortfalls, scoreValues, type CharacteristicPoints, type ScorecardModel } from './scorecard.js';

export type DecisionOutcome = 'approve' | 'refer' | 'decline';

export interface Application {
  applicationId: string;
  idNumber: string;
  amountYuan: number;
  consentId: string | null;
}

export interface ReasonCode {
  code: string;
  text: string;
  source: 'rule' | 'score';
  /** For score reasons: the characteristic and its shortfall from the maximum points. */
  characteristic?: string;
  shortfall?: number;
}

export interface HardRuleResult {
  rule: keyof Policy['reasons']['rules'];
  passed: boolean;
  /** What a failure leads to. */
  outcome: 'decline' | 'refer';
  detail: string;
}

export interface DecisionRecord {
  recordFormat: 1;
  applicationId: string;
  consentId: string | null;
  portraitDigest: string | null;
  portraitAsOf: string | null;
  modelVersion: string;
  policyVersion: string;
  decision: DecisionOutcome;
  score: number | null;
  /** Probability of default the score stands for, 6 decimal places. */
  probability: string | null;
  grade: string | null;
  requestedYuan: number;
  /** Approved credit line in whole yuan; 0 unless approved. */
  lineYuan: number;
  /** Annual rate in basis points and as a percent string ('4.90'); null unless approved. */
  rateBasisPoints: number | null;
  ratePercent: string | null;
  points: CharacteristicPoints[];
  reasons: ReasonCode[];
  hardRules: HardRuleResult[];
  decidedAt: string;
  notes: string[];
}

export interface DecisionInput {
  application: Application;
  portrait: Portrait | undefined;
  consent: Consent | undefined;
  model: ScorecardModel;
  policy: Policy;
  /** This bank's name, as consents name it. */
  bank: string;
  now: Date;
  /** Why the county did not release a portrait, when it said so (shown on the referral). */
  portraitRefusal?: string;
}

/** Portrait features the decision reads beside the model's: hard rules and the income proxy. */
const DECISION_FEATURES = [
  'age',
  'enforcement_open',
  'dishonest_debtor',
  'ss_contribution_base',
  'pf_monthly_deposit',
];

/** The portrait features to ask the county for: the model's characteristics and what the rules read. */
export function featuresNeeded(model: ScorecardModel): string[] {
  const wanted = new Set([...model.characteristics.map((c) => c.name), ...DECISION_FEATURES]);
  return PORTRAIT_FEATURE_NAMES.filter((f) => wanted.has(f));
}

/** 'sha256:' + hex SHA-256 of the portrait's canonical JSON: what the decision was made from. */
export function portraitDigest(portrait: Portrait): string {
  return `sha256:${sha256Hex(canonicalJson(portrait))}`;
}

const DAY_MS = 86_400_000;

/** Whether a portrait is fresh enough for this policy at `now`. */
export function portraitIsFresh(portrait: Portrait, policy: Policy, now: Date): boolean {
  return now.getTime() - Date.parse(portrait.asOf) <= policy.hard_rules.max_portrait_age_days * DAY_MS;
}

function numberFeature(portrait: Portrait | undefined, name: string): number | null {
  const v = portrait?.features[name];
  return typeof v === 'number' ? v : null;
}

export function decide(input: DecisionInput): DecisionRecord {
  const { application, portrait, consent, model, policy, now } = input;
  const rules: HardRuleResult[] = [];
  const rule = (
    name: HardRuleResult['rule'],
    passed: boolean,
    outcome: 'decline' | 'refer',
    detail: string,
  ): void => {
    rules.push({ rule: name, passed, outcome, detail });
  };
  const notes: string[] = [];

  const used = model.characteristics.map((c) => c.name);
  const consentProblems = checkConsent(
    consent,
    { idNumber: application.idNumber, bank: input.bank, purpose: policy.purpose, features: used },
    now,
  );
  if (consent && application.consentId !== null && consent.consent_id !== application.consentId) {
    consentProblems.push({
      problem: 'CONSENT_MISSING',
      detail: `consent ${application.consentId} is not the one on record`,
    });
  }
  rule(
    'consent',
    consentProblems.length === 0,
    'refer',
    consentProblems.length === 0
      ? `consent ${consent?.consent_id} holds`
      : consentProblems.map((p) => `${p.problem}: ${p.detail}`).join('; '),
  );
  rule(
    'portrait_missing',
    portrait !== undefined,
    'refer',
    portrait
      ? `portrait of ${portrait.asOf}`
      : input.portraitRefusal !== undefined
        ? `the county did not release the portrait: ${input.portraitRefusal}`
        : 'no portrait',
  );
  if (portrait) {
    const fresh = portraitIsFresh(portrait, policy, now);
    rule(
      'portrait_stale',
      fresh,
      'refer',
      `portrait of ${portrait.asOf}, limit ${policy.hard_rules.max_portrait_age_days} days`,
    );
    if (portrait.idNumber !== application.idNumber) {
      rule('portrait_missing', false, 'refer', 'the portrait is of someone else');
    }
    const age = numberFeature(portrait, 'age');
    const { min, max } = policy.hard_rules.age;
    rule(
      'age',
      age !== null && age >= min && age <= max,
      'decline',
      `age ${age ?? 'unknown'}, band ${min}-${max}`,
    );
    const open = numberFeature(portrait, 'enforcement_open');
    if (open !== null) {
      rule(
        'enforcement',
        open <= policy.hard_rules.max_enforcement_open,
        'decline',
        `${open} open enforcement case(s)`,
      );
    }
    if (policy.hard_rules.decline_dishonest_debtor && portrait.features['dishonest_debtor'] !== undefined) {
      rule(
        'dishonest_debtor',
        portrait.features['dishonest_debtor'] !== true,
        'decline',
        `dishonest debtor: ${String(portrait.features['dishonest_debtor'])}`,
      );
    }
  }
  const { min: minAmount, max: maxAmount } = policy.hard_rules.amount_yuan;
  rule(
    'amount',
    Number.isSafeInteger(application.amountYuan) &&
      application.amountYuan >= minAmount &&
      application.amountYuan <= maxAmount,
    'decline',
    `amount ${application.amountYuan}, range ${minAmount}-${maxAmount}`,
  );

  // Score whenever there is a portrait, so that declines on hard rules still say where points fell short.
  const scored = portrait ? scoreValues(model, portrait.features) : undefined;
  const failed = rules.filter((r) => !r.passed);
  const ruleReasons: ReasonCode[] = failed
    .filter((r, i) => failed.findIndex((o) => o.rule === r.rule) === i)
    .map((r) => ({ ...policy.reasons.rules[r.rule], source: 'rule' as const }));

  let decision: DecisionOutcome;
  if (failed.some((r) => r.outcome === 'decline')) decision = 'decline';
  else if (failed.length > 0 || !scored) decision = 'refer';
  else if (scored.score >= policy.cutoffs.approve_at) decision = 'approve';
  else if (scored.score >= policy.cutoffs.refer_at) decision = 'refer';
  else decision = 'decline';

  let grade: Policy['grades'][number] | undefined;
  let lineYuan = 0;
  if (decision === 'approve' && scored && portrait) {
    grade = gradeFor(policy, scored.score);
    const income = incomeProxy(
      policy,
      numberFeature(portrait, 'ss_contribution_base'),
      numberFeature(portrait, 'pf_monthly_deposit'),
    );
    const line = creditLine(policy, grade, income, application.amountYuan);
    notes.push(
      `income proxy ${income} yuan a month; line ${line.computedYuan} before caps${line.capped.length ? ` (capped by ${line.capped.join(', ')})` : ''}`,
    );
    if (line.lineYuan < policy.credit_line.min_line_yuan) {
      decision = 'refer';
      ruleReasons.push({ ...policy.reasons.rules.line_below_minimum, source: 'rule' });
      rules.push({
        rule: 'line_below_minimum',
        passed: false,
        outcome: 'refer',
        detail: `line ${line.lineYuan} below ${policy.credit_line.min_line_yuan}`,
      });
    } else {
      lineYuan = line.lineYuan;
      if (lineYuan < application.amountYuan)
        notes.push(`counter-offer: ${lineYuan} of ${application.amountYuan} yuan requested`);
    }
  }

  const reasons: ReasonCode[] = [];
  if (decision !== 'approve') {
    reasons.push(...ruleReasons);
    if (scored) {
      for (const p of pointShortfalls(scored.points, policy.reasons.count)) {
        const r = policy.reasons.characteristics[p.name] ?? {
          code: p.name.slice(0, 8).toUpperCase(),
          text: `Low points on ${p.name}`,
        };
        reasons.push({ ...r, source: 'score', characteristic: p.name, shortfall: p.maxPoints - p.points });
      }
    }
  }
  const approved = decision === 'approve' ? grade : undefined;
  return {
    recordFormat: 1,
    applicationId: application.applicationId,
    consentId: consent?.consent_id ?? application.consentId,
    portraitDigest: portrait ? portraitDigest(portrait) : null,
    portraitAsOf: portrait?.asOf ?? null,
    modelVersion: model.version,
    policyVersion: policyVersion(policy),
    decision,
    score: scored?.score ?? null,
    probability: scored ? scored.probability.toFixed(6) : null,
    grade: scored ? gradeFor(policy, scored.score).grade : null,
    requestedYuan: application.amountYuan,
    lineYuan,
    rateBasisPoints: approved ? rateBasisPoints(approved.annual_rate_percent) : null,
    ratePercent: approved ? approved.annual_rate_percent : null,
    points: scored?.points ?? [],
    reasons,
    hardRules: rules,
    decidedAt: now.toISOString(),
    notes,
  };
}
