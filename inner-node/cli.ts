#!/usr/bin/env node
// inner-node: the government-side node. Thin: parse flags, call the library, print (style.md rule 10).
import cliProgress from 'cli-progress';
import { Command } from 'commander';
import { exportAuditChains, verifyAuditChains } from '../crypto/index.js';
import {
  action,
  alignedTable,
  cliLogger,
  dayOrInstantOption,
  describeRanges,
  exitWhenIdle,
  instantOption,
  printAuditReport,
  stopSignal,
} from '../shared/cli-support.js';
import { formatFindings } from '../shared/doctor.js';
import { ConfigError } from '../shared/errors.js';
import { maskResidentIdsInText } from '../shared/resident-id.js';
import { backupInnerNode, backupSize, restoreInnerNode } from './backup.js';
import { auditLogFile, auditLogFiles, loadInnerConfig } from './config.js';
import { openInnerContext } from './context.js';
import { runInnerDaemon } from './daemon.js';
import { doctorExitCode, innerDoctor } from './doctor.js';
import { exportDataset, resumeDataset, type ExportProgress } from './export.js';
import { initInnerNode } from './init.js';
import { checkMappingFile } from './mapping-check.js';
import { writeInnerMetrics } from './metrics.js';
import { registerPortraitCommands } from './portraits/cli.js';
import { writeInnerReport } from './report.js';
import { InnerState } from './state.js';

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
      const created = initInnerNode(dir, {
        name: opts.name,
        bank: opts.bank,
        sourcePath: opts.source,
        force: opts.force ?? false,
      });
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

/** Progress bars on a terminal only (one per stream); nothing at all in logs or pipes. */
function progressBars(): { update(p: ExportProgress): void; stop(): void } {
  if (!process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const multi = new cliProgress.MultiBar(
    {
      format: ' {stream} [{bar}] {value}/{total} rows | {rate} rows/s | ETA {eta}s',
      hideCursor: true,
      clearOnComplete: false,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, { bar: cliProgress.SingleBar; started: number }>();
  return {
    update(p) {
      const key = `${p.dataset} → ${p.bank}`;
      let entry = bars.get(key);
      if (!entry) {
        entry = { bar: multi.create(p.total ?? p.rows, 0, { stream: key, rate: 0 }), started: Date.now() };
        bars.set(key, entry);
      }
      const seconds = Math.max((Date.now() - entry.started) / 1000, 0.001);
      entry.bar.setTotal(Math.max(p.total ?? 0, p.rows));
      entry.bar.update(p.rows, { rate: Math.round(p.rows / seconds) });
    },
    stop() {
      multi.stop();
    },
  };
}

interface ExportFlags {
  config: string;
  dataset?: string;
  snapshot?: boolean;
  bank?: string;
  verbose?: boolean;
}

program
  .command('export')
  .description('export a dataset (or all) to every authorised bank now, then exit')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .option('-d, --dataset <name>', 'dataset to export (default: all that are not paused)')
  .option(
    '--snapshot',
    're-send every current row of --dataset under new sequences, then replace each sequence a bank reported lost beyond retention with an empty placeholder bundle, so its stream moves on (docs/runbooks.md, "A gap that left retention")',
  )
  .option('--bank <name>', 'only the stream of this bank (default: every authorised bank)')
  .option('--once', 'run one export and exit (the default for this command)')
  .option('-v, --verbose', 'log each bundle')
  .addHelpText(
    'after',
    '\nA gap that left retention (inner-node status shows "left retention"): run\n' +
      '  inner-node export --dataset NAME --snapshot [--bank BANK]\n' +
      'beside the daemon; the bank converges with no action on its side.',
  )
  .action(
    action(async (opts: ExportFlags) => {
      if (opts.snapshot && !opts.dataset) {
        throw new ConfigError('CONFIG_INVALID', '--snapshot needs --dataset NAME', {
          hint: 'A snapshot re-send is one dataset at a time: inner-node export --dataset NAME --snapshot',
        });
      }
      const ctx = await openInnerContext(opts.config, cliLogger('inner-node', opts.verbose));
      try {
        const datasets = opts.dataset
          ? [opts.dataset]
          : Object.keys(ctx.settings.config.datasets).filter((d) => {
              const paused = ctx.state.paused(d);
              if (paused) process.stdout.write(`${d}: paused (${paused.reason}); skipped\n`);
              return !paused;
            });
        for (const dataset of datasets) {
          const bars = progressBars();
          const started = Date.now();
          let results;
          try {
            results = await exportDataset(ctx, dataset, {
              onProgress: (p) => bars.update(p),
              estimate: process.stderr.isTTY,
              ...(opts.snapshot ? { snapshot: true } : {}),
              ...(opts.bank !== undefined ? { bank: opts.bank } : {}),
            });
          } finally {
            bars.stop();
          }
          const seconds = (Date.now() - started) / 1000;
          for (const r of results) {
            const tombstones = r.tombstones ? `, ${r.tombstones} tombstone(s)` : '';
            const rejects = r.rejectFile ? ` (see ${r.rejectFile})` : '';
            const snapshot = r.snapshot ? `, snapshot sequences ${r.snapshot.from}-${r.snapshot.to}` : '';
            process.stdout.write(
              `${r.stream}: ${r.rows} rows in ${r.bundles.length} bundle(s)${tombstones}, ${r.rejects} rejected${rejects}${snapshot}, ${seconds.toFixed(1)} s\n`,
            );
            if (r.placeholders && r.placeholders.length > 0) {
              process.stdout.write(
                `${r.stream}: lost sequence(s) ${r.placeholders.join(', ')} replaced by placeholder bundles; the bank's stream moves on to the snapshot\n`,
              );
            } else if (r.placeholders) {
              process.stdout.write(`${r.stream}: no open gap that left retention; nothing superseded\n`);
            }
          }
        }
      } finally {
        await ctx.dispose();
      }
    }),
  );

program
  .command('resume')
  .description('release a dataset paused by schema drift, accepting the source columns as they are now')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .requiredOption('-d, --dataset <name>', 'dataset to resume')
  .action(
    action(async (opts: { config: string; dataset: string }) => {
      const ctx = await openInnerContext(opts.config, cliLogger('inner-node'));
      try {
        const resumed = await resumeDataset(ctx, opts.dataset);
        process.stdout.write(
          resumed.wasPaused
            ? `${opts.dataset}: resumed (was paused: ${resumed.reason ?? ''}); the source's current columns are the new baseline\n`
            : `${opts.dataset}: was not paused; the source's current columns are recorded as the baseline\n`,
        );
      } finally {
        await ctx.dispose();
      }
    }),
  );

const mapping = program.command('mapping').description('mapping files: source columns to data contracts');
mapping
  .command('check')
  .description(
    'validate a mapping file against its contract and the live source, and map the first rows (dry run)',
  )
  .argument('<file>', 'mapping file (YAML)')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .option('-d, --dataset <name>', 'dataset to check against (default: the one that uses FILE)')
  .option('-n, --rows <n>', 'rows to map in the dry run', '10')
  .option('--json', 'print JSON')
  .action(
    action(async (file: string, opts: { config: string; dataset?: string; rows: string; json?: boolean }) => {
      const settings = loadInnerConfig(opts.config);
      const report = await checkMappingFile(settings, file, {
        ...(opts.dataset ? { dataset: opts.dataset } : {}),
        rows: Math.max(1, Number.parseInt(opts.rows, 10) || 10),
      });
      // Dry-run rows hold resident ID numbers: masked like every log line.
      const print = (text: string): boolean => process.stdout.write(maskResidentIdsInText(text));
      if (opts.json) {
        print(`${JSON.stringify(report, null, 2)}\n`);
      } else {
        print(`${report.file}: dataset ${report.dataset}, source ${report.source}\n`);
        for (const p of report.problems) print(`  problem: ${p}\n`);
        if (report.unmappedSourceColumns.length > 0) {
          print(`  source columns not mapped (not exported): ${report.unmappedSourceColumns.join(', ')}\n`);
        }
        for (const r of report.rows) print(`  ok     ${r.where}: ${JSON.stringify(r.row)}\n`);
        for (const r of report.rejects) {
          for (const j of r.rejects) {
            print(
              `  reject ${r.where}: ${j.column} ← ${j.sourceColumn}: ${j.rule}: ${j.reason} (raw ${j.raw})\n`,
            );
          }
        }
        print(
          report.problems.length > 0
            ? 'the mapping does not fit the source\n'
            : `mapped ${report.rows.length} row(s), ${report.rejects.length} rejected\n`,
        );
      }
      if (report.problems.length > 0) process.exitCode = 2;
    }),
  );

program
  .command('run')
  .description('run as a daemon: export each dataset at its interval until SIGINT/SIGTERM')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .action(
    action(async (opts: { config: string }) => {
      // Signals first, before anything is opened: a SIGINT/SIGTERM at any moment of start-up is a stop
      // request that start-up honours between its steps (exit code 0), never a kill half-started.
      const stop = stopSignal();
      const logger = cliLogger('inner-node');
      logger.level = process.env['BRIDGE_LOG_LEVEL'] ?? 'info';
      logger.info({ config: opts.config }, 'inner node starting');
      try {
        const ctx = await openInnerContext(opts.config, logger);
        try {
          await runInnerDaemon(ctx, stop);
        } finally {
          await ctx.dispose();
        }
      } finally {
        exitWhenIdle(logger);
      }
    }),
  );

program
  .command('status')
  .description(
    'per dataset: paused reason; per stream: next sequence, cursor, bundles and rows sent, acknowledged, last run; and the reverse lane: unacknowledged, oldest unacknowledged age, resend requests, re-sent, gaps that left retention',
  )
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .option('--json', 'print JSON')
  .action(
    action((opts: { config: string; json?: boolean }) => {
      // Status reads the state database only: it needs no keys and no source connection.
      const settings = loadInnerConfig(opts.config);
      const state = new InnerState(settings.folders.state);
      try {
        const streams = state.streams();
        const datasets = Object.entries(settings.config.datasets).map(([name, spec]) => ({
          dataset: name,
          mode: spec.mode,
          interval: spec.interval,
          paused: state.paused(name) ?? null,
          streams: streams.filter((s) => s.dataset === name),
        }));
        if (opts.json) {
          // Cursor keys can hold resident ID numbers: masked on the way out like every log line.
          process.stdout.write(`${maskResidentIdsInText(JSON.stringify({ datasets, streams }, null, 2))}\n`);
          return;
        }
        if (streams.length === 0) process.stdout.write('no streams yet: run inner-node export\n');
        const out: string[] = [];
        for (const d of datasets) {
          out.push(
            `dataset ${d.dataset} (${d.mode}, every ${d.interval})${d.paused ? `: PAUSED since ${d.paused.since}: ${d.paused.reason}` : ''}\n`,
          );
          for (const s of d.streams) {
            const run = s.lastRun
              ? `last run ${s.lastRun.finishedAt} ${s.lastRun.status} (${s.lastRun.rows} rows, ${s.lastRun.rejects} rejected)${s.lastRun.message ? `: ${s.lastRun.message}` : ''}`
              : 'never run';
            out.push(
              `${s.stream}\n  next sequence ${s.nextSequence}, cursor ${s.cursorWatermark ?? '-'}\n  sent ${s.bundles} bundle(s), ${s.rows} rows; acknowledged up to ${s.acknowledged}; ${run}\n`,
            );
            if (s.retentionGaps.length > 0) {
              out.push(
                `  LEFT RETENTION: sequence(s) ${describeRanges(s.retentionGaps)} asked for again but no longer kept; run: inner-node export --dataset ${s.dataset} --snapshot --bank ${s.bank}\n`,
              );
            }
          }
        }
        if (streams.length > 0) {
          out.push('\nreverse lane, per stream:\n');
          out.push(
            alignedTable(
              [
                'stream',
                'sent',
                'acked up to',
                'unacked',
                'oldest unacked',
                'requests',
                're-sent',
                'left retention',
              ],
              streams.map((s) => [
                s.stream,
                String(s.bundles),
                String(s.acknowledged),
                String(s.unacknowledged),
                s.oldestUnacknowledgedSeconds === null ? '-' : describeAge(s.oldestUnacknowledgedSeconds),
                String(s.resendRequests),
                String(s.resent),
                `${s.retentionGaps.length > 0 ? describeRanges(s.retentionGaps) : 'none'}${s.retentionGapsRepaired > 0 ? ` (${s.retentionGapsRepaired} repaired)` : ''}`,
              ]),
            ) + '\n',
          );
        }
        process.stdout.write(maskResidentIdsInText(out.join('')));
      } finally {
        state.close();
      }
    }),
  );

/** An age in seconds as 42 s, 12 min, 3.5 h or 2.0 d. */
function describeAge(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86_400).toFixed(1)} d`;
}

program
  .command('metrics')
  .description('write the metrics file once (inner-node run rewrites metrics.file by itself)')
  .requiredOption('--write <file>', 'the .prom file to write (by write-and-rename, mode 0644)')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .action(
    action(async (opts: { config: string; write: string }) => {
      const ctx = await openInnerContext(opts.config, cliLogger('inner-node'));
      try {
        await writeInnerMetrics(ctx, opts.write);
        process.stdout.write(`wrote ${opts.write}\n`);
      } finally {
        await ctx.dispose();
      }
    }),
  );

program
  .command('report')
  .description('write a self-contained HTML report: rows sent over time, rejects, paused datasets, keys')
  .requiredOption('--html <file>', 'the page to write')
  .option('--from <instant>', 'start of the period, with offset (default: 7 days before --to)')
  .option('--to <instant>', 'end of the period, with offset (default: now)')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .action(
    action(async (opts: { config: string; html: string; from?: string; to?: string }) => {
      const from = instantOption('from', opts.from);
      const to = instantOption('to', opts.to);
      const ctx = await openInnerContext(opts.config, cliLogger('inner-node'));
      try {
        const data = writeInnerReport(ctx, opts.html, { ...(from ? { from } : {}), ...(to ? { to } : {}) });
        process.stdout.write(`wrote ${opts.html} (${data.period.from} to ${data.period.to})\n`);
      } finally {
        await ctx.dispose();
      }
    }),
  );

program
  .command('doctor')
  .description(
    'check configuration, keys, certificates, folders, free space, sources and clock; exit 0 ok, 1 warnings, 2 failures',
  )
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .option('--warn-days <days>', 'warn about certificates expiring within this many days', '45')
  .action(
    action(async (opts: { config: string; warnDays: string }) => {
      const findings = await innerDoctor(opts.config, { warnDays: Number(opts.warnDays) });
      process.stdout.write(formatFindings(findings));
      process.exitCode = doctorExitCode(findings);
    }),
  );

program
  .command('backup')
  .description('back up the state database, the sent bundles kept for resends, the rejects and the audit log')
  .argument('<dir>', 'a new folder for the backup')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .action(
    action(async (dir: string, opts: { config: string }) => {
      const settings = loadInnerConfig(opts.config);
      const manifest = await backupInnerNode(settings, dir);
      process.stdout.write(
        `backed up ${manifest.node} into ${dir} (${backupSize(dir).toLocaleString('en-US')} bytes): state database, ${manifest.files.sent} sent bundle(s), ${manifest.files.rejects} reject file(s)${manifest.files.audit.length > 0 ? `, ${manifest.files.audit.length} audit log(s)` : ''}\n`,
      );
    }),
  );

program
  .command('restore')
  .description(
    'restore a backup (the node must be stopped) and pause every dataset until reconciled; --force moves the current state database aside',
  )
  .argument('<dir>', 'a folder written by inner-node backup')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .option('--force', 'replace an existing state database (moved aside, never deleted)')
  .action(
    action(async (dir: string, opts: { config: string; force?: boolean }) => {
      const settings = loadInnerConfig(opts.config);
      const result = await restoreInnerNode(settings, dir, { force: opts.force ?? false });
      process.stdout.write(
        `restored the backup of ${result.manifest.node} taken at ${result.manifest.takenAt}:\n${result.restored.map((r) => `  ${r}`).join('\n')}\n`,
      );
      for (const aside of result.movedAside) process.stdout.write(`moved aside: ${aside}\n`);
      if (result.paused.length > 0) {
        process.stdout.write(
          `paused until reconciled with each bank (docs/runbooks.md, "Restoring the inner node"): ${result.paused.join(', ')}\n` +
            `compare inner-node status with each bank's outer-node status, then: inner-node resume --dataset NAME\n`,
        );
      }
    }),
  );

const auditCommand = program
  .command('audit')
  .description('the hash-chained audit log of bundles sent (docs/audit.md)');
auditCommand
  .command('verify')
  .description(
    'check every chain (one per exporting process); prints the heads to write in the register (exit 2 when broken)',
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
      const settings = loadInnerConfig(opts.config);
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
      const settings = loadInnerConfig(opts.config);
      const offset = Object.values(settings.config.datasets)[0]?.watermark_timezone ?? '+08:00';
      const range = {
        from: dayOrInstantOption('from', opts.from, offset),
        to: dayOrInstantOption('to', opts.to, offset),
      };
      const files = auditLogFiles(settings);
      if (files.length === 0) files.push(auditLogFile(settings));
      printAuditReport(exportAuditChains(files, range, opts.out));
    }),
  );

registerPortraitCommands(program);

await program.parseAsync();
