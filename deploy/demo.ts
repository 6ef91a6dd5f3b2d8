// `npm run demo`: builds a whole bridge in ./demo (CA, keys, a synthetic county of 50,000 residents),
// then runs export, ferry and import, and prints what moved, how fast, and what to try next.
// Running it again starts afresh.
import { Command } from 'commander';
import { join, relative } from 'node:path';
import { action, progressLine } from '../shared/cli-support.js';
import { createLogger } from '../shared/logger.js';
import { ferryOnce } from '../shared/ferry/ferry.js';
import { openInnerContext } from '../inner-node/context.js';
import { exportDataset } from '../inner-node/export.js';
import { openOuterContext } from '../outer-node/context.js';
import { importOnce } from '../outer-node/import.js';
import { buildDemoEnvironment } from './demo-environment.js';
import { runLendingDemo } from './lending-demo.js';

const program = new Command('demo')
  .description('Run the govbank-bridge demo: synthetic county -> sealed bundles -> ferry -> bank database')
  .option('--dir <dir>', 'folder for the demo (replaced)', 'demo')
  .option('--residents <n>', 'residents in the synthetic county', '50000')
  .option('--seed <n>', 'random seed for the synthetic county', '20261122')
  .action(
    action(async (opts: { dir: string; residents: string; seed: string }) => {
      const say = (text: string): void => void process.stdout.write(`${text}\n`);
      const logger = createLogger({ name: 'demo', level: 'warn' });
      const started = Date.now();
      say('govbank-bridge demo');
      const countyProgress = progressLine('  county');
      const env = await buildDemoEnvironment({
        dir: opts.dir,
        residents: Number(opts.residents),
        seed: Number(opts.seed),
        onStep: (s) => say(`- ${s}`),
        onCountyProgress: (done, total) => countyProgress.update(done, 0, total),
      });
      countyProgress.done();
      const setupSeconds = (Date.now() - started) / 1000;

      say('- export: read seven government tables, map each to its contract, seal for bank-a');
      const t0 = Date.now();
      const inner = await openInnerContext(env.innerConfig, logger);
      let exported = 0;
      let bundles = 0;
      let bytes = 0;
      let rejects = 0;
      const perDataset: { dataset: string; rows: number; bundles: number }[] = [];
      try {
        const progress = progressLine('  export');
        for (const dataset of Object.keys(inner.settings.config.datasets)) {
          for (const r of await exportDataset(inner, dataset, {
            onProgress: (p) => progress.update(exported + p.rows, p.bytes),
          })) {
            perDataset.push({ dataset: r.dataset, rows: r.rows, bundles: r.bundles.length });
            exported += r.rows;
            rejects += r.rejects;
            bundles += r.bundles.length;
            bytes += r.bundles.reduce((sum, b) => sum + b.bytes, 0);
          }
        }
        progress.done();
      } finally {
        inner.close();
      }
      const t1 = Date.now();

      say('- ferry: outbox -> inbox (write to a temporary name, then rename)');
      const carried = await ferryOnce({
        from: join(env.innerDir, 'outbox'),
        to: join(env.outerDir, 'inbox'),
      });
      const t2 = Date.now();

      say('- import: verify, decrypt, map to the bank schema, load with the ledger in one transaction');
      const outer = await openOuterContext(env.outerConfig, logger);
      let applied = 0;
      let imported = 0;
      try {
        const pass = await importOnce(outer, { settleMs: 0 });
        applied = pass.applied;
        imported = pass.rows;
        if (pass.quarantined > 0 || pass.retrying > 0 || pass.waiting > 0) {
          throw new Error(`import incomplete: ${JSON.stringify(pass)}`);
        }
      } finally {
        await outer.close();
      }
      const t3 = Date.now();

      say(
        '- lending: portraits under a county batch programme, a scorecard trained on past loans, one application',
      );
      const lending = runLendingDemo({
        countyDb: env.county.dbPath,
        povertyCsv: env.county.csvPath,
        bankDb: env.bankDb,
        bank: 'bank-a',
        innerConfig: env.innerConfig,
        outerConfig: env.outerConfig,
        outerDir: env.outerDir,
      });

      const pipelineSeconds = (t3 - t0) / 1000;
      const rel = (p: string): string => relative(process.cwd(), p) || '.';
      say('');
      say('summary');
      say(
        `  county      ${env.county.tables['RK_JBXX']?.toLocaleString('en-US')} residents generated in ${env.county.seconds.toFixed(1)} s (setup incl. keys ${setupSeconds.toFixed(1)} s)`,
      );
      say(
        `  exported    ${exported.toLocaleString('en-US')} rows in ${bundles} bundle(s), ${(bytes / 1048576).toFixed(1)} MiB sealed, ${rejects} rejected, ${((t1 - t0) / 1000).toFixed(2)} s`,
      );
      for (const d of perDataset) {
        say(
          `    ${d.dataset.padEnd(16)} ${d.rows.toLocaleString('en-US').padStart(10)} rows  ${d.bundles} bundle(s)`,
        );
      }
      say(`  ferried     ${carried.files} file(s) in ${((t2 - t1) / 1000).toFixed(2)} s`);
      say(
        `  imported    ${imported.toLocaleString('en-US')} rows from ${applied} bundle(s) in ${((t3 - t2) / 1000).toFixed(2)} s`,
      );
      say(
        `  end to end  ${pipelineSeconds.toFixed(2)} s, ${Math.round(imported / Math.max(pipelineSeconds, 0.001)).toLocaleString('en-US')} rows/s`,
      );
      say(
        `  lending     scorecard ${lending.modelVersion} trained on ${lending.loans.toLocaleString('en-US')} past loans (AUC ${lending.auc.toFixed(3)}); decision in ${lending.decideMs.toFixed(1)} ms:`,
      );
      for (const line of lending.decision.split('\n')) say(`    ${line}`);
      say(`  county db   ${rel(env.county.dbPath)}`);
      say(
        `  bank db     ${rel(env.bankDb)} (tables GOV_RESIDENT, GOV_SOCIAL_INSURANCE, ...; ledger bridge_ledger)`,
      );
      say('');
      say('next');
      say(`  npx inner-node status --config ${rel(env.innerConfig)}`);
      say(`  npx outer-node status --config ${rel(env.outerConfig)}`);
      say(`  npx bridge-keys list --trust ${rel(join(env.outerDir, 'trust'))}`);
      say(`  sqlite3 ${rel(env.bankDb)} 'SELECT stream, sequence, row_count FROM bridge_ledger'`);
      say(
        `  npx bridge-keys inspect ${rel(join(env.innerDir, 'state', 'sent'))}/<file>.gbb --trust ${rel(join(env.outerDir, 'trust'))}`,
      );
      say(`  npx inner-node export --config ${rel(env.innerConfig)}   # nothing new: the cursor is current`);
      say('');
      say('an application decided through the reverse lane (four terminals, or append & to each):');
      say(`  npx inner-node run --config ${rel(env.innerConfig)}`);
      say(`  npx outer-node run --config ${rel(env.outerConfig)}`);
      say(
        `  npx bridge-ferry --from ${rel(join(env.innerDir, 'outbox'))} --to ${rel(join(env.outerDir, 'inbox'))} --every 1s`,
      );
      say(
        `  npx bridge-ferry --from ${rel(join(env.outerDir, 'outbox'))} --to ${rel(join(env.innerDir, 'inbox'))} --every 1s`,
      );
      const a = lending.laneApplicant;
      say(
        `  npx outer-node lend apply --db ${rel(env.bankDb)} --id-number ${a.idNumber} --amount 30000 --consent ${a.consentId} --consent-file ${rel(a.consentFile)} --application-id DEMO-LANE-1`,
      );
      say(
        `  sqlite3 ${rel(env.bankDb)} "SELECT decision, line_yuan, rate_percent, application_to_decision_ms FROM lend_decisions WHERE application_id = 'DEMO-LANE-1'"`,
      );
    }),
  );

await program.parseAsync();
