// The rehearsal ferry: carries whole files from a sender's outbox to a receiver's inbox, the way a
// gap device or data diode would. Each file is copied to a temporary name in the inbox, fsynced,
// renamed into place, and only then removed from the outbox, so a crash never loses a file (at
// worst it is delivered twice, which the receiver's ledger absorbs).
import { copyFileSync, lstatSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isTemporaryName, publishFile, temporaryNameFor } from '../atomic-file.js';

export interface FerryOptions {
  from: string;
  to: string;
  /** Leave the files in the outbox (copy instead of move). */
  keep?: boolean;
}

export interface FerryPass {
  files: number;
  bytes: number;
}

export async function ferryOnce(options: FerryOptions): Promise<FerryPass> {
  mkdirSync(options.to, { recursive: true });
  mkdirSync(options.from, { recursive: true });
  const pass: FerryPass = { files: 0, bytes: 0 };
  for (const name of readdirSync(options.from).sort()) {
    if (isTemporaryName(name)) continue; // still being written by the sender
    const source = join(options.from, name);
    let stat;
    try {
      stat = lstatSync(source);
    } catch {
      continue;
    }
    if (!stat.isFile()) continue; // the ferry carries regular files only
    const target = join(options.to, name);
    const temp = temporaryNameFor(target);
    copyFileSync(source, temp);
    await publishFile(temp, target);
    if (!options.keep) rmSync(source, { force: true });
    pass.files++;
    pass.bytes += stat.size;
  }
  return pass;
}
