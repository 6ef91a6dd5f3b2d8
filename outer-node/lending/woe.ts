// Weight of evidence and information value of a binned characteristic.
//
//   WoE_i = ln( (goods_i / G) / (bads_i / B) )        positive: safer than average
//   IV    = sum_i (goods_i / G - bads_i / B) * WoE_i
//
// Smoothing for empty cells: a bin with no goods or no bads has an infinite WoE. When any bin of a
// characteristic has an empty cell, 0.5 is added to every cell of that characteristic (goods and bads
// of every bin, so G and B grow by 0.5 per bin), the Haldane-Anscombe correction; a characteristic
// without empty cells is not smoothed at all, so its WoE are the textbook values.

export interface CellCounts {
  goods: number;
  bads: number;
}

export interface WoeResult {
  woe: number[];
  iv: number;
  /** Whether the 0.5 correction was applied (some bin had no goods or no bads). */
  smoothed: boolean;
}

export const WOE_SMOOTHING = 0.5;

export function computeWoe(bins: readonly CellCounts[]): WoeResult {
  const smoothed = bins.some((b) => b.goods === 0 || b.bads === 0);
  const add = smoothed ? WOE_SMOOTHING : 0;
  let G = 0;
  let B = 0;
  for (const b of bins) {
    G += b.goods + add;
    B += b.bads + add;
  }
  const woe: number[] = [];
  let iv = 0;
  for (const b of bins) {
    const g = (b.goods + add) / G;
    const d = (b.bads + add) / B;
    const w = g > 0 && d > 0 ? Math.log(g / d) : 0;
    woe.push(w);
    iv += (g - d) * w;
  }
  return { woe, iv, smoothed };
}
