// Per-bank authorisation (issue 4): each bank's bundles are sealed for that bank alone and hold only
// the columns the county authorised for it. Proven by decrypting as each bank with real keys.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportDataset } from '../../inner-node/export.js';
import { generateCounty } from '../../inner-node/synthetic/county.js';
import { VerificationError } from '../../shared/errors.js';
import { innerFixture, templateConfig, type InnerFixture } from './fixture.js';

describe('per-bank authorisation', () => {
  let fx: InnerFixture;

  beforeAll(async () => {
    fx = await innerFixture(['bank-a', 'bank-b']);
    const county = generateCounty({ seed: 3, residents: 400, dir: join(fx.root, 'county') });
    const config = templateConfig(county.dbPath);
    config.banks = {
      'bank-a': {
        datasets: { residents: ['id_number', 'name', 'birth_date', 'updated_at'], enforcement: '*' },
      },
      'bank-b': { datasets: { residents: '*' } },
    };
    fx.writeConfig(config);
  });
  afterAll(() => fx.cleanup());

  it("seals each bank's bundle for that bank alone, holding only its authorised columns", async () => {
    const ctx = await fx.open();
    try {
      const results = await exportDataset(ctx, 'residents');
      expect(results.map((r) => [r.bank, r.rows])).toEqual([
        ['bank-a', 400],
        ['bank-b', 400],
      ]);
    } finally {
      await ctx.dispose();
    }
    const [fileA] = fx.bundles('county.bank-a.residents');
    const [fileB] = fx.bundles('county.bank-b.residents');
    expect(fileA).toMatch(/county\.bank-a\.residents\.0000000001\.gbb$/);
    const a = await fx.openAs('bank-a', fileA ?? '');
    expect(a.preamble.columns).toEqual(['id_number', 'name', 'birth_date', 'updated_at']);
    expect(a.header.recipients).toHaveLength(1);
    expect(a.rows).toHaveLength(400);
    for (const row of a.rows) {
      expect(row).toHaveLength(4);
      expect(row[2]).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(row[3]).toMatch(/\+08:00$/);
    }
    // Nothing else in the plaintext: no gender, ethnicity, marital status or address value anywhere.
    const plaintext = JSON.stringify(a);
    expect(plaintext).not.toMatch(/"(male|female|urban|rural)"/);
    expect(plaintext).not.toContain('安徽省');

    const b = await fx.openAs('bank-b', fileB ?? '');
    expect(b.preamble.columns).toContain('ethnicity');
    expect(b.rows).toHaveLength(400);

    // bank-b cannot open bank-a's bundle, and the other way round.
    await expect(fx.openAs('bank-b', fileA ?? '')).rejects.toSatisfy(
      (e: unknown) => e instanceof VerificationError && e.code === 'VERIFY_NOT_FOR_US',
    );
    await expect(fx.openAs('bank-a', fileB ?? '')).rejects.toSatisfy(
      (e: unknown) => e instanceof VerificationError && e.code === 'VERIFY_NOT_FOR_US',
    );
  });

  it('sends a dataset only to banks authorised for it', async () => {
    const ctx = await fx.open();
    try {
      const results = await exportDataset(ctx, 'enforcement');
      expect(results.map((r) => r.bank)).toEqual(['bank-a']);
      expect(fx.bundles('county.bank-b.enforcement')).toEqual([]);
    } finally {
      await ctx.dispose();
    }
  });
});
