// A synthetic loan history for the demo and the tests: one past loan per portrait, with a default
// outcome drawn from a known ground-truth probability of default that depends only on portrait
// features (never on gender, ethnicity or marital status, which portraits do not even carry). The
// truth is written beside each row (column _true_pd; columns starting with _ are never model inputs),
// so a trained scorecard can be checked against it.
import type { Portrait, PortraitValue } from '../../shared/portrait.js';
import type { Table } from './csv.js';

/** Ground-truth log-odds of default within 12 months, from portrait features. */
export function trueLogOdds(f: Readonly<Record<string, PortraitValue>>): number {
  const num = (name: string): number => {
    const v = f[name];
    return typeof v === 'number' ? v : 0;
  };
  const age = num('age');
  let z = -2.2;
  z += age < 25 ? 0.5 : age < 35 ? 0.15 : age <= 50 ? -0.2 : age <= 60 ? 0 : 0.3;
  z -= 0.05 * Math.min(num('ss_months_24'), 24);
  const base = f['ss_contribution_base'];
  if (typeof base === 'number') z -= 0.4 * Math.log(1 + base / 4200);
  if (typeof f['pf_monthly_deposit'] === 'number') z -= num('pf_months_24') >= 12 ? 0.5 : 0.2;
  z -= 0.3 * Math.min(num('property_count'), 3);
  z -= 0.25 * Math.min(num('vehicle_count'), 2);
  z += num('enterprise_active') > 0 ? 0.15 : 0;
  z += 1.1 * Math.min(num('enforcement_open'), 2);
  z += 0.5 * Math.min(num('enforcement_closed_5y'), 2);
  z += f['dishonest_debtor'] === true ? 1.4 : 0;
  const poverty: Record<string, number> = { lifted: 0.3, unstable: 0.8, marginal: 0.6, hardship: 0.9 };
  z += poverty[String(f['poverty_status'])] ?? 0;
  return z;
}

export const truePd = (f: Readonly<Record<string, PortraitValue>>): number =>
  1 / (1 + Math.exp(-trueLogOdds(f)));

/** mulberry32: a small, fast, seedable generator (not for anything secret). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export interface HistoryOptions {
  seed: number;
  /** Only people in this age band had loans (default 18-70). */
  minAge?: number;
  maxAge?: number;
  label?: string;
}

const cell = (v: PortraitValue | undefined): string => (v === null || v === undefined ? '' : String(v));

/** One loan per eligible portrait: loan_id, the portrait's features, the outcome and the truth. */
export function generateLoanHistory(portraits: Iterable<Portrait>, options: HistoryOptions): Table {
  const random = seededRandom(options.seed);
  const label = options.label ?? 'default_12m';
  let features: string[] | undefined;
  const rows: string[][] = [];
  let n = 0;
  for (const p of portraits) {
    features ??= Object.keys(p.features);
    const age = p.features['age'];
    if (typeof age === 'number' && (age < (options.minAge ?? 18) || age > (options.maxAge ?? 70))) continue;
    const pd = truePd(p.features);
    const bad = random() < pd ? '1' : '0';
    n++;
    rows.push([
      `L${String(n).padStart(7, '0')}`,
      ...features.map((f) => cell(p.features[f])),
      bad,
      pd.toFixed(6),
    ]);
  }
  return { columns: ['loan_id', ...(features ?? []), label, '_true_pd'], rows };
}
