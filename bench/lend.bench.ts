// Lending decisions: latency with the portrait present, from an application row to the decision
// record written in the bank's SQLite database (p50 and p99; goal p99 under 20 ms), and decisions per
// second in-process (the pure decide() call). The application-to-decision time through the reverse
// lane (lend.apply_via_lane_p50/p99) waits for the reverse lane and is not measured here.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { generateCounty } from '../inner-node/synthetic/county.js';
import { portraitBatch } from '../inner-node/portraits/batch.js';
import { loadPortraitDefinition } from '../inner-node/portraits/release.js';
import { decide } from '../outer-node/lending/decision.js';
import { LendingStore } from '../outer-node/lending/decisions-store.js';
import { generateLoanHistory } from '../outer-node/lending/history.js';
import { loadPolicy } from '../outer-node/lending/policy.js';
import { trainScorecard } from '../outer-node/lending/scorecard.js';
import { benchDir, metric, step, type Benchmark, type MetricResult } from './harness.js';

const RESIDENTS = 20_000;
const RUNS = 3;
const PER_RUN = 1000;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

export const benchmark: Benchmark = {
  name: 'lend',
  description:
    'lending decisions: latency with the portrait present (incl. the SQLite write) and decisions per second',
  run(): Promise<Record<string, MetricResult>> {
    return Promise.resolve(runLendBenchmark());
  },
};

function runLendBenchmark(): Record<string, MetricResult> {
  const dir = benchDir('lend');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const now = new Date('2026-11-01T00:00:00+08:00');
  step(`synthetic county of ${RESIDENTS} residents, portraits, loan history, scorecard`);
  const county = generateCounty({ seed: 20261122, residents: RESIDENTS, dir: join(dir, 'county'), now });
  const definition = loadPortraitDefinition();
  const portraits = [
    ...portraitBatch({
      countyDb: county.dbPath,
      povertyCsv: county.csvPath,
      definition,
      grant: { bank: 'bank-a', features: definition.features },
      programme: {
        programme_id: 'BENCH',
        bank: 'bank-a',
        purpose: 'lending',
        features: definition.features,
        approved_by: 'bench',
        valid_from: '2026-01-01T00:00:00+08:00',
        valid_until: '2027-01-01T00:00:00+08:00',
      },
      purpose: 'lending',
      now,
    }),
  ].filter((p) => {
    const age = p.features['age'];
    return typeof age === 'number' && age >= 18;
  });
  const model = trainScorecard(generateLoanHistory(portraits, { seed: 1 }), { label: 'default_12m', now });
  const policy = loadPolicy(join(import.meta.dirname, '../../outer-node/lending/policy.example.yaml'));
  const consentOf = (id: string) => ({
    consent_id: `C${id}`,
    id_number: id,
    bank: 'bank-a',
    purpose: 'lending',
    scope: ['*'],
    granted_at: '2026-10-01T00:00:00+08:00',
    expires_at: '2027-01-01T00:00:00+08:00',
    verified_by: 'bench',
  });

  step(`decision latency: ${RUNS} x ${PER_RUN} applications, portrait present, decision written to SQLite`);
  const store = new LendingStore(join(dir, 'bank.db'));
  const p50s: number[] = [];
  const p99s: number[] = [];
  const commits: number[] = [];
  let n = 0;
  try {
    for (const p of portraits.slice(0, RUNS * PER_RUN + 100)) {
      store.putPortrait(p, now);
      store.recordConsent(consentOf(p.idNumber), now);
    }
    const options = { model, policy, bank: 'bank-a', now: () => now, batch: 1 };
    for (let run = -1; run < RUNS; run++) {
      const times: number[] = [];
      for (let i = 0; i < (run < 0 ? 100 : PER_RUN); i++) {
        const p = portraits[n++ % portraits.length]!;
        // The bank's system inserts the application; the clock starts when the row is there.
        store.submitApplication(
          { applicationId: `B${n}`, idNumber: p.idNumber, amountYuan: 50_000, consentId: `C${p.idNumber}` },
          now,
        );
        const started = performance.now();
        const pass = store.answerPending(options);
        times.push(performance.now() - started);
        if (pass.decided.length !== 1) throw new Error(`application B${n} was not decided`);
      }
      if (run >= 0) {
        p50s.push(percentile(times, 50));
        p99s.push(percentile(times, 99));
      }
    }
    // The floor under any durable write here: one-row INSERT commits into the same file.
    store.db.exec('CREATE TABLE IF NOT EXISTS bench_commit (id INTEGER PRIMARY KEY, v TEXT)');
    const insert = store.db.prepare('INSERT INTO bench_commit (v) VALUES (?)');
    for (let i = 0; i < 300; i++) {
      const started = performance.now();
      insert.run('x');
      commits.push(performance.now() - started);
    }
  } finally {
    store.close();
  }

  step('decisions per second in-process (decide() on portraits already in memory)');
  const rates: number[] = [];
  for (let run = -1; run < RUNS; run++) {
    const count = 20_000;
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      const p = portraits[i % portraits.length]!;
      decide({
        application: {
          applicationId: `R${i}`,
          idNumber: p.idNumber,
          amountYuan: 50_000,
          consentId: `C${p.idNumber}`,
        },
        portrait: p,
        consent: consentOf(p.idNumber),
        model,
        policy,
        bank: 'bank-a',
        now,
      });
    }
    if (run >= 0) rates.push(count / ((performance.now() - started) / 1000));
  }
  rmSync(dir, { recursive: true, force: true });
  return {
    'lend.decision_p50': metric(
      'ms',
      p50s,
      undefined,
      `median of ${RUNS} runs of ${PER_RUN}: from the application row to the decision record committed (SQLite WAL, synchronous=FULL); a plain one-row INSERT commit on the same file takes p50 ${percentile(commits, 50).toFixed(2)} ms, p99 ${percentile(commits, 99).toFixed(2)} ms`,
    ),
    'lend.decision_p99': metric('ms', p99s, undefined, 'goal: under 20 ms'),
    'lend.decisions_per_s': metric(
      'decisions/s',
      rates,
      undefined,
      'pure decide() incl. consent check, scoring, rules, line, rate, reasons and portrait digest',
    ),
  };
}
