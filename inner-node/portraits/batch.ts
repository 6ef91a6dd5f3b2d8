// Portraits for a county-approved batch programme (design 7): every registered person, or every
// n-th, released to one bank with the features both the county's grant and the programme allow.
// Written as JSON lines, one portrait a line, for sealing into a portrait bundle.
import { writeFileAtomicSync } from '../../shared/atomic-file.js';
import type { BatchProgramme, Portrait, PortraitDefinition } from '../../shared/portrait.js';
import { CountyRecords } from './county-records.js';
import { releasePortrait, type BankPortraitGrant } from './release.js';

export interface BatchOptions {
  countyDb: string;
  povertyCsv?: string;
  definition: PortraitDefinition;
  programme: BatchProgramme;
  grant: BankPortraitGrant;
  purpose: string;
  now: Date;
  /** Take every n-th resident (default 1: all). */
  every?: number;
  limit?: number;
}

/** Yields released portraits; refuses the whole batch when the programme does not hold. */
export function* portraitBatch(options: BatchOptions): Generator<Portrait> {
  const county = new CountyRecords(options.countyDb, options.povertyCsv);
  try {
    for (const records of county.all({
      ...(options.every !== undefined ? { every: options.every } : {}),
      ...(options.limit !== undefined ? { limit: options.limit } : {}),
    })) {
      const result = releasePortrait(
        records,
        options.definition,
        options.grant,
        { programme: options.programme },
        options.purpose,
        options.now,
      );
      if (!result.released) throw new RangeError(`batch programme refused: ${result.problems.join('; ')}`);
      yield result.portrait;
    }
  } finally {
    county.close();
  }
}

/** Writes a batch as JSON lines (temporary name, then rename); returns how many portraits. */
export function writePortraitBatch(options: BatchOptions, out: string): number {
  const lines: string[] = [];
  for (const p of portraitBatch(options)) lines.push(JSON.stringify(p));
  writeFileAtomicSync(out, lines.length > 0 ? `${lines.join('\n')}\n` : '');
  return lines.length;
}
