// Coarse classing of characteristics for a scorecard.
//
// Numeric: fine classing into about `fineBins` quantile bins (ties never split), then merging adjacent
// bins until the bad rate is strictly monotone in the value (pool-adjacent-violators), tried in both
// directions and the one with the larger information value kept (ties: the sign of the rank
// correlation); then bins smaller than `minBinShare` of the rows are merged into the neighbour with
// the closer bad rate, and while there are more than `maxBins` bins the adjacent pair whose merge
// loses the least information value is merged. Merging neighbours of a monotone sequence keeps it
// monotone, so the result stays monotone.
//
// Categorical: levels rarer than `rareShare` are pooled into one "other" group (which also takes
// levels never seen in training); groups are ordered by bad rate (so monotone by construction), then
// small groups and surplus groups are merged as for numeric bins.
//
// Missing values (empty cell, NA, NaN, null, N/A) get a bin of their own; when they are fewer than
// `minBinShare` of the rows they join the bin with the closest bad rate instead. When training saw
// no missing value, a missing value at scoring time goes to the riskiest bin (conservative).
import { computeWoe } from './woe.js';

export interface BinningOptions {
  fineBins: number;
  minBinShare: number;
  maxBins: number;
  rareShare: number;
}

export const DEFAULT_BINNING: BinningOptions = {
  fineBins: 20,
  minBinShare: 0.05,
  maxBins: 8,
  rareShare: 0.02,
};

export interface Bin {
  label: string;
  /** Numeric: lower < x <= upper; null means unbounded. */
  lower?: number | null;
  upper?: number | null;
  /** Categorical: the levels in this bin. */
  levels?: string[];
  /** This bin takes levels not seen in training (categorical). */
  other?: boolean;
  /** This bin takes missing values. */
  missing?: boolean;
  /** Of count and bads, how many were missing values (a small missing group merged into this bin). */
  missingCount?: number;
  missingBads?: number;
  count: number;
  bads: number;
  goods: number;
}

export interface BinnedCharacteristic {
  name: string;
  type: 'numeric' | 'categorical';
  /** Bad rate as the value rises (numeric), or 'by-level' (categorical, ordered by bad rate). */
  direction: 'increasing' | 'decreasing' | 'by-level';
  bins: Bin[];
}

const MISSING = new Set(['', 'na', 'nan', 'null', 'n/a']);

export function isMissing(value: string | number | boolean | null | undefined): boolean {
  if (value === null || value === undefined) return true;
  if (typeof value === 'number') return Number.isNaN(value);
  if (typeof value === 'boolean') return false;
  return MISSING.has(value.trim().toLowerCase());
}

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** A numeric value from a cell, or null when missing; NaN when not a number. */
export function numericValue(value: string | number | boolean | null | undefined): number | null {
  if (isMissing(value)) return null;
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  const text = String(value).trim();
  return NUMBER.test(text) ? Number(text) : Number.NaN;
}

export function categoricalValue(value: string | number | boolean | null | undefined): string | null {
  return isMissing(value) ? null : String(value).trim();
}

interface Group {
  count: number;
  bads: number;
  /** Numeric: smallest and largest value in the group. */
  min: number;
  max: number;
  levels: string[];
  other: boolean;
}

const rate = (g: Group): number => (g.count === 0 ? 0 : g.bads / g.count);

function mergeGroups(a: Group, b: Group): Group {
  return {
    count: a.count + b.count,
    bads: a.bads + b.bads,
    min: Math.min(a.min, b.min),
    max: Math.max(a.max, b.max),
    levels: [...a.levels, ...b.levels],
    other: a.other || b.other,
  };
}

function ivOf(groups: readonly Group[]): number {
  return computeWoe(groups.map((g) => ({ goods: g.count - g.bads, bads: g.bads }))).iv;
}

/** Pool adjacent violators: merges until rates strictly rise (or strictly fall). */
function poolAdjacentViolators(groups: readonly Group[], increasing: boolean): Group[] {
  const out: Group[] = [];
  for (const g of groups) {
    out.push(g);
    while (out.length >= 2) {
      const last = out[out.length - 1]!;
      const prev = out[out.length - 2]!;
      const violates = increasing ? rate(prev) >= rate(last) : rate(prev) <= rate(last);
      if (!violates) break;
      out.splice(out.length - 2, 2, mergeGroups(prev, last));
    }
  }
  return out;
}

/** Merges groups below the minimum size, then surplus groups, always with a neighbour. */
function enforceSizes(groups: Group[], total: number, options: BinningOptions): Group[] {
  const minCount = options.minBinShare * total;
  let out = [...groups];
  for (;;) {
    if (out.length <= 1) break;
    let smallest = -1;
    for (let i = 0; i < out.length; i++) {
      if (out[i]!.count < minCount && (smallest < 0 || out[i]!.count < out[smallest]!.count)) smallest = i;
    }
    if (smallest < 0) break;
    const g = out[smallest]!;
    const left = out[smallest - 1];
    const right = out[smallest + 1];
    const useLeft =
      !right || (left !== undefined && Math.abs(rate(left) - rate(g)) <= Math.abs(rate(right) - rate(g)));
    const at = useLeft ? smallest - 1 : smallest;
    out.splice(at, 2, mergeGroups(out[at]!, out[at + 1]!));
  }
  while (out.length > options.maxBins) {
    let best = 0;
    let bestIv = -Infinity;
    for (let i = 0; i + 1 < out.length; i++) {
      const trial = [...out.slice(0, i), mergeGroups(out[i]!, out[i + 1]!), ...out.slice(i + 2)];
      const iv = ivOf(trial);
      if (iv > bestIv) {
        bestIv = iv;
        best = i;
      }
    }
    out = [...out.slice(0, best), mergeGroups(out[best]!, out[best + 1]!), ...out.slice(best + 2)];
  }
  return out;
}

/** Spearman-like sign: the correlation of value ranks with the label, by group means. */
function trendSign(groups: readonly Group[]): number {
  const n = groups.reduce((s, g) => s + g.count, 0);
  const bads = groups.reduce((s, g) => s + g.bads, 0);
  let rank = 0;
  let cov = 0;
  const meanRank = (n + 1) / 2;
  const meanY = bads / Math.max(n, 1);
  for (const g of groups) {
    const r = rank + (g.count + 1) / 2;
    cov += (r - meanRank) * (g.bads - g.count * meanY);
    rank += g.count;
  }
  return cov >= 0 ? 1 : -1;
}

/** Attaches missing values as their own bin, or to the closest-rate bin when too few. */
function withMissing(
  groups: Group[],
  missing: { count: number; bads: number },
  total: number,
  options: BinningOptions,
) {
  const bins = groups.map((g) => ({ g, missing: false }));
  const none = undefined as { count: number; bads: number } | undefined;
  if (missing.count === 0) return { bins, ownMissing: false, merged: none };
  if (missing.count >= options.minBinShare * total || groups.length === 0) {
    return { bins, ownMissing: true, merged: none };
  }
  const r = missing.bads / missing.count;
  let closest = 0;
  for (let i = 1; i < groups.length; i++) {
    if (Math.abs(rate(groups[i]!) - r) < Math.abs(rate(groups[closest]!) - r)) closest = i;
  }
  const target = bins[closest]!;
  target.g = { ...target.g, count: target.g.count + missing.count, bads: target.g.bads + missing.bads };
  target.missing = true;
  return { bins, ownMissing: false, merged: missing };
}

const fmt = (x: number): string => (Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(6))));

export function binNumeric(
  name: string,
  values: readonly (number | null)[],
  labels: readonly number[],
  options: BinningOptions = DEFAULT_BINNING,
): BinnedCharacteristic {
  const present: { v: number; y: number }[] = [];
  const missing = { count: 0, bads: 0 };
  values.forEach((v, i) => {
    const y = labels[i] ?? 0;
    if (v === null || Number.isNaN(v)) {
      missing.count++;
      missing.bads += y;
    } else present.push({ v, y });
  });
  present.sort((a, b) => a.v - b.v);
  const total = values.length;

  // Distinct values, then fine classes of about n / fineBins rows each (ties stay together).
  const fine: Group[] = [];
  const target = present.length / Math.max(1, options.fineBins);
  let current: Group | undefined;
  for (let i = 0; i < present.length; i++) {
    const { v, y } = present[i]!;
    if (!current) current = { count: 0, bads: 0, min: v, max: v, levels: [], other: false };
    current.count++;
    current.bads += y;
    current.max = v;
    const next = present[i + 1];
    if (!next || (next.v !== v && current.count >= target)) {
      fine.push(current);
      current = undefined;
    }
  }

  const attempt = (increasing: boolean): Group[] =>
    enforceSizes(poolAdjacentViolators(fine, increasing), total, options);
  const up = attempt(true);
  const down = attempt(false);
  const ivUp = ivOf(up);
  const ivDown = ivOf(down);
  const increasing = Math.abs(ivUp - ivDown) > 1e-12 ? ivUp > ivDown : trendSign(fine) >= 0;
  const groups = increasing ? up : down;

  const { bins: attached, ownMissing, merged } = withMissing(groups, missing, total, options);
  const bins: Bin[] = attached.map(({ g, missing: m }, i) => {
    const lower = i === 0 ? null : groups[i - 1]!.max;
    const upper = i === groups.length - 1 ? null : g.max;
    const label =
      lower === null && upper === null
        ? 'all values'
        : lower === null
          ? `<= ${fmt(upper!)}`
          : upper === null
            ? `> ${fmt(lower)}`
            : `(${fmt(lower)}, ${fmt(upper)}]`;
    return {
      label: m ? `${label} or missing` : label,
      lower,
      upper,
      ...(m && merged ? { missing: true, missingCount: merged.count, missingBads: merged.bads } : {}),
      count: g.count,
      bads: g.bads,
      goods: g.count - g.bads,
    };
  });
  if (ownMissing) {
    bins.push({
      label: 'missing',
      missing: true,
      count: missing.count,
      bads: missing.bads,
      goods: missing.count - missing.bads,
    });
  }
  return { name, type: 'numeric', direction: increasing ? 'increasing' : 'decreasing', bins };
}

export function binCategorical(
  name: string,
  values: readonly (string | null)[],
  labels: readonly number[],
  options: BinningOptions = DEFAULT_BINNING,
): BinnedCharacteristic {
  const levels = new Map<string, Group>();
  const missing = { count: 0, bads: 0 };
  values.forEach((v, i) => {
    const y = labels[i] ?? 0;
    if (v === null) {
      missing.count++;
      missing.bads += y;
      return;
    }
    let g = levels.get(v);
    if (!g) levels.set(v, (g = { count: 0, bads: 0, min: 0, max: 0, levels: [v], other: false }));
    g.count++;
    g.bads += y;
  });
  const total = values.length;
  const groups: Group[] = [];
  let rare: Group | undefined;
  for (const g of [...levels.values()].sort((a, b) => (a.levels[0]! < b.levels[0]! ? -1 : 1))) {
    if (g.count < options.rareShare * total) rare = rare ? mergeGroups(rare, g) : { ...g, other: true };
    else groups.push(g);
  }
  if (rare) groups.push(rare);
  groups.sort((a, b) => rate(a) - rate(b) || (a.levels[0]! < b.levels[0]! ? -1 : 1));
  // Equal bad rates side by side say nothing apart: merge them so the order is strict.
  const strict: Group[] = [];
  for (const g of groups) {
    const last = strict[strict.length - 1];
    if (last && rate(last) === rate(g)) strict[strict.length - 1] = mergeGroups(last, g);
    else strict.push(g);
  }
  const sized = enforceSizes(strict, total, options);
  const { bins: attached, ownMissing } = withMissing(sized, missing, total, options);
  const bins: Bin[] = attached.map(({ g, missing: m }) => {
    const shown = g.levels.slice().sort();
    const list =
      shown.length > 6 ? `${shown.slice(0, 6).join(', ')}, ... (${shown.length} levels)` : shown.join(', ');
    const label = `${g.other ? `${list}${list ? ', ' : ''}other` : list}${m ? ' or missing' : ''}`;
    return {
      label,
      levels: shown,
      ...(g.other ? { other: true } : {}),
      ...(m ? { missing: true } : {}),
      count: g.count,
      bads: g.bads,
      goods: g.count - g.bads,
    };
  });
  if (ownMissing) {
    bins.push({
      label: 'missing',
      levels: [],
      missing: true,
      count: missing.count,
      bads: missing.bads,
      goods: missing.count - missing.bads,
    });
  }
  return { name, type: 'categorical', direction: 'by-level', bins };
}

/**
 * The bin a value falls in; `riskiest` is where values with no bin of their own go (missing when
 * training saw none, unseen levels when there is no "other" group).
 */
export function assignBin(
  ch: BinnedCharacteristic,
  value: string | number | boolean | null | undefined,
  riskiest: number,
): number {
  if (isMissing(value)) {
    const at = ch.bins.findIndex((b) => b.missing);
    return at >= 0 ? at : riskiest;
  }
  if (ch.type === 'numeric') {
    const x = numericValue(value);
    if (x === null || Number.isNaN(x)) return riskiest;
    for (let i = 0; i < ch.bins.length; i++) {
      const b = ch.bins[i]!;
      if (b.lower === undefined && b.upper === undefined) continue; // the missing-only bin
      if (
        (b.lower === null || b.lower === undefined || x > b.lower) &&
        (b.upper === null || b.upper === undefined || x <= b.upper)
      ) {
        return i;
      }
    }
    return riskiest;
  }
  const level = String(value).trim();
  const at = ch.bins.findIndex((b) => b.levels?.includes(level));
  if (at >= 0) return at;
  const other = ch.bins.findIndex((b) => b.other);
  return other >= 0 ? other : riskiest;
}

/** Whether the bad rates of the value bins (missing-only bin aside) are strictly monotone. */
export function isMonotone(ch: BinnedCharacteristic): boolean {
  if (ch.type === 'categorical') return true;
  const rates = ch.bins
    .filter((b) => b.lower !== undefined || b.upper !== undefined)
    .map((b) => (b.bads - (b.missingBads ?? 0)) / Math.max(1, b.count - (b.missingCount ?? 0)));
  if (rates.length <= 1) return true;
  const up = ch.direction === 'increasing';
  for (let i = 1; i < rates.length; i++) {
    if (up ? rates[i]! <= rates[i - 1]! : rates[i]! >= rates[i - 1]!) return false;
  }
  return true;
}
