// IRLS against solutions known in closed form: with one binary covariate, or a saturated set of
// dummies, the maximum-likelihood fit reproduces the observed log-odds of each group exactly.
import { describe, expect, it } from 'vitest';
import { errorCode } from '../../shared/errors.js';
import { fitLogistic, predictLogistic } from '../../outer-node/lending/logistic.js';

function groups(spec: { x: number[]; rows: number; bads: number }[]): { x: number[][]; y: number[] } {
  const x: number[][] = [];
  const y: number[] = [];
  for (const g of spec)
    for (let i = 0; i < g.rows; i++) {
      x.push(g.x);
      y.push(i < g.bads ? 1 : 0);
    }
  return { x, y };
}

describe('fitLogistic', () => {
  it('one binary covariate: b0 = logit(p0), b1 = logit(p1) - logit(p0), with the textbook standard errors', () => {
    // x = 0: 30 rows, 6 bads (p0 = 0.2); x = 1: 20 rows, 10 bads (p1 = 0.5).
    // b0 = ln(0.2 / 0.8) = -1.386294; b1 = ln(1) - ln(0.25) = 1.386294.
    // SE(b1) = sqrt(1/6 + 1/24 + 1/10 + 1/10) = 0.639010; SE(b0) = sqrt(1/6 + 1/24) = 0.456435.
    // Deviance = -2 (6 ln .2 + 24 ln .8 + 20 ln .5) = 57.750033.
    const { x, y } = groups([
      { x: [0], rows: 30, bads: 6 },
      { x: [1], rows: 20, bads: 10 },
    ]);
    const fit = fitLogistic(x, y);
    expect(fit.coefficients[0]).toBeCloseTo(Math.log(0.25), 9);
    expect(fit.coefficients[1]).toBeCloseTo(-Math.log(0.25), 9);
    expect(fit.standardErrors[1]).toBeCloseTo(0.6390096504226938, 6);
    expect(fit.standardErrors[0]).toBeCloseTo(0.4564354645876384, 6);
    expect(fit.deviance).toBeCloseTo(57.75003263468908, 8);
    expect(fit.ridge).toBe(0);
  });

  it('saturated dummies reproduce every group log-odds', () => {
    // Levels a (reference) 4/40 = 0.1, b 10/50 = 0.2, c 5/10 = 0.5:
    // b0 = logit .1 = -2.197225, b_b = logit .2 - logit .1 = 0.810930, b_c = 0 - logit .1 = 2.197225.
    const { x, y } = groups([
      { x: [0, 0], rows: 40, bads: 4 },
      { x: [1, 0], rows: 50, bads: 10 },
      { x: [0, 1], rows: 10, bads: 5 },
    ]);
    const fit = fitLogistic(x, y);
    expect(fit.coefficients[0]).toBeCloseTo(-2.1972245773362196, 9);
    expect(fit.coefficients[1]).toBeCloseTo(0.810930216216329, 9);
    expect(fit.coefficients[2]).toBeCloseTo(2.1972245773362196, 9);
  });

  it('satisfies the score equations X^T (y - p) = 0 on a continuous covariate', () => {
    const x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((v) => [v, (v * 7) % 5]);
    const y = [0, 0, 1, 0, 0, 1, 0, 1, 1, 1];
    const fit = fitLogistic(x, y);
    const residual = y.map((v, i) => v - predictLogistic(fit.coefficients, x[i]!));
    expect(Math.abs(residual.reduce((s, r) => s + r, 0))).toBeLessThan(1e-8);
    expect(Math.abs(residual.reduce((s, r, i) => s + r * x[i]![0]!, 0))).toBeLessThan(1e-8);
    expect(Math.abs(residual.reduce((s, r, i) => s + r * x[i]![1]!, 0))).toBeLessThan(1e-8);
  });

  it('reports non-convergence under complete separation as an error', () => {
    expect.assertions(2);
    try {
      fitLogistic([[1], [2], [3], [4]], [0, 0, 1, 1]);
    } catch (error) {
      expect(errorCode(error)).toBe('LEND_NOT_CONVERGED');
      expect(String(error)).toMatch(/separates/);
    }
  });

  it('adds and reports a small ridge when columns are collinear', () => {
    const base = [1, 2, 3, 4, 5, 6, 7, 8];
    const y = [0, 1, 0, 0, 1, 1, 0, 1];
    const single = fitLogistic(
      base.map((v) => [v]),
      y,
    );
    const doubled = fitLogistic(
      base.map((v) => [v, v]),
      y,
    );
    expect(doubled.ridge).toBeGreaterThan(0);
    // The same predictions: the two copies share the single coefficient.
    for (const v of base) {
      expect(predictLogistic(doubled.coefficients, [v, v])).toBeCloseTo(
        predictLogistic(single.coefficients, [v]),
        4,
      );
    }
  });
});
