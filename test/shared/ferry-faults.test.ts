// The rehearsal ferry's faults: each decided by rate and seed, so a run replays exactly.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ferryOnce, type FerryFaults } from '../../shared/ferry/ferry.js';

let root: string;
afterEach(() => rmSync(root, { recursive: true, force: true }));

function setup(files: number): { from: string; to: string } {
  root = mkdtempSync(join(tmpdir(), 'gbb-ferry-'));
  const from = join(root, 'outbox');
  const to = join(root, 'inbox');
  mkdirSync(from);
  for (let i = 0; i < files; i++) {
    writeFileSync(join(from, `s.${String(i).padStart(10, '0')}.gbb`), Buffer.alloc(1000 + i, i % 256));
  }
  return { from, to };
}

async function drain(from: string, to: string, faults: FerryFaults, passes = 5): Promise<string[]> {
  for (let i = 0; i < passes; i++) await ferryOnce({ from, to, faults, now: () => Date.now() + i * 10_000 });
  return readdirSync(to).sort();
}

describe('ferry faults', () => {
  it('drop loses about the stated fraction, the same files for the same seed', async () => {
    const a = setup(200);
    const first = await drain(a.from, a.to, { seed: 42, drop: 0.1 });
    expect(first.length).toBeGreaterThan(160);
    expect(first.length).toBeLessThan(195);
    rmSync(root, { recursive: true, force: true });
    const b = setup(200);
    expect(await drain(b.from, b.to, { seed: 42, drop: 0.1 })).toEqual(first);
  });

  it('reorder holds files back one pass; every file arrives in the end', async () => {
    const { from, to } = setup(50);
    const pass = await ferryOnce({ from, to, faults: { seed: 7, reorder: 0.3 } });
    expect(pass.held).toBeGreaterThan(5);
    expect(readdirSync(to).length).toBe(50 - pass.held);
    await ferryOnce({ from, to, faults: { seed: 7, reorder: 0.3 }, now: () => Date.now() + 1000 });
    expect(readdirSync(to).length).toBe(50);
  });

  it('duplicate delivers a second copy on a later pass', async () => {
    const { from, to } = setup(40);
    const first = await ferryOnce({ from, to, faults: { seed: 3, duplicate: 0.25 } });
    expect(first.duplicated).toBeGreaterThan(3);
    // The receiver consumes what arrived; the duplicates then arrive again.
    for (const name of readdirSync(to)) rmSync(join(to, name));
    const second = await ferryOnce({
      from,
      to,
      faults: { seed: 3, duplicate: 0.25 },
      now: () => Date.now() + 1000,
    });
    expect(second.files).toBe(first.duplicated);
  });

  it('truncate delivers a strict prefix', async () => {
    const { from, to } = setup(30);
    const originals = new Map(readdirSync(from).map((n) => [n, readFileSync(join(from, n))]));
    const pass = await ferryOnce({ from, to, faults: { seed: 9, truncate: 0.3 } });
    expect(pass.truncated).toBeGreaterThan(2);
    let shorter = 0;
    for (const name of readdirSync(to)) {
      const got = readFileSync(join(to, name));
      const original = originals.get(name);
      expect(original?.subarray(0, got.length).equals(got)).toBe(true);
      if (got.length < (original?.length ?? 0)) shorter++;
    }
    expect(shorter).toBe(pass.truncated);
  });

  it('delay holds files until their time', async () => {
    const { from, to } = setup(20);
    const t0 = Date.now();
    const pass = await ferryOnce({
      from,
      to,
      faults: { seed: 5, delay: 0.5, delayMs: 60_000 },
      now: () => t0,
    });
    await ferryOnce({ from, to, faults: { seed: 5, delay: 0.5, delayMs: 60_000 }, now: () => t0 + 30_000 });
    expect(readdirSync(to).length).toBe(20 - pass.held);
    await ferryOnce({ from, to, faults: { seed: 5, delay: 0.5, delayMs: 60_000 }, now: () => t0 + 61_000 });
    expect(readdirSync(to).length).toBe(20);
  });

  it('in-place writes the final name before the file is complete', async () => {
    const { from, to } = setup(1);
    const name = readdirSync(from)[0] ?? '';
    const size = statSync(join(from, name)).size;
    const carrying = ferryOnce({ from, to, faults: { seed: 1, inPlace: true, inPlaceGapMs: 400 } });
    await new Promise((r) => setTimeout(r, 150));
    expect(statSync(join(to, name)).size).toBeLessThan(size);
    await carrying;
    expect(statSync(join(to, name)).size).toBe(size);
  });

  it('a file offered again gets a fresh fate: a resend is not doomed to its first drop', async () => {
    const { from, to } = setup(40);
    const originals = new Map(readdirSync(from).map((n) => [n, readFileSync(join(from, n))]));
    const faults = { seed: 11, drop: 0.5 };
    await ferryOnce({ from, to, faults });
    const lost = [...originals.keys()].filter((n) => !readdirSync(to).includes(n));
    expect(lost.length).toBeGreaterThan(5);
    // The sender re-sends the lost files under the same names, as a resend from retention does.
    for (let round = 0; round < 12 && lost.some((n) => !readdirSync(to).includes(n)); round++) {
      for (const name of lost) {
        if (!readdirSync(to).includes(name)) writeFileSync(join(from, name), originals.get(name) ?? '');
      }
      await ferryOnce({ from, to, faults });
    }
    expect(readdirSync(to).sort()).toEqual([...originals.keys()].sort());
  });
});
