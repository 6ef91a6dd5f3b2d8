// Portraits (design 7): per person, a few derived features computed from contract rows on the
// government side, so the raw records never cross. Both nodes read this file: the inner node computes
// and releases portraits, the outer node scores them. Everything here is pure; time is an argument.
//
// The feature catalogue below says what each feature means; a definition file (versioned YAML or JSON,
// e.g. inner-node/portraits/portrait-definition.yaml) chooses which features a portrait carries and
// their parameters. Money features are whole yuan (integers, rounded down from exact decimal strings,
// never through a float); protected attributes (gender, ethnicity, marital status) are never features.
import { z } from 'zod';

export type PortraitValue = number | string | boolean | null;

/** Every feature the inner node knows how to compute, with its kind. */
export const PORTRAIT_FEATURES = {
  age: { kind: 'integer', description: 'Age in whole years on the portrait date' },
  ss_months_12: { kind: 'integer', description: 'Social-security months paid in the last 12 months' },
  ss_months_24: { kind: 'integer', description: 'Social-security months paid in the last 24 months' },
  ss_months_36: { kind: 'integer', description: 'Social-security months paid in the last 36 months' },
  ss_contribution_base: {
    kind: 'integer',
    description: 'Latest social-security contribution base in the last 36 months, whole yuan (null: none)',
  },
  pf_monthly_deposit: {
    kind: 'integer',
    description:
      'Latest provident-fund monthly deposit in the last 12 months, whole yuan (0: sealed; null: no account)',
  },
  pf_months_24: {
    kind: 'integer',
    description: 'Provident-fund months with a deposit in the last 24 months',
  },
  property_count: { kind: 'integer', description: 'Registered real-estate units' },
  property_value_band: {
    kind: 'enum',
    values: ['none', 'band1', 'band2', 'band3', 'band4'],
    description: 'Total appraised value of real estate, in the bands the definition sets',
  },
  vehicle_count: { kind: 'integer', description: 'Registered motor vehicles' },
  enterprise_active: {
    kind: 'integer',
    description: 'Businesses the person represents whose registration is in force (status 1, 存续)',
  },
  enforcement_open: { kind: 'integer', description: 'Court enforcement cases still open' },
  enforcement_closed_5y: { kind: 'integer', description: 'Enforcement cases closed in the last five years' },
  dishonest_debtor: { kind: 'boolean', description: 'On the dishonest-debtor list in an open case' },
  poverty_status: {
    kind: 'enum',
    values: ['none', 'lifted', 'unstable', 'marginal', 'hardship'],
    description: 'Poverty-alleviation status (none when not on the roll)',
  },
} as const satisfies Record<string, FeatureSpec>;

interface FeatureSpec {
  kind: 'integer' | 'enum' | 'boolean';
  values?: readonly string[];
  description: string;
}

export type PortraitFeatureName = keyof typeof PORTRAIT_FEATURES;
export const PORTRAIT_FEATURE_NAMES = Object.keys(PORTRAIT_FEATURES) as PortraitFeatureName[];

/** Attributes that are never portrait features nor model inputs unless a bank overrides it knowingly. */
export const PROTECTED_ATTRIBUTES = ['gender', 'sex', 'ethnicity', 'marital_status'] as const;

const featureName = z.string().refine((name) => Object.hasOwn(PORTRAIT_FEATURES, name), {
  message: `not a portrait feature (known: ${PORTRAIT_FEATURE_NAMES.join(', ')})`,
});

/** A portrait definition file: the versioned list of features and their parameters. */
export const PortraitDefinitionSchema = z.strictObject({
  name: z.string().min(1),
  version: z.number().int().positive(),
  description: z.string().optional(),
  features: z.array(featureName).min(1),
  /** Upper bounds (exclusive, whole yuan) of band1..band3; band4 is everything above. */
  property_value_bands: z
    .array(z.number().int().positive())
    .length(3)
    .refine((b) => b[0]! < b[1]! && b[1]! < b[2]!, 'bands must rise')
    .default([200_000, 500_000, 1_000_000]),
});
export type PortraitDefinition = z.infer<typeof PortraitDefinitionSchema>;

/** Checks a parsed definition file, listing every problem (style rule 9). */
export function parsePortraitDefinition(value: unknown, where: string): PortraitDefinition {
  const parsed = PortraitDefinitionSchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new RangeError(`portrait definition ${where} is invalid: ${problems.join('; ')}`);
  }
  const seen = new Set<string>();
  for (const f of parsed.data.features) {
    if (seen.has(f)) throw new RangeError(`portrait definition ${where}: feature ${f} is listed twice`);
    seen.add(f);
  }
  return parsed.data;
}

/** A portrait as it crosses the gap: no raw records, only the features the bank may receive. */
export interface Portrait {
  /** Portrait format version. */
  format: 1;
  definition: { name: string; version: number };
  idNumber: string;
  /** When it was computed (ISO 8601 with offset). */
  asOf: string;
  /** Latest updated_at among the records it was computed from (null when there were none). */
  sourceUpdatedAt: string | null;
  features: Record<string, PortraitValue>;
}

/** The contract rows of one person, as the inner node's mappings produce them (contracts.ts names). */
export interface PersonRecords {
  resident: { id_number: string; birth_date: string; updated_at?: string | null };
  social_security: readonly { month: string; contribution_base: string; updated_at?: string | null }[];
  provident_fund: readonly { month: string; monthly_deposit: string; updated_at?: string | null }[];
  property: readonly { appraised_value: string | null; updated_at?: string | null }[];
  vehicles: readonly { updated_at?: string | null }[];
  enterprises: readonly { status: string | null; updated_at?: string | null }[];
  enforcement: readonly {
    dishonest: boolean;
    filed_on: string | null;
    closed_on: string | null;
    updated_at?: string | null;
  }[];
  poverty: { status: 'lifted' | 'unstable' | 'marginal' | 'hardship' } | null;
}

/** 'YYYY-MM-DD' of an instant in Beijing time (the county's civil calendar). */
export function beijingDate(instant: Date): string {
  return new Date(instant.getTime() + 8 * 3_600_000).toISOString().slice(0, 10);
}

const monthIndex = (yyyyMm: string): number =>
  Number(yyyyMm.slice(0, 4)) * 12 + Number(yyyyMm.slice(5, 7)) - 1;

/** Whole yuan from an exact decimal string, rounded down; never through a float. */
export function wholeYuan(decimal: string): number {
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(decimal.trim());
  if (!match) throw new RangeError(`not a decimal amount: ${decimal}`);
  const whole = Number(match[2]);
  const hasFraction = (match[3] ?? '').replace(/0/g, '') !== '';
  return match[1] === '-' ? -whole - (hasFraction ? 1 : 0) : whole;
}

function ageOn(birthDate: string, onDate: string): number {
  const years = Number(onDate.slice(0, 4)) - Number(birthDate.slice(0, 4));
  return onDate.slice(5) < birthDate.slice(5) ? years - 1 : years;
}

/**
 * Computes a portrait from one person's contract rows (what the inner node runs). Months count back
 * from the month of `asOf` (Beijing time), not including it: the last 12 months of a portrait taken
 * on 2026-11-01 are 2025-11 to 2026-10.
 */
export function computePortrait(
  records: PersonRecords,
  definition: PortraitDefinition,
  asOf: Date,
): Portrait {
  const today = beijingDate(asOf);
  const current = monthIndex(today);
  const within = (month: string, n: number): boolean => {
    const m = monthIndex(month);
    return m < current && m >= current - n;
  };
  const ss = records.social_security;
  const latest = <T extends { month: string }>(rows: readonly T[], n: number): T | undefined => {
    let best: T | undefined;
    for (const r of rows) if (within(r.month, n) && (!best || r.month > best.month)) best = r;
    return best;
  };
  const fiveYearsAgo = `${Number(today.slice(0, 4)) - 5}${today.slice(4)}`;
  const isOpen = (c: PersonRecords['enforcement'][number]): boolean => !c.closed_on || c.closed_on > today;

  const compute: Record<PortraitFeatureName, () => PortraitValue> = {
    age: () => ageOn(records.resident.birth_date, today),
    ss_months_12: () => ss.filter((r) => within(r.month, 12)).length,
    ss_months_24: () => ss.filter((r) => within(r.month, 24)).length,
    ss_months_36: () => ss.filter((r) => within(r.month, 36)).length,
    ss_contribution_base: () => {
      const row = latest(ss, 36);
      return row ? wholeYuan(row.contribution_base) : null;
    },
    pf_monthly_deposit: () => {
      if (records.provident_fund.length === 0) return null;
      const row = latest(records.provident_fund, 12);
      return row ? wholeYuan(row.monthly_deposit) : 0;
    },
    pf_months_24: () =>
      records.provident_fund.filter((r) => within(r.month, 24) && wholeYuan(r.monthly_deposit) > 0).length,
    property_count: () => records.property.length,
    property_value_band: () => {
      if (records.property.length === 0) return 'none';
      let total = 0;
      for (const p of records.property) total += p.appraised_value ? wholeYuan(p.appraised_value) : 0;
      const [b1, b2, b3] = definition.property_value_bands;
      return total < b1! ? 'band1' : total < b2! ? 'band2' : total < b3! ? 'band3' : 'band4';
    },
    vehicle_count: () => records.vehicles.length,
    enterprise_active: () =>
      records.enterprises.filter((e) => e.status === '1' || e.status === '存续').length,
    enforcement_open: () => records.enforcement.filter(isOpen).length,
    enforcement_closed_5y: () =>
      records.enforcement.filter((c) => !isOpen(c) && (c.closed_on ?? '') >= fiveYearsAgo).length,
    dishonest_debtor: () => records.enforcement.some((c) => c.dishonest && isOpen(c)),
    poverty_status: () => records.poverty?.status ?? 'none',
  };
  const features: Record<string, PortraitValue> = {};
  for (const name of definition.features) features[name] = compute[name as PortraitFeatureName]();

  let sourceUpdatedAt: string | null = null;
  let latestMs = -Infinity;
  const consider = (stamp: string | null | undefined): void => {
    if (!stamp) return;
    const ms = Date.parse(stamp);
    if (ms > latestMs) {
      latestMs = ms;
      sourceUpdatedAt = stamp;
    }
  };
  consider(records.resident.updated_at);
  for (const list of [
    records.social_security,
    records.provident_fund,
    records.property,
    records.vehicles,
    records.enterprises,
    records.enforcement,
  ]) {
    for (const row of list) consider(row.updated_at);
  }
  return {
    format: 1,
    definition: { name: definition.name, version: definition.version },
    idNumber: records.resident.id_number,
    asOf: asOf.toISOString(),
    sourceUpdatedAt,
    features,
  };
}

/** Keeps only the features a bank may receive (set by the county per bank). */
export function restrictPortrait(portrait: Portrait, allowed: readonly string[]): Portrait {
  const features: Record<string, PortraitValue> = {};
  for (const [name, value] of Object.entries(portrait.features))
    if (allowed.includes(name)) features[name] = value;
  return { ...portrait, features };
}

// ---- Consent (design 7: consent first) ----

export const ConsentSchema = z.strictObject({
  consent_id: z.string().min(1).max(64),
  id_number: z.string().length(18),
  bank: z.string().min(1),
  purpose: z.string().min(1),
  /** Portrait features the person agreed to share, or ['*'] for every feature the bank may receive. */
  scope: z.array(z.string().min(1)).min(1),
  granted_at: z.iso.datetime({ offset: true }),
  expires_at: z.iso.datetime({ offset: true }),
  /** How the bank verified the person's identity and signature; null when not verified. */
  verified_by: z.string().min(1).nullable(),
});
export type Consent = z.infer<typeof ConsentSchema>;

/** A county-approved batch programme: portraits for listed people without individual requests. */
export const BatchProgrammeSchema = z.strictObject({
  programme_id: z.string().min(1),
  bank: z.string().min(1),
  purpose: z.string().min(1),
  features: z.array(z.string().min(1)).min(1),
  approved_by: z.string().min(1),
  valid_from: z.iso.datetime({ offset: true }),
  valid_until: z.iso.datetime({ offset: true }),
});
export type BatchProgramme = z.infer<typeof BatchProgrammeSchema>;

export type ConsentProblem =
  | 'CONSENT_MISSING'
  | 'CONSENT_WRONG_PERSON'
  | 'CONSENT_WRONG_BANK'
  | 'CONSENT_WRONG_PURPOSE'
  | 'CONSENT_NOT_YET_VALID'
  | 'CONSENT_EXPIRED'
  | 'CONSENT_NOT_VERIFIED'
  | 'CONSENT_OUT_OF_SCOPE';

/**
 * Whether a consent covers releasing (or using) the given features of this person to this bank for
 * this purpose at `now`. Returns every problem found; an empty list means the consent holds.
 */
export function checkConsent(
  consent: Consent | undefined,
  want: { idNumber: string; bank: string; purpose: string; features: readonly string[] },
  now: Date,
): { problem: ConsentProblem; detail: string }[] {
  if (!consent) return [{ problem: 'CONSENT_MISSING', detail: 'no consent on record' }];
  const out: { problem: ConsentProblem; detail: string }[] = [];
  if (consent.id_number !== want.idNumber) {
    out.push({ problem: 'CONSENT_WRONG_PERSON', detail: 'the consent was given by someone else' });
  }
  if (consent.bank !== want.bank) {
    out.push({ problem: 'CONSENT_WRONG_BANK', detail: `the consent is for ${consent.bank}` });
  }
  if (consent.purpose !== want.purpose) {
    out.push({ problem: 'CONSENT_WRONG_PURPOSE', detail: `the consent is for ${consent.purpose}` });
  }
  if (Date.parse(consent.granted_at) > now.getTime()) {
    out.push({ problem: 'CONSENT_NOT_YET_VALID', detail: `granted ${consent.granted_at}` });
  }
  if (Date.parse(consent.expires_at) <= now.getTime()) {
    out.push({ problem: 'CONSENT_EXPIRED', detail: `expired ${consent.expires_at}` });
  }
  if (!consent.verified_by) out.push({ problem: 'CONSENT_NOT_VERIFIED', detail: 'identity not verified' });
  if (!consent.scope.includes('*')) {
    const missing = want.features.filter((f) => !consent.scope.includes(f));
    if (missing.length > 0) {
      out.push({ problem: 'CONSENT_OUT_OF_SCOPE', detail: `not covered: ${missing.join(', ')}` });
    }
  }
  return out;
}

/** Whether a batch programme covers these features for this bank at `now`; every problem listed. */
export function checkProgramme(
  programme: BatchProgramme,
  want: { bank: string; purpose: string; features: readonly string[] },
  now: Date,
): string[] {
  const out: string[] = [];
  if (programme.bank !== want.bank) out.push(`programme ${programme.programme_id} is for ${programme.bank}`);
  if (programme.purpose !== want.purpose) out.push(`programme purpose is ${programme.purpose}`);
  const t = now.getTime();
  if (t < Date.parse(programme.valid_from) || t >= Date.parse(programme.valid_until)) {
    out.push(`programme ${programme.programme_id} is not valid at ${now.toISOString()}`);
  }
  const missing = want.features.filter((f) => !programme.features.includes(f));
  if (missing.length > 0) out.push(`programme does not cover ${missing.join(', ')}`);
  return out;
}

// ---- Portrait answers (design 7, issue 7): the county's reply to a consent-backed request ----

/** The stream a bank's portrait answers from one inner node travel in (kind 'portrait'). */
export function portraitStreamName(inner: string, bank: string): string {
  return `${inner}.${bank}.portraits`;
}

/** Largest portrait answer body accepted (one person's features: a few hundred bytes in practice). */
export const MAX_PORTRAIT_ANSWER_BYTES = 64 * 1024;

const portraitValue = z.union([z.number().finite(), z.string().max(64), z.boolean(), z.null()]);

/** A portrait as it crosses the gap, checked again on arrival (signed by the county, still validated). */
export const PortraitSchema = z.strictObject({
  format: z.literal(1),
  definition: z.strictObject({ name: z.string().min(1).max(64), version: z.number().int().positive() }),
  idNumber: z.string().length(18),
  asOf: z.iso.datetime({ offset: true }),
  sourceUpdatedAt: z.iso.datetime({ offset: true }).nullable(),
  features: z
    .record(z.string(), portraitValue)
    .refine((f) => Object.keys(f).every((name) => Object.hasOwn(PORTRAIT_FEATURES, name)), {
      message: 'carries a feature that is not in the catalogue',
    }),
});

/**
 * The body of a 'portrait' bundle: the answer to one portrait request, either the released portrait
 * or the county's reasons for not releasing it (so the bank decides at once instead of waiting).
 */
export const PortraitAnswerSchema = z.discriminatedUnion('released', [
  z.strictObject({
    kind: z.literal('portrait-answer'),
    requestId: z.string().min(1).max(64),
    released: z.literal(true),
    portrait: PortraitSchema,
  }),
  z.strictObject({
    kind: z.literal('portrait-answer'),
    requestId: z.string().min(1).max(64),
    released: z.literal(false),
    problems: z.array(z.string().min(1).max(300)).min(1).max(32),
  }),
]);
export type PortraitAnswer = z.infer<typeof PortraitAnswerSchema>;
