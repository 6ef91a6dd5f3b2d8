#!/usr/bin/env node
// bridge-ferry: the rehearsal ferry between an outbox and an inbox (tests, demos, drills).
import { Command } from 'commander';
import { action, parseIntervalOption, stopSignal } from '../cli-support.js';
import { ferryOnce, type FerryFaults, type FerryPass } from './ferry.js';

interface FerryFlags {
  from: string;
  to: string;
  once?: boolean;
  every?: string;
  keep?: boolean;
  drop?: string;
  duplicate?: string;
  reorder?: string;
  delay?: string;
  delayBy: string;
  truncate?: string;
  inPlace?: boolean;
  seed: string;
}

function rate(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!(value >= 0 && value <= 1))
    throw new Error(`--${name} must be a fraction between 0 and 1, got '${text}'`);
  return value;
}

function faultOptions(opts: FerryFlags): { faults?: FerryFaults } {
  const faults: FerryFaults = { seed: Number(opts.seed) };
  const rates = {
    drop: opts.drop,
    duplicate: opts.duplicate,
    reorder: opts.reorder,
    delay: opts.delay,
    truncate: opts.truncate,
  };
  let any = opts.inPlace ?? false;
  for (const [name, text] of Object.entries(rates)) {
    const value = rate(name, text);
    if (value !== undefined) {
      faults[name as 'drop'] = value;
      any = true;
    }
  }
  if (!any) return {};
  faults.delayMs = parseIntervalOption(opts.delayBy);
  if (opts.inPlace) faults.inPlace = true;
  return { faults };
}

function describeFaults(pass: FerryPass): string {
  const parts = Object.entries({
    dropped: pass.dropped,
    duplicated: pass.duplicated,
    held: pass.held,
    truncated: pass.truncated,
  })
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${n} ${k}`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

const program = new Command('bridge-ferry')
  .description(
    'Carry bundle files one way, from a sender outbox to a receiver inbox, as a gap device or data diode would.\n' +
      'Files are written under a temporary name, fsynced and renamed, then removed from the outbox.',
  )
  .requiredOption('--from <dir>', 'sender outbox to take files from')
  .requiredOption('--to <dir>', 'receiver inbox to deliver files into')
  .option('--once', 'carry what is there now, then exit (the default without --every)')
  .option('--every <interval>', 'keep carrying at this cadence, e.g. 1s, 500ms, until SIGINT/SIGTERM')
  .option('--keep', 'copy instead of move: leave the files in the outbox')
  .option('--drop <rate>', 'rehearsal fault: lose this fraction of files (0..1)')
  .option('--duplicate <rate>', 'rehearsal fault: deliver this fraction twice')
  .option(
    '--reorder <rate>',
    'rehearsal fault: hold this fraction back one pass so later files overtake them',
  )
  .option('--delay <rate>', 'rehearsal fault: hold this fraction for --delay-by')
  .option('--delay-by <interval>', 'how long delayed files are held', '5s')
  .option('--truncate <rate>', 'rehearsal fault: deliver only a prefix of this fraction')
  .option('--in-place', 'rehearsal fault: write into the final name in two halves, as a naive ferry does')
  .option('--seed <n>', 'seed for the fault decisions (same seed, same fates)', '1')
  .showHelpAfterError()
  .action(
    action(async (opts: FerryFlags) => {
      const options = { from: opts.from, to: opts.to, keep: opts.keep ?? false, ...faultOptions(opts) };
      if (!opts.every || opts.once) {
        const pass = await ferryOnce(options);
        process.stdout.write(`carried ${pass.files} file(s), ${pass.bytes} bytes${describeFaults(pass)}\n`);
        return;
      }
      const cadence = parseIntervalOption(opts.every);
      const stop = stopSignal();
      let total = 0;
      while (!stop.stopped) {
        const pass = await ferryOnce(options);
        total += pass.files;
        if (pass.files + pass.dropped + pass.held > 0) {
          process.stderr.write(
            `${new Date().toISOString()} carried ${pass.files} file(s)${describeFaults(pass)}\n`,
          );
        }
        await stop.wait(cadence);
      }
      process.stdout.write(`carried ${total} file(s)\n`);
    }),
  );

await program.parseAsync();
