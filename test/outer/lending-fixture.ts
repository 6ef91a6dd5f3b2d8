// Test support for lending inside the outer node: a small scorecard trained on a synthetic loan
// history (two characteristics with a known effect), the example policy, and an applicant with a
// consent and a fresh portrait recorded in the bank's lending tables.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Consent, Portrait } from '../../shared/portrait.js';
import { LendingStore } from '../../outer-node/lending/decisions-store.js';
import { trainScorecard } from '../../outer-node/lending/scorecard.js';
import { residentId } from './support.js';

export const POLICY_FILE = join(import.meta.dirname, '../../outer-node/lending/policy.example.yaml');

/** A deterministic pseudo-random source. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Trains a scorecard on 3,000 synthetic loans (more contribution months, older: fewer defaults). */
export function writeTestModel(file: string): string {
  const random = seeded(42);
  const rows: string[][] = [];
  for (let i = 0; i < 3000; i++) {
    const months = Math.floor(random() * 25);
    const age = 20 + Math.floor(random() * 45);
    const logOdds = -1.2 - 0.12 * months - 0.02 * (age - 20);
    const bad = random() < 1 / (1 + Math.exp(-logOdds)) ? '1' : '0';
    rows.push([String(months), String(age), bad]);
  }
  const model = trainScorecard(
    { columns: ['ss_months_24', 'age', 'default_12m'], rows },
    { label: 'default_12m', name: 'test-scorecard', now: new Date('2026-11-01T00:00:00Z') },
  );
  writeFileSync(file, `${JSON.stringify(model, null, 2)}\n`);
  return model.version;
}

/** A consent and a fresh portrait for applicant `serial`, recorded in the lending tables of `db`. */
export function recordApplicant(
  db: string,
  serial: number,
  now = new Date(),
): { idNumber: string; consentId: string } {
  const idNumber = residentId(serial);
  const consentId = `C-${serial}`;
  const consent: Consent = {
    consent_id: consentId,
    id_number: idNumber,
    bank: 'bank-a',
    purpose: 'lending',
    scope: ['*'],
    granted_at: new Date(now.getTime() - 3_600_000).toISOString(),
    expires_at: new Date(now.getTime() + 30 * 86_400_000).toISOString(),
    verified_by: 'counter-face-check',
  };
  const portrait: Portrait = {
    format: 1,
    definition: { name: 'county-portrait', version: 1 },
    idNumber,
    asOf: now.toISOString(),
    sourceUpdatedAt: null,
    features: {
      age: 30 + (serial % 20),
      ss_months_24: serial % 25,
      ss_contribution_base: 6000,
      pf_monthly_deposit: 1200,
      enforcement_open: 0,
      dishonest_debtor: false,
    },
  };
  const store = new LendingStore(db);
  try {
    store.recordConsent(consent, now);
    store.putPortrait(portrait, now);
  } finally {
    store.close();
  }
  return { idNumber, consentId };
}
