// `inner-node portraits ...`: portraits for a county-approved batch programme. Thin: parse flags,
// call the library, print (style.md rule 10).
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { action } from '../../shared/cli-support.js';
import { BatchProgrammeSchema } from '../../shared/portrait.js';
import { writePortraitBatch } from './batch.js';
import { DEFAULT_DEFINITION_FILE, loadPortraitDefinition } from './release.js';

export function registerPortraitCommands(program: Command): void {
  const portraits = program
    .command('portraits')
    .description('derived per-person features for lending (never raw records)');
  portraits
    .command('batch')
    .description(
      'portraits of every (or every n-th) resident for a county-approved batch programme, as JSON lines',
    )
    .requiredOption('--county-db <county.db>', 'the county SQLite database')
    .option('--poverty-csv <file.csv>', 'the poverty-alleviation roll (GB18030)')
    .requiredOption(
      '--programme <programme.json>',
      'the approved programme (programme_id, bank, purpose, features, ...)',
    )
    .option(
      '--features <list>',
      'features the county grants this bank (comma-separated; default: all in the definition)',
    )
    .option('--definition <file.yaml>', 'portrait definition', DEFAULT_DEFINITION_FILE)
    .option('--every <n>', 'take every n-th resident', '1')
    .option('--limit <n>', 'at most this many portraits')
    .requiredOption('--out <file.jsonl>', 'where to write the portraits')
    .action(
      action(
        (opts: {
          countyDb: string;
          povertyCsv?: string;
          programme: string;
          features?: string;
          definition: string;
          every: string;
          limit?: string;
          out: string;
        }) => {
          const definition = loadPortraitDefinition(opts.definition);
          const programme = BatchProgrammeSchema.parse(JSON.parse(readFileSync(opts.programme, 'utf8')));
          const features = opts.features
            ? opts.features.split(',').map((f) => f.trim())
            : definition.features;
          const n = writePortraitBatch(
            {
              countyDb: opts.countyDb,
              ...(opts.povertyCsv ? { povertyCsv: opts.povertyCsv } : {}),
              definition,
              programme,
              grant: { bank: programme.bank, features },
              purpose: programme.purpose,
              now: new Date(),
              every: Number(opts.every),
              ...(opts.limit ? { limit: Number(opts.limit) } : {}),
            },
            opts.out,
          );
          process.stdout.write(
            `${n} portraits for ${programme.bank} (programme ${programme.programme_id}) written to ${opts.out}\n`,
          );
        },
      ),
    );
}
