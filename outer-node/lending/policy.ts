// The lending policy: a versioned YAML file the credit team owns (hard rules, score cutoffs with a
// human-review band, risk grades with their annual rates, the credit-line formula and its caps, and
// the reason codes). Money is whole yuan (integers); rates and multipliers are exact decimal strings,
// never floats, and the arithmetic on them is done in integers (BigInt).
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { LendingError } from './errors.js';

const decimal = (what: string) =>
  z.string().regex(/^\d+(\.\d{1,4})?$/, `${what}: a decimal string such as '4.35' (at most 4 places)`);
const yuan = z.number().int().nonnegative();

const ReasonSchema = z.strictObject({ code: z.string().min(1).max(8), text: z.string().min(1) });

export const PolicySchema = z
  .strictObject({
    name: z.string().min(1),
    version: z.string().min(1),
    description: z.string().optional(),
    /** The purpose a consent must name for a decision. */
    purpose: z.string().min(1).default('lending'),
    hard_rules: z.strictObject({
      age: z.strictObject({ min: z.number().int(), max: z.number().int() }),
      max_enforcement_open: z.number().int().nonnegative().default(0),
      decline_dishonest_debtor: z.boolean().default(true),
      max_portrait_age_days: z.number().positive(),
      amount_yuan: z.strictObject({ min: yuan, max: yuan }),
    }),
    cutoffs: z.strictObject({
      /** score >= approve_at: approve; refer_at <= score < approve_at: human review; else decline. */
      approve_at: z.number().int(),
      refer_at: z.number().int(),
    }),
    /** Risk grades, highest first; the first whose min_score the score reaches applies. */
    grades: z
      .array(
        z.strictObject({
          grade: z.string().min(1),
          min_score: z.number().int(),
          annual_rate_percent: decimal('annual_rate_percent'),
          line_multiplier: decimal('line_multiplier'),
          cap_yuan: yuan,
        }),
      )
      .min(1),
    credit_line: z.strictObject({
      income_proxy: z.strictObject({
        /** Monthly income proxy: the largest of these, in whole yuan. */
        contribution_base: decimal('contribution_base'),
        provident_fund_deposit: decimal('provident_fund_deposit'),
        floor_yuan: yuan,
      }),
      round_down_to_yuan: z.number().int().positive(),
      min_line_yuan: yuan,
      max_line_yuan: yuan,
    }),
    reasons: z.strictObject({
      count: z.number().int().min(1).max(10).default(4),
      /** Reason per characteristic, used when it falls short of its maximum points. */
      characteristics: z.record(z.string(), ReasonSchema),
      /** Reason per hard rule. */
      rules: z.strictObject({
        age: ReasonSchema,
        enforcement: ReasonSchema,
        dishonest_debtor: ReasonSchema,
        consent: ReasonSchema,
        portrait_missing: ReasonSchema,
        portrait_stale: ReasonSchema,
        amount: ReasonSchema,
        line_below_minimum: ReasonSchema,
      }),
    }),
  })
  .superRefine((p, ctx) => {
    if (p.cutoffs.refer_at > p.cutoffs.approve_at) {
      ctx.addIssue({ code: 'custom', path: ['cutoffs'], message: 'refer_at must not be above approve_at' });
    }
    if (p.hard_rules.age.min > p.hard_rules.age.max) {
      ctx.addIssue({ code: 'custom', path: ['hard_rules', 'age'], message: 'min must not be above max' });
    }
    for (let i = 1; i < p.grades.length; i++) {
      if (p.grades[i]!.min_score >= p.grades[i - 1]!.min_score) {
        ctx.addIssue({
          code: 'custom',
          path: ['grades', i],
          message: 'grades must be listed from the highest min_score down',
        });
      }
    }
  });

export type Policy = z.infer<typeof PolicySchema>;

/** Parses a policy from YAML text, listing every problem with its path (style rule 9). */
export function parsePolicy(text: string, where: string): Policy {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new LendingError('LEND_POLICY', 'the policy file is not valid YAML', { where, cause: error });
  }
  const parsed = PolicySchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new LendingError('LEND_POLICY', `the policy file is invalid: ${problems.join('; ')}`, { where });
  }
  return parsed.data;
}

export function loadPolicy(path: string): Policy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new LendingError('LEND_POLICY', 'cannot read the policy file', { where: path, cause: error });
  }
  return parsePolicy(text, path);
}

export const policyVersion = (p: Policy): string => `${p.name}@${p.version}`;

/** A decimal string as an integer scaled by 10^4 ('4.35' -> 43500n). */
function scaled(decimalText: string): bigint {
  const [whole = '0', fraction = ''] = decimalText.split('.');
  return BigInt(whole) * 10_000n + BigInt(fraction.padEnd(4, '0'));
}

/** floor(amount * multiplier) in whole yuan, exactly. */
export function multiplyYuan(amountYuan: number, multiplier: string): number {
  return Number((BigInt(amountYuan) * scaled(multiplier)) / 10_000n);
}

/** An annual rate in percent ('4.35') as basis points (435). */
export function rateBasisPoints(percent: string): number {
  return Number(scaled(percent) / 100n);
}

export function gradeFor(policy: Policy, score: number): Policy['grades'][number] {
  return policy.grades.find((g) => score >= g.min_score) ?? policy.grades[policy.grades.length - 1]!;
}

/** Monthly income proxy in whole yuan from portrait features, by the policy's factors. */
export function incomeProxy(
  policy: Policy,
  contributionBase: number | null,
  pfDeposit: number | null,
): number {
  const p = policy.credit_line.income_proxy;
  return Math.max(
    p.floor_yuan,
    contributionBase === null ? 0 : multiplyYuan(contributionBase, p.contribution_base),
    pfDeposit === null ? 0 : multiplyYuan(pfDeposit, p.provident_fund_deposit),
  );
}

/** The credit line: income proxy x grade multiplier, rounded down, within every cap and the amount asked. */
export function creditLine(
  policy: Policy,
  grade: Policy['grades'][number],
  income: number,
  requestedYuan: number,
): { lineYuan: number; computedYuan: number; capped: string[] } {
  const c = policy.credit_line;
  const raw = multiplyYuan(income, grade.line_multiplier);
  const computed = Math.floor(raw / c.round_down_to_yuan) * c.round_down_to_yuan;
  const capped: string[] = [];
  let line = computed;
  if (line > grade.cap_yuan) {
    line = grade.cap_yuan;
    capped.push(`grade ${grade.grade} cap ${grade.cap_yuan}`);
  }
  if (line > c.max_line_yuan) {
    line = c.max_line_yuan;
    capped.push(`policy cap ${c.max_line_yuan}`);
  }
  if (line > requestedYuan) {
    line = requestedYuan;
    capped.push('amount requested');
  }
  return { lineYuan: line, computedYuan: computed, capped };
}
