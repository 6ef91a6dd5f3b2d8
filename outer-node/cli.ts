#!/usr/bin/env node
// outer-node: the bank-side node. Thin: parse flags, call the library, print (style.md rule 10).
import { Command } from 'commander';
import {
  action,
  cliLogger,
  dayOrInstantOption,
  exitWhenIdle,
  instantOption,
  printAuditReport,
  stopSignal,
} from '../shared/cli-support.js';
import { auditLogFile, auditLogFiles, loadOuterConfig } from './config.js';
import { openOuterContext, openTarget } from './context.js';
import { runOuterDaemon } from './daemon.js';
import { importOnce } from './import.js';
import { initOuterNode } from './init.js';
import { ConfigError } from '../shared/errors.js';
import { assertSchema, checkTargetSchema } from './bank-mapping.js';
import { dropQuarantined, listQuarantine, retryQuarantined, showQuarantined } from './quarantine.js';
import { planSchema, planSchemaFor } from './schema.js';
import { OuterState } from './state.js';
import { formatStatus, nodeStatus } from './status.js';
import { announceCertificate, describeAnnouncement, listAnnouncements } from './reverse-certificates.js';
import type { TargetKind } from './targets/target-writer.js';
import { backupOuterNode, backupSize, restoreOuterNode } from './backup.js';
import { doctorExitCode, outerDoctor } from './doctor.js';
import { registerLendCommands } from './lending/cli.js';
import { writeOuterMetrics } from './metrics.js';
import { writeOuterReport } from './report.js';
import { formatFindings } from '../shared/doctor.js';
import { exportAuditChains, verifyAuditChains } from '../crypto/index.js';

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
      const created = initOuterNode(dir, {
        name: opts.name,
        sender: opts.sender,
        targetPath: opts.target,
        force: opts.force ?? false,
      });
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
      process.stdout.write(
        `${settings.path}: valid (${Object.keys(settings.config.datasets).length} dataset(s))\n`,
      );
    }),
  );

const schema = program
  .command('schema')
  .description('create the mapped tables in the bank database, or check them');
schema
  .command('plan')
  .description('print the DDL that would create the mapped tables (for the configured database, or --kind)')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .option('--kind <kind>', 'sqlite, postgres or mariadb: print DDL for that kind without connecting')
  .action(
    action(async (opts: { config: string; kind?: string }) => {
      const settings = loadOuterConfig(opts.config);
      if (opts.kind) {
        if (!['sqlite', 'postgres', 'mariadb'].includes(opts.kind)) {
          throw new ConfigError(
            'CONFIG_INVALID',
            `--kind ${opts.kind} is not one of sqlite, postgres, mariadb`,
          );
        }
        process.stdout.write(`${planSchemaFor(settings, opts.kind as TargetKind)}\n`);
        return;
      }
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
        await target.exec(ddl);
        await target.prepare();
        process.stdout.write(`applied to ${target.description}:\n${ddl}\n`);
      } finally {
        await target.close();
      }
    }),
  );
schema
  .command('check')
  .description('check the mapping against the live bank schema: every problem and warning at once')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .action(
    action(async (opts: { config: string }) => {
      const settings = loadOuterConfig(opts.config);
      const target = openTarget(settings);
      try {
        const check = await checkTargetSchema(settings, target);
        for (const warning of check.warnings) process.stdout.write(`warning: ${warning}\n`);
        assertSchema(check, target.description);
        process.stdout.write(
          `${target.description}: the mapping fits (${check.shapes.size} table(s), ${check.warnings.length} warning(s))\n`,
        );
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
  .option('--settle <ms>', 'claim files only once unchanged for this long (default: import.settle)')
  .option('--workers <n>', 'workers side by side (default 1)')
  .option('-v, --verbose', 'log each bundle')
  .action(
    action(async (opts: { config: string; settle?: string; workers?: string; verbose?: boolean }) => {
      const ctx = await openOuterContext(opts.config, cliLogger('outer-node', opts.verbose));
      try {
        const started = Date.now();
        const total = {
          applied: 0,
          rows: 0,
          duplicates: 0,
          quarantined: 0,
          waiting: 0,
          retrying: 0,
          rejected: 0,
        };
        for (;;) {
          const pass = await importOnce(ctx, {
            ...(opts.settle !== undefined ? { settleMs: Number(opts.settle) } : {}),
            workers: Number(opts.workers ?? 1),
          });
          total.applied += pass.applied;
          total.rows += pass.rows;
          total.duplicates += pass.duplicates;
          total.quarantined += pass.quarantined;
          total.rejected += pass.rejected;
          total.waiting = pass.waiting;
          total.retrying = pass.retrying;
          if (pass.unsettled === 0) break;
          await new Promise((r) => setTimeout(r, 250));
        }
        const seconds = (Date.now() - started) / 1000;
        process.stdout.write(
          `applied ${total.applied} bundle(s), ${total.rows} rows in ${seconds.toFixed(1)} s; ${total.duplicates} duplicate(s), ${total.quarantined} quarantined, ${total.waiting} waiting, ${total.retrying} retrying, ${total.rejected} row(s) rejected\n`,
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
  .option('--workers <n>', 'workers in this process (default: import.workers)')
  .action(
    action(async (opts: { config: string; workers?: string }) => {
      // Signals first, before anything is opened: a SIGINT/SIGTERM at any moment of start-up is a stop
      // request that start-up honours between its steps (exit code 0), never a kill half-started.
      const stop = stopSignal();
      const logger = cliLogger('outer-node');
      logger.level = process.env['BRIDGE_LOG_LEVEL'] ?? 'info';
      logger.info({ config: opts.config }, 'outer node starting');
      try {
        const ctx = await openOuterContext(opts.config, logger);
        try {
          await runOuterDaemon(ctx, stop, opts.workers ? { workers: Number(opts.workers) } : {});
        } finally {
          await ctx.close();
        }
      } finally {
        exitWhenIdle(logger);
      }
    }),
  );

program
  .command('status')
  .description(
    'per stream: last sequence applied, gaps, retrying tasks, quarantine count, lag; and the reverse lane: missing (catalogue vs ledger and queue), resend requests sent, acks sent up to, gaps that left retention',
  )
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .option('--json', 'print JSON')
  .action(
    action(async (opts: { config: string; json?: boolean }) => {
      const ctx = await openOuterContext(opts.config, cliLogger('outer-node'));
      try {
        const status = await nodeStatus(ctx);
        process.stdout.write(
          opts.json ? `${JSON.stringify(status, null, 2)}\n` : `${formatStatus(status)}\n`,
        );
      } finally {
        await ctx.close();
      }
    }),
  );

program
  .command('announce-cert')
  .description(
    "send this node's current encryption certificate to the inner nodes over the reverse lane now (the daemon does it by itself after a rotation and restart); --list shows what was announced",
  )
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .option('--list', 'only list the certificates announced so far (keys are not loaded)')
  .action(
    action(async (opts: { config: string; list?: boolean }) => {
      const print = (state: OuterState): void => {
        const announced = listAnnouncements({ state });
        if (announced.length === 0) process.stdout.write('no encryption certificate announced yet\n');
        for (const r of announced)
          process.stdout.write(
            `announced key ${r.keyId} serial ${r.serial} until ${r.notAfter}: first ${r.firstAnnouncedAt}, last ${r.lastAnnouncedAt}, ${r.announcements} time(s)\n`,
          );
      };
      if (opts.list) {
        const state = new OuterState(loadOuterConfig(opts.config).folders.state);
        try {
          print(state);
        } finally {
          state.close();
        }
        return;
      }
      const ctx = await openOuterContext(opts.config, cliLogger('outer-node'));
      try {
        const result = await announceCertificate(ctx, { force: true });
        process.stdout.write(`${describeAnnouncement(result)}\n`);
        if (result.outcome !== 'announced') process.exitCode = 2;
        print(ctx.state);
      } finally {
        await ctx.close();
      }
    }),
  );

const quarantineCommand = program
  .command('quarantine')
  .description('bundles refused for good: list, show, retry, drop');
quarantineCommand
  .command('list')
  .description('every quarantined file with its reason')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .action(
    action((opts: { config: string }) => {
      const settings = loadOuterConfig(opts.config);
      const entries = listQuarantine(settings.folders.quarantine);
      if (entries.length === 0) process.stdout.write('quarantine is empty\n');
      for (const e of entries) {
        const where = e.stream ? ` ${e.stream}#${e.sequence ?? '?'}` : '';
        process.stdout.write(
          `${e.file}${where} [${e.code}] ${e.at}\n  ${e.reason.split('\n').join('\n  ')}\n`,
        );
      }
    }),
  );
quarantineCommand
  .command('show')
  .description('the reason and the signed header of one quarantined file')
  .argument('<file>', 'file name as listed')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .action(
    action(async (file: string, opts: { config: string }) => {
      const settings = loadOuterConfig(opts.config);
      const shown = await showQuarantined(settings.folders.quarantine, file);
      process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
    }),
  );
quarantineCommand
  .command('retry')
  .description('put a quarantined file back into the inbox (after fixing the cause)')
  .argument('<file>', 'file name as listed')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .action(
    action((file: string, opts: { config: string }) => {
      const settings = loadOuterConfig(opts.config);
      const state = new OuterState(settings.folders.state);
      try {
        process.stdout.write(
          `returned to the inbox: ${retryQuarantined(settings.folders.quarantine, settings.folders.inbox, file, state)}\n`,
        );
      } finally {
        state.close();
      }
    }),
  );
quarantineCommand
  .command('drop')
  .description('delete a quarantined file for good')
  .argument('<file>', 'file name as listed')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .action(
    action((file: string, opts: { config: string }) => {
      const settings = loadOuterConfig(opts.config);
      const state = new OuterState(settings.folders.state);
      try {
        dropQuarantined(settings.folders.quarantine, file, state);
        process.stdout.write(`dropped ${file}\n`);
      } finally {
        state.close();
      }
    }),
  );

program
  .command('metrics')
  .description('write the metrics file once (outer-node run rewrites metrics.file by itself)')
  .requiredOption('--write <file>', 'the .prom file to write (by write-and-rename, mode 0644)')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .action(
    action(async (opts: { config: string; write: string }) => {
      const ctx = await openOuterContext(opts.config, cliLogger('outer-node'));
      try {
        await writeOuterMetrics(ctx, opts.write);
        process.stdout.write(`wrote ${opts.write}\n`);
      } finally {
        await ctx.close();
      }
    }),
  );

program
  .command('report')
  .description(
    'write a self-contained HTML report: throughput, lag, quarantine, rejects, gaps, keys, decisions',
  )
  .requiredOption('--html <file>', 'the page to write')
  .option('--from <instant>', 'start of the period, with offset (default: 7 days before --to)')
  .option('--to <instant>', 'end of the period, with offset (default: now)')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .action(
    action(async (opts: { config: string; html: string; from?: string; to?: string }) => {
      const from = instantOption('from', opts.from);
      const to = instantOption('to', opts.to);
      const ctx = await openOuterContext(opts.config, cliLogger('outer-node'));
      try {
        const data = await writeOuterReport(ctx, opts.html, {
          ...(from ? { from } : {}),
          ...(to ? { to } : {}),
        });
        process.stdout.write(`wrote ${opts.html} (${data.period.from} to ${data.period.to})\n`);
      } finally {
        await ctx.close();
      }
    }),
  );

program
  .command('doctor')
  .description(
    'check configuration, keys, certificates, folders, database and clock; exit 0 ok, 1 warnings, 2 failures',
  )
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .option('--warn-days <days>', 'warn about certificates expiring within this many days', '45')
  .action(
    action(async (opts: { config: string; warnDays: string }) => {
      const findings = await outerDoctor(opts.config, { warnDays: Number(opts.warnDays) });
      process.stdout.write(formatFindings(findings));
      process.exitCode = doctorExitCode(findings);
    }),
  );

program
  .command('backup')
  .description(
    'back up the state database, a SQLite bank database, unapplied bundles, quarantine, rejects and audit log',
  )
  .argument('<dir>', 'a new folder for the backup')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .action(
    action(async (dir: string, opts: { config: string }) => {
      const settings = loadOuterConfig(opts.config);
      const manifest = await backupOuterNode(settings, dir);
      process.stdout.write(
        `backed up ${manifest.node} into ${dir} (${backupSize(dir).toLocaleString('en-US')} bytes): state database${manifest.bank ? ', bank database' : ''}${manifest.lending ? ', lending database' : ''}, ${manifest.files.pending} unapplied bundle(s), ${manifest.files.quarantine} quarantine file(s), ${manifest.files.rejects} reject file(s)${manifest.files.audit.length > 0 ? `, ${manifest.files.audit.length} audit log(s)` : ''}\n`,
      );
      if (!manifest.bank) {
        process.stdout.write(
          `the ${manifest.targetKind} bank database (rows and the bridge_ledger) is backed up with the bank's own tools\n`,
        );
      }
    }),
  );

program
  .command('restore')
  .description('restore a backup (the node must be stopped); --force moves current databases aside')
  .argument('<dir>', 'a folder written by outer-node backup')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .option('--force', 'replace existing databases (moved aside, never deleted)')
  .action(
    action(async (dir: string, opts: { config: string; force?: boolean }) => {
      const settings = loadOuterConfig(opts.config);
      const result = await restoreOuterNode(settings, dir, { force: opts.force ?? false });
      process.stdout.write(
        `restored the backup of ${result.manifest.node} taken at ${result.manifest.takenAt}:\n${result.restored.map((r) => `  ${r}`).join('\n')}\n`,
      );
      for (const aside of result.movedAside) process.stdout.write(`moved aside: ${aside}\n`);
      if (result.redelivered > 0)
        process.stdout.write(
          `${result.redelivered} unapplied bundle(s) put back into the inbox (the ledger skips any already applied)\n`,
        );
    }),
  );

const auditCommand = program
  .command('audit')
  .description('the hash-chained audit log of bundles applied and quarantined, and decisions');
auditCommand
  .command('verify')
  .description(
    'check every chain (one per importing process); prints the heads to write in the register (exit 2 when broken)',
  )
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .option(
    '--head <seq:hash>',
    'a head recorded last time (repeat, in the order printed): also finds entries cut off the end',
    (value: string, previous: string[]) => [...previous, value],
    [] as string[],
  )
  .action(
    action((opts: { config: string; head: string[] }) => {
      const settings = loadOuterConfig(opts.config);
      const files = auditLogFiles(settings);
      if (files.length === 0) files.push(auditLogFile(settings));
      printAuditReport(verifyAuditChains(files, opts.head));
    }),
  );
auditCommand
  .command('export')
  .description('write the entries of a period as a self-checking excerpt for an inspector (one per chain)')
  .requiredOption('--from <when>', 'start (a day such as 2026-11-01, or an instant with offset)')
  .requiredOption('--to <when>', 'end, not included')
  .requiredOption('--out <file>', 'the excerpt (JSON) to write; further chains get -2, -3 before .json')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .action(
    action((opts: { config: string; from: string; to: string; out: string }) => {
      const settings = loadOuterConfig(opts.config);
      const offset = settings.config.target.naive_time_offset;
      const range = {
        from: dayOrInstantOption('from', opts.from, offset),
        to: dayOrInstantOption('to', opts.to, offset),
      };
      const files = auditLogFiles(settings);
      if (files.length === 0) files.push(auditLogFile(settings));
      printAuditReport(exportAuditChains(files, range, opts.out));
    }),
  );

registerLendCommands(program);

await program.parseAsync();
