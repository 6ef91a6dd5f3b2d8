// Logistic regression by iteratively reweighted least squares (Newton-Raphson on the log-likelihood).
//
// Each iteration solves (X'WX + ridge*I) delta = X'(y - mu) - ridge*beta by Cholesky. A step that
// raises the deviance is halved (up to 30 times). Convergence needs both the relative change of the
// deviance below `tolerance` (as R's glm.fit uses) and the largest gradient component below
// `gradientTolerance` times the row count. A Hessian that is not positive definite (collinear
// columns) gets a small ridge, started at 1e-10 of its mean diagonal and raised tenfold until the
// factorisation succeeds; the ridge used is reported, never hidden. Not converging within
// `maxIterations` (for instance under complete separation, where the MLE does not exist) is an error.
import { LendingError } from './errors.js';

export interface LogisticOptions {
  maxIterations?: number;
  tolerance?: number;
  gradientTolerance?: number;
  /** A ridge penalty to apply from the start (0: plain maximum likelihood). */
  ridge?: number;
}

export interface LogisticFit {
  /** Intercept first, then one per column of X. */
  coefficients: number[];
  standardErrors: number[];
  iterations: number;
  deviance: number;
  converged: true;
  /** The ridge added to the Hessian (0 unless it was singular or one was asked for). */
  ridge: number;
  maxGradient: number;
}

const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/** Cholesky factor L (row-major, lower) of a symmetric matrix, or undefined if not positive definite. */
function cholesky(a: Float64Array, p: number): Float64Array | undefined {
  const l = new Float64Array(p * p);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i * p + j]!;
      for (let k = 0; k < j; k++) sum -= l[i * p + k]! * l[j * p + k]!;
      if (i === j) {
        if (!(sum > 1e-300) || !Number.isFinite(sum)) return undefined;
        l[i * p + i] = Math.sqrt(sum);
      } else {
        l[i * p + j] = sum / l[j * p + j]!;
      }
    }
  }
  return l;
}

function solveCholesky(l: Float64Array, p: number, b: Float64Array): Float64Array {
  const y = new Float64Array(p);
  for (let i = 0; i < p; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= l[i * p + k]! * y[k]!;
    y[i] = s / l[i * p + i]!;
  }
  const x = new Float64Array(p);
  for (let i = p - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < p; k++) s -= l[k * p + i]! * x[k]!;
    x[i] = s / l[i * p + i]!;
  }
  return x;
}

/** Binomial deviance of coefficients beta, plus the ridge penalty (intercept not penalised). */
function deviance(
  x: readonly ArrayLike<number>[],
  y: readonly number[],
  beta: Float64Array,
  ridge: number,
): number {
  let dev = 0;
  const k = beta.length - 1;
  for (let i = 0; i < x.length; i++) {
    const row = x[i]!;
    let eta = beta[0]!;
    for (let j = 0; j < k; j++) eta += beta[j + 1]! * row[j]!;
    // -2 log-likelihood, computed stably: log(1 + e^eta) - y*eta.
    const softplus = eta > 0 ? eta + Math.log1p(Math.exp(-eta)) : Math.log1p(Math.exp(eta));
    dev += 2 * (softplus - y[i]! * eta);
  }
  let penalty = 0;
  for (let j = 1; j < beta.length; j++) penalty += beta[j]! * beta[j]!;
  return dev + ridge * penalty;
}

/**
 * Fits P(y = 1) = sigmoid(b0 + X b). `x` holds one row per observation (no intercept column);
 * `y` is 0 or 1.
 */
export function fitLogistic(
  x: readonly ArrayLike<number>[],
  y: readonly number[],
  options: LogisticOptions = {},
): LogisticFit {
  const maxIterations = options.maxIterations ?? 50;
  const tolerance = options.tolerance ?? 1e-10;
  const gradientTolerance = options.gradientTolerance ?? 1e-7;
  const n = x.length;
  if (n === 0 || y.length !== n)
    throw new LendingError(
      'LEND_DATA',
      `logistic regression needs rows and as many labels (${n} rows, ${y.length} labels)`,
    );
  const k = x[0]!.length;
  const p = k + 1;
  let ridge = options.ridge ?? 0;
  let beta = new Float64Array(p);
  // Start at the intercept-only solution: faster, and the deviance is finite from the first step.
  const mean = y.reduce((s, v) => s + v, 0) / n;
  if (mean > 0 && mean < 1) beta[0] = Math.log(mean / (1 - mean));
  let dev = deviance(x, y, beta, ridge);
  const hessian = new Float64Array(p * p);
  const gradient = new Float64Array(p);
  let maxGradient = Infinity;
  let lastFactor: Float64Array | undefined;

  for (let iteration = 1; iteration <= maxIterations; iteration++) {
    hessian.fill(0);
    gradient.fill(0);
    const row1 = new Float64Array(p);
    row1[0] = 1;
    for (let i = 0; i < n; i++) {
      const row = x[i]!;
      let eta = beta[0]!;
      for (let j = 0; j < k; j++) {
        row1[j + 1] = row[j]!;
        eta += beta[j + 1]! * row[j]!;
      }
      const mu = sigmoid(eta);
      const w = mu * (1 - mu);
      const r = y[i]! - mu;
      for (let a = 0; a < p; a++) {
        const xa = row1[a]!;
        gradient[a] = gradient[a]! + xa * r;
        const wa = w * xa;
        for (let b = 0; b <= a; b++) hessian[a * p + b] = hessian[a * p + b]! + wa * row1[b]!;
      }
    }
    for (let a = 0; a < p; a++) for (let b = 0; b < a; b++) hessian[b * p + a] = hessian[a * p + b]!;
    for (let j = 1; j < p; j++) {
      gradient[j] = gradient[j]! - ridge * beta[j]!;
      hessian[j * p + j] = hessian[j * p + j]! + ridge;
    }
    maxGradient = 0;
    for (let j = 0; j < p; j++) maxGradient = Math.max(maxGradient, Math.abs(gradient[j]!));

    let factor = cholesky(hessian, p);
    if (!factor) {
      // Singular or nearly so: add a small ridge, raised tenfold until the factorisation holds.
      let meanDiagonal = 0;
      for (let j = 0; j < p; j++) meanDiagonal += hessian[j * p + j]! / p;
      let extra = Math.max(1e-10 * meanDiagonal, 1e-12);
      const trial = new Float64Array(hessian);
      for (let attempt = 0; attempt < 40 && !factor; attempt++, extra *= 10) {
        trial.set(hessian);
        for (let j = 1; j < p; j++) trial[j * p + j] = trial[j * p + j]! + extra;
        factor = cholesky(trial, p);
        if (factor) {
          ridge += extra;
          for (let j = 1; j < p; j++) gradient[j] = gradient[j]! - extra * beta[j]!;
          dev = deviance(x, y, beta, ridge);
        }
      }
      if (!factor) {
        throw new LendingError(
          'LEND_NOT_CONVERGED',
          'the information matrix cannot be factorised even with a ridge',
          {
            hint: 'Look for constant or duplicated characteristics',
          },
        );
      }
    }
    lastFactor = factor;
    const delta = solveCholesky(factor, p, gradient);

    let step = 1;
    let next = new Float64Array(p);
    let nextDev = Infinity;
    for (let halving = 0; halving <= 30; halving++) {
      for (let j = 0; j < p; j++) next[j] = beta[j]! + step * delta[j]!;
      nextDev = deviance(x, y, next, ridge);
      if (Number.isFinite(nextDev) && nextDev <= dev + 1e-12 * Math.abs(dev)) break;
      step /= 2;
    }
    if (!Number.isFinite(nextDev) || nextDev > dev + 1e-12 * Math.abs(dev)) {
      next = beta; // no step improves: we are at the optimum to machine precision
      nextDev = dev;
    }
    const change = Math.abs(dev - nextDev) / (Math.abs(nextDev) + 0.1);
    beta = next;
    dev = nextDev;
    if (change < tolerance && maxGradient < gradientTolerance * Math.max(1, n)) {
      assertNoSeparation(x, beta);
      return {
        coefficients: [...beta],
        standardErrors: standardErrors(lastFactor, p),
        iterations: iteration,
        deviance: dev,
        converged: true,
        ridge,
        maxGradient,
      };
    }
  }
  const largest = Math.max(...[...beta].slice(1).map(Math.abs));
  throw new LendingError(
    'LEND_NOT_CONVERGED',
    `logistic regression did not converge in ${maxIterations} iterations (largest gradient ${maxGradient.toExponential(2)}, largest coefficient ${largest.toFixed(1)})`,
    {
      hint:
        largest > 15
          ? 'A characteristic separates goods from bads completely; merge its bins or drop it'
          : 'Raise the iteration limit or check the data',
    },
  );
}

/**
 * Under complete or quasi-complete separation the likelihood keeps rising as coefficients run off to
 * infinity, and the gradient fades, so the iteration can look converged. A fitted log-odds beyond
 * +-25 (a probability within 1e-11 of 0 or 1) is taken as that case and refused.
 */
function assertNoSeparation(x: readonly ArrayLike<number>[], beta: Float64Array): void {
  const k = beta.length - 1;
  for (const row of x) {
    let eta = beta[0]!;
    for (let j = 0; j < k; j++) eta += beta[j + 1]! * row[j]!;
    if (Math.abs(eta) > 25) {
      throw new LendingError(
        'LEND_NOT_CONVERGED',
        'the maximum-likelihood fit does not exist: fitted probabilities of 0 or 1',
        {
          hint: 'A characteristic separates goods from bads completely; merge its bins or drop it',
        },
      );
    }
  }
}

/** Square roots of the diagonal of the inverse information matrix, from its Cholesky factor. */
function standardErrors(factor: Float64Array | undefined, p: number): number[] {
  if (!factor) return new Array<number>(p).fill(Number.NaN);
  const out: number[] = [];
  for (let j = 0; j < p; j++) {
    const e = new Float64Array(p);
    e[j] = 1;
    out.push(Math.sqrt(solveCholesky(factor, p, e)[j]!));
  }
  return out;
}

export function predictLogistic(coefficients: readonly number[], row: ArrayLike<number>): number {
  let eta = coefficients[0] ?? 0;
  for (let j = 1; j < coefficients.length; j++) eta += coefficients[j]! * row[j - 1]!;
  return sigmoid(eta);
}
