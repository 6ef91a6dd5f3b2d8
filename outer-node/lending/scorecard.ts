// The scorecard: binning, WoE, an information-value filter, logistic regression on WoE, a sign check,
// points-to-double-the-odds scaling and an intercept re-centred to a stated portfolio bad rate.
//
// Scaling: score = offset + factor * ln(odds), odds = good:bad, factor = PDO / ln 2 and
// offset = base score - factor * ln(base odds); so the base score means base odds, and every PDO points
// double the odds. With ln(odds) = -(b0 + sum_j b_j * WoE_j), the points of bin i of characteristic j
// are round((offset - factor * b0) / m - factor * b_j * WoE_ij) over m characteristics, and a score is
// the sum of its points. The probability reported with a score is read back from the score itself,
// p = 1 / (1 + exp((score - offset) / factor)), so the two always agree.
//
// Sign check: WoE is positive for safer bins, so every coefficient on P(bad) must be negative. A
// characteristic whose coefficient is not (collinearity, usually) is dropped, the model refitted, and
// the drop written into the model's notes.
import { readFileSync } from 'node:fs';
import { canonicalJson, sha256Hex } from '../../crypto/index.js';
import { PROTECTED_ATTRIBUTES } from '../../shared/portrait.js';
import {
  assignBin,
  binCategorical,
  binNumeric,
  categoricalValue,
  DEFAULT_BINNING,
  isMissing,
  numericValue,
  type Bin,
  type BinnedCharacteristic,
  type BinningOptions,
} from './binning.js';
import { columnIndex, type Table } from './csv.js';
import { LendingError } from './errors.js';
import { fitLogistic, type LogisticFit } from './logistic.js';
import { auc, gini, ks } from './metrics.js';
import { computeWoe } from './woe.js';

export type CellValue = string | number | boolean | null | undefined;

export interface Scaling {
  baseScore: number;
  /** Good:bad odds at the base score. */
  baseOdds: number;
  pdo: number;
}

export const DEFAULT_SCALING: Scaling = { baseScore: 600, baseOdds: 50, pdo: 20 };

export interface ScorecardBin extends Bin {
  woe: number;
  points: number;
}

export interface ScorecardCharacteristic {
  name: string;
  type: 'numeric' | 'categorical';
  direction: BinnedCharacteristic['direction'];
  iv: number;
  smoothed: boolean;
  coefficient: number;
  /** Where values with no bin of their own go: the bin with the lowest WoE. */
  riskiest: number;
  maxPoints: number;
  bins: ScorecardBin[];
}

export interface ScorecardModel {
  format: 'govbank-scorecard';
  formatVersion: 1;
  name: string;
  /** name@ first 12 hex digits of the SHA-256 of the model's canonical JSON without this field. */
  version: string;
  trainedAt: string;
  label: { column: string; badValue: string };
  scaling: Scaling & { factor: number; offset: number };
  intercept: { fitted: number; used: number; trainingBadRate: number; portfolioBadRate: number | null };
  characteristics: ScorecardCharacteristic[];
  excluded: { name: string; reason: string }[];
  protectedOverrides: { name: string; warning: string }[];
  notes: string[];
  binning: BinningOptions;
  minIv: number;
  fit: { iterations: number; deviance: number; ridge: number; standardErrors: number[] };
  training: { rows: number; bads: number; badRate: number; auc: number; ks: number; gini: number };
}

export interface TrainOptions {
  label: string;
  badValue?: string;
  name?: string;
  /** Only these columns are candidates (default: every column but the label and excluded ones). */
  characteristics?: readonly string[];
  exclude?: readonly string[];
  /** Columns to treat as categorical even though their values are numbers. */
  categorical?: readonly string[];
  /** Protected attributes beyond the built-in list (gender, sex, ethnicity, marital_status). */
  protectedAttributes?: readonly string[];
  /** Protected attributes knowingly allowed as inputs; each is warned about and recorded. */
  allowProtected?: readonly string[];
  minIv?: number;
  binning?: Partial<BinningOptions>;
  scaling?: Partial<Scaling>;
  /** Re-centre the intercept so the average predicted bad rate is this portfolio rate. */
  portfolioBadRate?: number;
  now?: Date;
  warn?: (message: string) => void;
}

const norm = (name: string): string =>
  `_${name
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean)
    .join('_')}_`;

/** Whether a column name is, or contains as whole words, a protected attribute. */
export function protectedMatch(column: string, extra: readonly string[] = []): string | undefined {
  const n = norm(column);
  return [...PROTECTED_ATTRIBUTES, ...extra].find((p) => n.includes(norm(p)));
}

/** Labels 1 (bad) / 0 (good) from the label column; a missing label is an error naming the rows. */
export function readLabels(table: Table, label: string, badValue: string, where: string): number[] {
  const at = columnIndex(table, label, where);
  const missing: number[] = [];
  const labels = table.rows.map((r, i) => {
    const v = r[at]!;
    if (isMissing(v)) missing.push(i + 2);
    return v.trim() === badValue ? 1 : 0;
  });
  if (missing.length > 0) {
    throw new LendingError('LEND_DATA', `${missing.length} row(s) have no ${label}`, {
      where: `${where} lines ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`,
    });
  }
  return labels;
}

export interface CandidateSelection {
  numeric: string[];
  categorical: string[];
  excluded: { name: string; reason: string }[];
  overrides: { name: string; warning: string }[];
}

/** Decides which columns are characteristics, and refuses protected attributes unless allowed. */
export function selectCandidates(table: Table, options: TrainOptions): CandidateSelection {
  const excluded: { name: string; reason: string }[] = [];
  const overrides: { name: string; warning: string }[] = [];
  const refused: string[] = [];
  const numeric: string[] = [];
  const categorical: string[] = [];
  const allowed = new Set(options.allowProtected ?? []);
  for (const name of options.characteristics ?? table.columns) {
    const at = columnIndex(table, name, 'training data');
    if (name === options.label) continue;
    if (name.startsWith('_')) {
      excluded.push({ name, reason: 'metadata column (name starts with _)' });
      continue;
    }
    if (options.exclude?.includes(name)) {
      excluded.push({ name, reason: 'excluded by request' });
      continue;
    }
    const hit = protectedMatch(name, options.protectedAttributes);
    if (hit) {
      if (!allowed.has(name)) {
        refused.push(`${name} (${hit})`);
        continue;
      }
      const warning = `protected attribute ${name} (${hit}) used as a model input by explicit override`;
      overrides.push({ name, warning });
      options.warn?.(warning);
    }
    const values = table.rows.map((r) => r[at]!);
    const present = values.filter((v) => !isMissing(v));
    if (present.length === 0) {
      excluded.push({ name, reason: 'no values' });
      continue;
    }
    const allNumbers = present.every((v) => !Number.isNaN(numericValue(v)));
    if (allNumbers && !options.categorical?.includes(name)) {
      numeric.push(name);
      continue;
    }
    const distinct = new Set(present).size;
    if (!allNumbers && distinct > 0.5 * present.length && distinct > 20) {
      excluded.push({ name, reason: `looks like an identifier (${distinct} distinct values)` });
      continue;
    }
    categorical.push(name);
  }
  if (refused.length > 0) {
    throw new LendingError(
      'LEND_PROTECTED_ATTRIBUTE',
      `protected attributes refused as model inputs: ${refused.join(', ')}`,
      {
        hint: 'Leave them out (--exclude NAME); only if the law and the bank allow it, pass --allow-protected NAME, which is warned about and recorded in the model',
      },
    );
  }
  return { numeric, categorical, excluded, overrides };
}

/** Bins every candidate on the training rows. */
export function binCandidates(
  table: Table,
  labels: readonly number[],
  selection: CandidateSelection,
  binning: BinningOptions,
): BinnedCharacteristic[] {
  const out: BinnedCharacteristic[] = [];
  for (const name of table.columns) {
    const at = table.columns.indexOf(name);
    if (selection.numeric.includes(name)) {
      out.push(
        binNumeric(
          name,
          table.rows.map((r) => numericValue(r[at])),
          labels,
          binning,
        ),
      );
    } else if (selection.categorical.includes(name)) {
      out.push(
        binCategorical(
          name,
          table.rows.map((r) => categoricalValue(r[at])),
          labels,
          binning,
        ),
      );
    }
  }
  return out;
}

interface Woed {
  binned: BinnedCharacteristic;
  woe: number[];
  iv: number;
  smoothed: boolean;
  riskiest: number;
}

function withWoe(binned: BinnedCharacteristic): Woed {
  const { woe, iv, smoothed } = computeWoe(binned.bins);
  let riskiest = 0;
  woe.forEach((w, i) => {
    if (w < woe[riskiest]!) riskiest = i;
  });
  return { binned, woe, iv, smoothed, riskiest };
}

/** The WoE design matrix: one row per table row, one column per characteristic. */
export function woeMatrix(table: Table, chars: readonly Woed[]): Float64Array[] {
  const cols = chars.map((c) => table.columns.indexOf(c.binned.name));
  return table.rows.map((r) => {
    const x = new Float64Array(chars.length);
    chars.forEach((c, j) => (x[j] = c.woe[assignBin(c.binned, r[cols[j]!], c.riskiest)]!));
    return x;
  });
}

/** Plain logistic regression on the WoE of every binned characteristic: the reference tooling. */
export function fitWoeLogistic(
  table: Table,
  labels: readonly number[],
  binned: readonly BinnedCharacteristic[],
) {
  const chars = binned.map(withWoe);
  const fit = fitLogistic(woeMatrix(table, chars), labels);
  return {
    chars,
    fit,
    predict(t: Table): number[] {
      return woeMatrix(t, chars).map((x) => {
        let eta = fit.coefficients[0]!;
        x.forEach((v, j) => (eta += fit.coefficients[j + 1]! * v));
        return 1 / (1 + Math.exp(-eta));
      });
    },
  };
}

const logit = (p: number): number => Math.log(p / (1 - p));

export function trainScorecard(table: Table, options: TrainOptions): ScorecardModel {
  const badValue = options.badValue ?? '1';
  const labels = readLabels(table, options.label, badValue, 'training data');
  const bads = labels.reduce((s, v) => s + v, 0);
  if (bads === 0 || bads === labels.length) {
    throw new LendingError(
      'LEND_DATA',
      `the label ${options.label} needs both goods and bads (${bads} bads of ${labels.length})`,
      {
        hint: `Bads are rows where ${options.label} is '${badValue}'; set --bad-value if it is another value`,
      },
    );
  }
  const binning = { ...DEFAULT_BINNING, ...options.binning };
  const minIv = options.minIv ?? 0.02;
  const selection = selectCandidates(table, options);
  const excluded = [...selection.excluded];
  const notes: string[] = [];

  let kept: Woed[] = [];
  for (const binned of binCandidates(table, labels, selection, binning)) {
    const w = withWoe(binned);
    if (w.iv < minIv)
      excluded.push({ name: binned.name, reason: `information value ${w.iv.toFixed(4)} below ${minIv}` });
    else kept.push(w);
  }
  if (kept.length === 0) {
    throw new LendingError(
      'LEND_NO_CHARACTERISTICS',
      `no characteristic has an information value of at least ${minIv}`,
      {
        hint: 'Lower --min-iv or bring more informative data',
      },
    );
  }

  // Fit, then drop any characteristic with the wrong sign (the most positive first) and refit.
  let fit: LogisticFit;
  for (;;) {
    fit = fitLogistic(woeMatrix(table, kept), labels);
    let worst = -1;
    kept.forEach((_, j) => {
      const b = fit.coefficients[j + 1]!;
      if (b >= 0 && (worst < 0 || b > fit.coefficients[worst + 1]!)) worst = j;
    });
    if (worst < 0) break;
    const dropped = kept[worst]!;
    const reason = `coefficient ${fit.coefficients[worst + 1]!.toFixed(4)} has the wrong sign (WoE coefficients must be negative)`;
    excluded.push({ name: dropped.binned.name, reason });
    notes.push(`sign check: dropped ${dropped.binned.name}, ${reason}, and refitted`);
    kept = kept.filter((_, j) => j !== worst);
    if (kept.length === 0) {
      throw new LendingError('LEND_NO_CHARACTERISTICS', 'every characteristic failed the sign check', {
        hint: 'Look for strongly correlated characteristics',
      });
    }
  }
  if (fit.ridge > 0)
    notes.push(
      `the information matrix was near-singular: a ridge of ${fit.ridge.toExponential(2)} was added`,
    );

  const s = { ...DEFAULT_SCALING, ...options.scaling };
  const factor = s.pdo / Math.LN2;
  const offset = s.baseScore - factor * Math.log(s.baseOdds);
  const trainingBadRate = bads / labels.length;
  const fitted = fit.coefficients[0]!;
  // Prior correction: shift the intercept by the difference of the log-odds of the two bad rates.
  const used =
    options.portfolioBadRate === undefined
      ? fitted
      : fitted + logit(options.portfolioBadRate) - logit(trainingBadRate);
  if (options.portfolioBadRate !== undefined) {
    notes.push(
      `intercept re-centred from the training bad rate ${(trainingBadRate * 100).toFixed(2)}% to the portfolio bad rate ${(options.portfolioBadRate * 100).toFixed(2)}%`,
    );
  }
  const m = kept.length;
  const characteristics: ScorecardCharacteristic[] = kept.map((c, j) => {
    const b = fit.coefficients[j + 1]!;
    const bins: ScorecardBin[] = c.binned.bins.map((bin, i) => ({
      ...bin,
      woe: c.woe[i]!,
      points: Math.round((offset - factor * used) / m - factor * b * c.woe[i]!),
    }));
    return {
      name: c.binned.name,
      type: c.binned.type,
      direction: c.binned.direction,
      iv: c.iv,
      smoothed: c.smoothed,
      coefficient: b,
      riskiest: c.riskiest,
      maxPoints: Math.max(...bins.map((x) => x.points)),
      bins,
    };
  });
  const draft: Omit<ScorecardModel, 'version'> = {
    format: 'govbank-scorecard',
    formatVersion: 1,
    name: options.name ?? 'scorecard',
    trainedAt: (options.now ?? new Date()).toISOString(),
    label: { column: options.label, badValue },
    scaling: { ...s, factor, offset },
    intercept: { fitted, used, trainingBadRate, portfolioBadRate: options.portfolioBadRate ?? null },
    characteristics,
    excluded,
    protectedOverrides: selection.overrides.filter((o) => characteristics.some((c) => c.name === o.name)),
    notes,
    binning,
    minIv,
    fit: {
      iterations: fit.iterations,
      deviance: fit.deviance,
      ridge: fit.ridge,
      standardErrors: fit.standardErrors,
    },
    training: { rows: labels.length, bads, badRate: trainingBadRate, auc: 0, ks: 0, gini: 0 },
  };
  const scored = scoreTable(draft, table);
  const risk = scored.map((r) => r.probability);
  const a = auc(risk, labels);
  draft.training = { ...draft.training, auc: a, ks: ks(risk, labels).ks, gini: gini(a) };
  return { ...draft, version: modelVersion(draft) };
}

export function modelVersion(model: Omit<ScorecardModel, 'version'> & { version?: string }): string {
  const { version: _version, ...rest } = model;
  return `${model.name}@${sha256Hex(canonicalJson(rest)).slice(0, 12)}`;
}

export interface CharacteristicPoints {
  name: string;
  value: CellValue;
  bin: string;
  points: number;
  maxPoints: number;
}

export interface Scored {
  score: number;
  probability: number;
  points: CharacteristicPoints[];
}

type Scorable = Pick<ScorecardModel, 'characteristics' | 'scaling'>;

/** Scores one applicant from named values (portrait features or CSV cells). */
export function scoreValues(model: Scorable, values: Readonly<Record<string, CellValue>>): Scored {
  let score = 0;
  const points: CharacteristicPoints[] = [];
  for (const c of model.characteristics) {
    const value = values[c.name];
    const at = assignBin(c, typeof value === 'boolean' ? String(value) : value, c.riskiest);
    const bin = c.bins[at]!;
    score += bin.points;
    points.push({
      name: c.name,
      value: value ?? null,
      bin: bin.label,
      points: bin.points,
      maxPoints: c.maxPoints,
    });
  }
  return { score, probability: probabilityAt(model, score), points };
}

/** The probability of default a score stands for: 1 / (1 + odds), odds = exp((score - offset) / factor). */
export function probabilityAt(model: Pick<ScorecardModel, 'scaling'>, score: number): number {
  return 1 / (1 + Math.exp((score - model.scaling.offset) / model.scaling.factor));
}

export function scoreTable(model: Scorable, table: Table): Scored[] {
  return table.rows.map((r) => {
    const values: Record<string, CellValue> = {};
    table.columns.forEach((c, i) => (values[c] = r[i]));
    return scoreValues(model, values);
  });
}

/** Characteristics with the largest shortfall from their maximum points, largest first (ties by name). */
export function pointShortfalls(
  points: readonly CharacteristicPoints[],
  count: number,
): CharacteristicPoints[] {
  return points
    .filter((p) => p.maxPoints - p.points > 0)
    .sort((a, b) => b.maxPoints - b.points - (a.maxPoints - a.points) || (a.name < b.name ? -1 : 1))
    .slice(0, count);
}

/** Reads and checks a model file; refuses protected inputs that the model does not record as overridden. */
export function loadModel(path: string, extraProtected: readonly string[] = []): ScorecardModel {
  let model: ScorecardModel;
  try {
    model = JSON.parse(readFileSync(path, 'utf8')) as ScorecardModel;
  } catch (error) {
    throw new LendingError('LEND_MODEL', `cannot read the model file`, { where: path, cause: error });
  }
  const problems: string[] = [];
  if (model.format !== 'govbank-scorecard' || model.formatVersion !== 1)
    problems.push('not a govbank-scorecard version 1 file');
  if (!Array.isArray(model.characteristics) || model.characteristics.length === 0)
    problems.push('no characteristics');
  else {
    for (const c of model.characteristics) {
      if (!Array.isArray(c.bins) || c.bins.length === 0) problems.push(`${c.name}: no bins`);
      const hit = protectedMatch(c.name, extraProtected);
      if (hit && !model.protectedOverrides?.some((o) => o.name === c.name)) {
        problems.push(`${c.name}: protected attribute (${hit}) used without a recorded override`);
      }
    }
  }
  if (problems.length === 0 && modelVersion(model) !== model.version)
    problems.push('the version does not match the content (edited by hand?)');
  if (problems.length > 0) {
    throw new LendingError('LEND_MODEL', `the model file is refused: ${problems.join('; ')}`, {
      where: path,
      hint: 'Train it again with outer-node lend train',
    });
  }
  return model;
}
