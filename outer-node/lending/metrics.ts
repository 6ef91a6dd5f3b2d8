// Discrimination, stability and calibration of a scorecard. Conventions: `risk` is higher for riskier
// applicants (a probability of default, or minus a score), `bad` is 1 for a default and 0 otherwise.

/**
 * Area under the ROC curve by ranks (Mann-Whitney U), ties sharing their average rank:
 * AUC = (sum of ranks of bads - nB(nB+1)/2) / (nB * nG). A tie between a bad and a good counts 1/2.
 */
export function auc(risk: readonly number[], bad: readonly number[]): number {
  const n = risk.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => risk[a]! - risk[b]!);
  let rankSumBad = 0;
  let nBad = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && risk[order[j + 1]!] === risk[order[i]!]) j++;
    const averageRank = (i + j + 2) / 2; // ranks are 1-based
    for (let t = i; t <= j; t++) {
      if (bad[order[t]!] === 1) {
        rankSumBad += averageRank;
        nBad++;
      }
    }
    i = j + 1;
  }
  const nGood = n - nBad;
  if (nBad === 0 || nGood === 0) return Number.NaN;
  return (rankSumBad - (nBad * (nBad + 1)) / 2) / (nBad * nGood);
}

export const gini = (areaUnderCurve: number): number => 2 * areaUnderCurve - 1;

/**
 * Kolmogorov-Smirnov statistic: the largest gap between the cumulative distributions of bads and
 * goods over risk, evaluated only between distinct values (tied values move together).
 */
export function ks(risk: readonly number[], bad: readonly number[]): { ks: number; at: number } {
  const order = Array.from({ length: risk.length }, (_, i) => i).sort((a, b) => risk[b]! - risk[a]!);
  const nBad = bad.reduce((s, v) => s + v, 0);
  const nGood = risk.length - nBad;
  let cumBad = 0;
  let cumGood = 0;
  let best = 0;
  let at = Number.NaN;
  for (let i = 0; i < order.length;) {
    const value = risk[order[i]!]!;
    while (i < order.length && risk[order[i]!] === value) {
      if (bad[order[i]!] === 1) cumBad++;
      else cumGood++;
      i++;
    }
    const gap = Math.abs(cumBad / Math.max(nBad, 1) - cumGood / Math.max(nGood, 1));
    if (gap > best) {
      best = gap;
      at = value;
    }
  }
  return { ks: best, at };
}

/** Smallest share used for an empty bin in PSI, so ln(a/e) stays finite. */
export const PSI_FLOOR = 1e-4;

/**
 * Population stability index between an expected (development) and an actual (recent) sample of
 * scores, over bins cut at the expected sample's deciles (or the given cut points):
 * PSI = sum (a_i - e_i) ln(a_i / e_i), shares floored at PSI_FLOOR.
 */
export function psi(
  expected: readonly number[],
  actual: readonly number[],
  cuts?: readonly number[],
): { psi: number; bins: { upper: number | null; expected: number; actual: number; term: number }[] } {
  const edges = cuts ? [...cuts] : quantileCuts(expected, 10);
  const share = (values: readonly number[]): number[] => {
    const counts = new Array<number>(edges.length + 1).fill(0);
    for (const v of values) counts[binOf(edges, v)]!++;
    return counts.map((c) => c / Math.max(values.length, 1));
  };
  const e = share(expected);
  const a = share(actual);
  let total = 0;
  const bins = e.map((ei, i) => {
    const ef = Math.max(ei, PSI_FLOOR);
    const af = Math.max(a[i]!, PSI_FLOOR);
    const term = (af - ef) * Math.log(af / ef);
    total += term;
    return { upper: edges[i] ?? null, expected: ei, actual: a[i]!, term };
  });
  return { psi: total, bins };
}

/** Bin index for upper-inclusive edges: v <= edges[0] is bin 0, above the last edge the last bin. */
function binOf(edges: readonly number[], v: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (v <= edges[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Distinct upper cut points at the 1/q, 2/q, ... quantiles. */
export function quantileCuts(values: readonly number[], q: number): number[] {
  const sorted = [...values].sort((a, b) => a - b);
  const cuts: number[] = [];
  for (let i = 1; i < q; i++) {
    const v = sorted[Math.min(sorted.length - 1, Math.ceil((i * sorted.length) / q) - 1)];
    if (
      v !== undefined &&
      (cuts.length === 0 || v > cuts[cuts.length - 1]!) &&
      v < sorted[sorted.length - 1]!
    )
      cuts.push(v);
  }
  return cuts;
}

export interface CalibrationRow {
  group: number;
  count: number;
  meanPredicted: number;
  observedBadRate: number;
  bads: number;
}

/** Groups of about equal size by predicted probability (lowest first): predicted against observed. */
export function calibrationTable(
  probability: readonly number[],
  bad: readonly number[],
  groups = 10,
): CalibrationRow[] {
  const order = Array.from({ length: probability.length }, (_, i) => i).sort(
    (a, b) => probability[a]! - probability[b]!,
  );
  const rows: CalibrationRow[] = [];
  for (let g = 0; g < groups; g++) {
    const from = Math.floor((g * order.length) / groups);
    const to = Math.floor(((g + 1) * order.length) / groups);
    if (to <= from) continue;
    let sumP = 0;
    let bads = 0;
    for (let t = from; t < to; t++) {
      sumP += probability[order[t]!]!;
      bads += bad[order[t]!]!;
    }
    rows.push({
      group: g + 1,
      count: to - from,
      meanPredicted: sumP / (to - from),
      observedBadRate: bads / (to - from),
      bads,
    });
  }
  return rows;
}

export interface ScoreBand {
  from: number;
  to: number;
  count: number;
  bads: number;
  badRate: number;
  /** Share of all rows at or above this band's lower bound. */
  cumulativeShare: number;
}

/** Fixed-width score bands [from, to), highest first, with counts, bad rates and cumulative shares. */
export function scoreBands(score: readonly number[], bad: readonly number[], width = 20): ScoreBand[] {
  const bands = new Map<number, { count: number; bads: number }>();
  score.forEach((s, i) => {
    const from = Math.floor(s / width) * width;
    const b = bands.get(from) ?? { count: 0, bads: 0 };
    b.count++;
    b.bads += bad[i] ?? 0;
    bands.set(from, b);
  });
  let cumulative = 0;
  return [...bands.entries()]
    .sort((a, b) => b[0] - a[0])
    .map(([from, b]) => {
      cumulative += b.count;
      return {
        from,
        to: from + width,
        count: b.count,
        bads: b.bads,
        badRate: b.bads / b.count,
        cumulativeShare: cumulative / score.length,
      };
    });
}
