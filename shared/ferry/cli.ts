#!/usr/bin/env node
// bridge-ferry: the rehearsal ferry between an outbox and an inbox (tests, demos, drills).
import { Command } from 'commander';
import { action, parseIntervalOption, stopSignal } from '../cli-support.js';
import { ferryOnce } from './ferry.js';

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
  .showHelpAfterError()
  .action(
    action(async (opts: { from: string; to: string; once?: boolean; every?: string; keep?: boolean }) => {
      const options = { from: opts.from, to: opts.to, keep: opts.keep ?? false };
      if (!opts.every || opts.once) {
        const pass = await ferryOnce(options);
        process.stdout.write(`carried ${pass.files} file(s), ${pass.bytes} bytes\n`);
        return;
      }
      const cadence = parseIntervalOption(opts.every);
      const stop = stopSignal();
      let total = 0;
      while (!stop.stopped) {
        total += (await ferryOnce(options)).files;
        await stop.wait(cadence);
      }
      process.stdout.write(`carried ${total} file(s)\n`);
    }),
  );

await program.parseAsync();
