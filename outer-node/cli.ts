#!/usr/bin/env node
// outer-node: the bank-side node. Thin: parse flags, call the library, print (style.md rule 10).
import { Command } from 'commander';
import { action, cliLogger, stopSignal } from '../shared/cli-support.js';
import { loadOuterConfig } from './config.js';
import { openOuterContext, openTarget } from './context.js';
import { runOuterDaemon } from './daemon.js';
import { importOnce } from './import.js';
import { initOuterNode } from './init.js';
import { planSchema } from './schema.js';
import { SqliteTarget } from './targets/sqlite-target.js';

const DEFAULT_CONFIG = 'outer-node.yaml';

const program = new Command('outer-node')
  .description(
    'Bank-side node of govbank-bridge: verifies, decrypts and imports bundles from its inbox into the\n' +
      "bank's database exactly once, with quarantine for anything refused. Opens no port.",
  )
  .showHelpAfterError();

program
  .command('init')
  .description('write a commented starting configuration and the folders a node needs')
  .argument('<dir>', 'folder for the node (created if missing)')
  .option('--name <name>', 'node name', 'bank-a')
  .option('--sender <name>', 'inner node whose bundles are accepted', 'county')
  .option('--target <path>', 'SQLite target database path', 'bank.db')
  .option('--force', 'overwrite an existing configuration')
  .action(
    action((dir: string, opts: { name: string; sender: string; target: string; force?: boolean }) => {
      const created = initOuterNode(dir, { name: opts.name, sender: opts.sender, targetPath: opts.target, force: opts.force ?? false });
      process.stdout.write(`created:\n${created.map((c) => `  ${c}`).join('\n')}\n`);
      process.stdout.write(
        `next: issue keys with 'bridge-keys issue --role outer --name ${opts.name} --out ${dir}/keys', import the county's certificate into ${dir}/trust, then 'outer-node schema apply --config ${dir}/outer-node.yaml'\n`,
      );
    }),
  );

program
  .command('check')
  .description('validate the configuration and report every problem with its line')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .action(
    action((opts: { config: string }) => {
      const settings = loadOuterConfig(opts.config);
      process.stdout.write(`${settings.path}: valid (${Object.keys(settings.config.datasets).length} dataset(s))\n`);
    }),
  );

const schema = program.command('schema').description('create the mapped tables in the bank database');
schema
  .command('plan')
  .description('print the DDL that would create the mapped tables')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .action(
    action(async (opts: { config: string }) => {
      const settings = loadOuterConfig(opts.config);
      const target = openTarget(settings);
      try {
        process.stdout.write(`${planSchema(settings, target)}\n`);
      } finally {
        await target.close();
      }
    }),
  );
schema
  .command('apply')
  .description('create the mapped tables and the ledger if they do not exist')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .action(
    action(async (opts: { config: string }) => {
      const settings = loadOuterConfig(opts.config);
      const target = openTarget(settings);
      try {
        const ddl = planSchema(settings, target);
        if (target instanceof SqliteTarget) target.exec(ddl);
        await target.prepare();
        process.stdout.write(`applied to ${target.description}:\n${ddl}\n`);
      } finally {
        await target.close();
      }
    }),
  );

program
  .command('import')
  .description('import what is in the inbox now, then exit')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .option('--once', 'one pass and exit (the default for this command)')
  .option('--settle <ms>', 'claim files only once unchanged for this long', '1000')
  .option('-v, --verbose', 'log each bundle')
  .action(
    action(async (opts: { config: string; settle: string; verbose?: boolean }) => {
      const ctx = await openOuterContext(opts.config, cliLogger('outer-node', opts.verbose));
      try {
        const started = Date.now();
        const total = { applied: 0, rows: 0, duplicates: 0, quarantined: 0, waiting: 0, retrying: 0 };
        for (;;) {
          const pass = await importOnce(ctx, { settleMs: Number(opts.settle) });
          total.applied += pass.applied;
          total.rows += pass.rows;
          total.duplicates += pass.duplicates;
          total.quarantined += pass.quarantined;
          total.waiting = pass.waiting;
          total.retrying = pass.retrying;
          if (pass.unsettled === 0) break;
          await new Promise((r) => setTimeout(r, 250));
        }
        const seconds = (Date.now() - started) / 1000;
        process.stdout.write(
          `applied ${total.applied} bundle(s), ${total.rows} rows in ${seconds.toFixed(1)} s; ${total.duplicates} duplicate(s), ${total.quarantined} quarantined, ${total.waiting} waiting, ${total.retrying} retrying\n`,
        );
      } finally {
        await ctx.close();
      }
    }),
  );

program
  .command('run')
  .description('run as a daemon: watch the inbox and import until SIGINT/SIGTERM')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .action(
    action(async (opts: { config: string }) => {
      const logger = cliLogger('outer-node');
      logger.level = process.env['BRIDGE_LOG_LEVEL'] ?? 'info';
      const ctx = await openOuterContext(opts.config, logger);
      try {
        await runOuterDaemon(ctx, stopSignal());
      } finally {
        await ctx.close();
      }
    }),
  );

program
  .command('status')
  .description('task counts by state and the last sequence applied per stream')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .action(
    action(async (opts: { config: string }) => {
      const ctx = await openOuterContext(opts.config, cliLogger('outer-node'));
      try {
        const counts = ctx.state.counts();
        process.stdout.write(`tasks: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ') || 'none yet'}\n`);
        const streams = new Set(ctx.state.list().flatMap((t) => (t.stream ? [t.stream] : [])));
        for (const stream of streams) {
          process.stdout.write(`${stream}: last sequence applied ${await ctx.target.lastApplied(stream)}\n`);
        }
        for (const task of ctx.state.list('quarantined')) {
          process.stdout.write(`quarantined ${task.file}: ${task.reason ?? ''}\n`);
        }
      } finally {
        await ctx.close();
      }
    }),
  );

await program.parseAsync();
