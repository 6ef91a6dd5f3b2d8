#!/usr/bin/env node
// inner-node: the government-side node. Thin: parse flags, call the library, print (style.md rule 10).
import { Command } from 'commander';
import { action, cliLogger, progressLine, stopSignal } from '../shared/cli-support.js';
import { maskResidentIdsInText } from '../shared/resident-id.js';
import { loadInnerConfig } from './config.js';
import { openInnerContext } from './context.js';
import { runInnerDaemon } from './daemon.js';
import { exportDataset } from './export.js';
import { initInnerNode } from './init.js';

const DEFAULT_CONFIG = 'inner-node.yaml';

const program = new Command('inner-node')
  .description(
    'Government-side node of govbank-bridge: reads government sources, maps them to data contracts,\n' +
      'and writes encrypted, signed bundles for each authorised bank into its outbox. Opens no port.',
  )
  .showHelpAfterError();

program
  .command('init')
  .description('write a commented starting configuration and the folders a node needs')
  .argument('<dir>', 'folder for the node (created if missing)')
  .option('--name <name>', 'node name', 'county')
  .option('--bank <name>', 'first bank to authorise', 'bank-a')
  .option('--source <path>', 'SQLite source database path', 'county.db')
  .option('--force', 'overwrite an existing configuration')
  .action(
    action((dir: string, opts: { name: string; bank: string; source: string; force?: boolean }) => {
      const created = initInnerNode(dir, { name: opts.name, bank: opts.bank, sourcePath: opts.source, force: opts.force ?? false });
      process.stdout.write(`created:\n${created.map((c) => `  ${c}`).join('\n')}\n`);
      process.stdout.write(
        `next: issue keys with 'bridge-keys issue --role inner --name ${opts.name} --out ${dir}/keys', import the bank's certificate into ${dir}/trust, then 'inner-node check --config ${dir}/inner-node.yaml'\n`,
      );
    }),
  );

program
  .command('check')
  .description('validate the configuration and report every problem with its line')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .action(
    action((opts: { config: string }) => {
      const settings = loadInnerConfig(opts.config);
      const datasets = Object.keys(settings.config.datasets).length;
      const banks = Object.keys(settings.config.banks).length;
      process.stdout.write(`${settings.path}: valid (${datasets} dataset(s), ${banks} bank(s))\n`);
    }),
  );

program
  .command('export')
  .description('export a dataset (or all) to every authorised bank now, then exit')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .option('-d, --dataset <name>', 'dataset to export (default: all)')
  .option('--once', 'run one export and exit (the default for this command)')
  .option('-v, --verbose', 'log each bundle')
  .action(
    action(async (opts: { config: string; dataset?: string; verbose?: boolean }) => {
      const ctx = await openInnerContext(opts.config, cliLogger('inner-node', opts.verbose));
      try {
        const datasets = opts.dataset ? [opts.dataset] : Object.keys(ctx.settings.config.datasets);
        for (const dataset of datasets) {
          const progress = progressLine(`export ${dataset}`);
          const started = Date.now();
          const results = await exportDataset(ctx, dataset, { onProgress: (p) => progress.update(p.rows, p.bytes) });
          progress.done();
          const seconds = (Date.now() - started) / 1000;
          for (const r of results) {
            process.stdout.write(
              `${r.stream}: ${r.rows} rows in ${r.bundles.length} bundle(s), ${r.rejects} rejected, ${seconds.toFixed(1)} s\n`,
            );
          }
        }
      } finally {
        ctx.close();
      }
    }),
  );

program
  .command('run')
  .description('run as a daemon: export each dataset at its interval until SIGINT/SIGTERM')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .action(
    action(async (opts: { config: string }) => {
      const logger = cliLogger('inner-node');
      logger.level = process.env['BRIDGE_LOG_LEVEL'] ?? 'info';
      const ctx = await openInnerContext(opts.config, logger);
      try {
        await runInnerDaemon(ctx, stopSignal());
      } finally {
        ctx.close();
      }
    }),
  );

program
  .command('status')
  .description('per stream: next sequence, cursor, bundles and rows sent, last run')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .option('--json', 'print JSON')
  .action(
    action(async (opts: { config: string; json?: boolean }) => {
      const ctx = await openInnerContext(opts.config, cliLogger('inner-node'));
      try {
        const streams = ctx.state.streams();
        if (opts.json) {
          // Cursor keys can hold resident ID numbers: masked on the way out like every log line.
          process.stdout.write(`${maskResidentIdsInText(JSON.stringify(streams, null, 2))}\n`);
          return;
        }
        if (streams.length === 0) process.stdout.write('no streams yet: run inner-node export\n');
        for (const s of streams) {
          const run = s.lastRun
            ? `last run ${s.lastRun.finishedAt} ${s.lastRun.status} (${s.lastRun.rows} rows, ${s.lastRun.rejects} rejected)${s.lastRun.message ? `: ${s.lastRun.message}` : ''}`
            : 'never run';
          process.stdout.write(
            `${s.stream}\n  next sequence ${s.nextSequence}, cursor ${s.cursorWatermark ?? '-'}\n  sent ${s.bundles} bundle(s), ${s.rows} rows; ${run}\n`,
          );
        }
      } finally {
        ctx.close();
      }
    }),
  );

await program.parseAsync();
