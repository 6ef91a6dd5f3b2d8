// The metric and WoE code against values worked out by hand (in the comments).
import { describe, expect, it } from 'vitest';
import {
  auc,
  calibrationTable,
  gini,
  ks,
  psi,
  PSI_FLOOR,
  scoreBands,
} from '../../outer-node/lending/metrics.js';
import { computeWoe } from '../../outer-node/lending/woe.js';

describe('AUC, Gini, KS', () => {
  it('counts correctly ordered bad/good pairs', () => {
    // bads at 0.35 and 0.8, goods at 0.1 and 0.4: pairs (0.35>0.1) yes, (0.35>0.4) no, (0.8>0.1) yes,
    // (0.8>0.4) yes -> 3 of 4 = 0.75; Gini = 2 * 0.75 - 1 = 0.5.
    const risk = [0.1, 0.4, 0.35, 0.8];
    const bad = [0, 0, 1, 1];
    expect(auc(risk, bad)).toBeCloseTo(0.75, 12);
    expect(gini(auc(risk, bad))).toBeCloseTo(0.5, 12);
  });

  it('counts a tie between a bad and a good as one half', () => {
    // bads at 0.5 and 0.9, goods at 0.2 and 0.5: 1 + 0.5 (tie) + 1 + 1 = 3.5 of 4 = 0.875.
    expect(auc([0.2, 0.5, 0.5, 0.9], [0, 0, 1, 1])).toBeCloseTo(0.875, 12);
    // Everything tied: no information, 0.5.
    expect(auc([1, 1, 1, 1], [0, 1, 0, 1])).toBeCloseTo(0.5, 12);
  });

  it('KS is the largest gap between the cumulative bad and good shares, ties moving together', () => {
    // Descending: 0.8 bad (1/2 vs 0) gap .5; 0.4 good (1/2 vs 1/2) 0; 0.35 bad (1 vs 1/2) .5; 0.1 good 0.
    expect(ks([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toEqual({ ks: 0.5, at: 0.8 });
    // Tied group at 0.5 holds one bad and one good: after it 1 vs 1/2, never 1 vs 0.
    expect(ks([0.2, 0.5, 0.5, 0.9], [0, 0, 1, 1]).ks).toBeCloseTo(0.5, 12);
    // Perfect separation: KS 1.
    expect(ks([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]).ks).toBeCloseTo(1, 12);
  });
});

describe('PSI', () => {
  it('sums (a - e) ln(a / e) with empty bins floored', () => {
    // Cuts 1.5, 2.5, 3.5: expected shares .25 each; actual [.75, 0, 0, .25].
    // bin 1: (.75 - .25) ln 3 = 0.549306; bins 2 and 3: (1e-4 - .25) ln(1e-4 / .25) = 1.955229 each; bin 4: 0.
    const result = psi([1, 2, 3, 4], [1, 1, 1, 4], [1.5, 2.5, 3.5]);
    expect(PSI_FLOOR).toBe(1e-4);
    expect(result.psi).toBeCloseTo(4.45976434056003, 10);
    expect(result.bins.map((b) => b.actual)).toEqual([0.75, 0, 0, 0.25]);
    expect(psi([1, 2, 3, 4], [1, 2, 3, 4], [1.5, 2.5, 3.5]).psi).toBe(0);
  });
});

describe('calibration and score bands', () => {
  it('groups by predicted probability', () => {
    const rows = calibrationTable([0.1, 0.2, 0.3, 0.4], [0, 0, 1, 1], 2);
    // Lower half: predicted (0.1 + 0.2) / 2 = 0.15, observed 0; upper: 0.35 and 1.
    expect(rows).toHaveLength(2);
    expect(rows[0]!.meanPredicted).toBeCloseTo(0.15, 12);
    expect(rows[0]!.observedBadRate).toBe(0);
    expect(rows[1]!.meanPredicted).toBeCloseTo(0.35, 12);
    expect(rows[1]!.observedBadRate).toBe(1);
  });

  it('bands scores highest first with cumulative shares', () => {
    const bands = scoreBands([601, 615, 630, 645, 580], [0, 1, 0, 0, 1], 20);
    // [640,660): 645; [620,640): 630; [600,620): 601, 615 (one bad); [580,600): 580 (bad).
    expect(bands.map((b) => [b.from, b.count, b.bads])).toEqual([
      [640, 1, 0],
      [620, 1, 0],
      [600, 2, 1],
      [580, 1, 1],
    ]);
    expect(bands.map((b) => b.cumulativeShare)).toEqual([0.2, 0.4, 0.8, 1]);
  });
});

describe('WoE and IV', () => {
  it('matches the textbook values when no cell is empty', () => {
    // G = 100, B = 50. Bin 1: 40/100 goods, 10/50 bads: WoE ln(0.4 / 0.2) = ln 2 = 0.693147.
    // Bin 2: ln(0.6 / 0.8) = -0.287682. IV = 0.2 * 0.693147 + (-0.2) * (-0.287682) = 0.196166.
    const r = computeWoe([
      { goods: 40, bads: 10 },
      { goods: 60, bads: 40 },
    ]);
    expect(r.smoothed).toBe(false);
    expect(r.woe[0]).toBeCloseTo(Math.LN2, 12);
    expect(r.woe[1]).toBeCloseTo(Math.log(0.75), 12);
    expect(r.iv).toBeCloseTo(0.19616585060234523, 12);
  });

  it('adds 0.5 to every cell when one is empty', () => {
    // Goods 10.5 and 10.5 of 21, bads 0.5 and 10.5 of 11: WoE ln(0.5 / (0.5/11)) = ln 11 and
    // ln(0.5 / (10.5/11)) = -0.646627.
    const r = computeWoe([
      { goods: 10, bads: 0 },
      { goods: 10, bads: 10 },
    ]);
    expect(r.smoothed).toBe(true);
    expect(r.woe[0]).toBeCloseTo(Math.log(11), 12);
    expect(r.woe[1]).toBeCloseTo(-0.6466271649250525, 12);
  });
});
