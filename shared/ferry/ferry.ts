// The rehearsal ferry: carries whole files from a sender's outbox to a receiver's inbox, the way a
// gap device or data diode would. Each file is copied to a temporary name in the inbox, fsynced,
// renamed into place, and only then removed from the outbox, so a crash never loses a file (at
// worst it is delivered twice, which the receiver's ledger absorbs).
//
// For rehearsals and tests it can also misbehave the way real ferries do (design 2: "it may
// duplicate, reorder, truncate, delay or drop files, and it may deliver a file while it is still
// being written"), each fault with a rate and a seed so a run can be replayed exactly.
import {
  closeSync,
  copyFileSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { isTemporaryName, publishFile, temporaryNameFor } from '../atomic-file.js';

export interface FerryFaults {
  /**
   * Seed for the fault decisions: the same seed, file name and delivery attempt always get the same
   * fate, so a run replays exactly, while a file offered again (a resend) is not doomed to the fate
   * of its first attempt.
   */
  seed: number;
  /** Probability that a file is lost. */
  drop?: number;
  /** Probability that a file is delivered twice (the copy on a later pass). */
  duplicate?: number;
  /** Probability that a file is held back one pass, so later files overtake it. */
  reorder?: number;
  /** Probability that a file is held for `delayMs`. */
  delay?: number;
  delayMs?: number;
  /** Probability that only a prefix of the file is delivered (the rest is lost). */
  truncate?: number;
  /** Write into the final name in two halves with a pause between, as a naive ferry would. */
  inPlace?: boolean;
  inPlaceGapMs?: number;
}

export interface FerryOptions {
  from: string;
  to: string;
  /** Leave the files in the outbox (copy instead of move). */
  keep?: boolean;
  faults?: FerryFaults;
  /** Where held files wait (reorder, delay, duplicates); defaults to FROM/.ferry. */
  stateDir?: string;
  now?: () => number;
}

export interface FerryPass {
  files: number;
  bytes: number;
  dropped: number;
  duplicated: number;
  held: number;
  truncated: number;
}

// mulberry32: a small, well-distributed PRNG; enough for choosing faults reproducibly.
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function deliver(
  source: string,
  target: string,
  faults: FerryFaults | undefined,
  truncateAt?: number,
): Promise<void> {
  if (truncateAt !== undefined) {
    const temp = temporaryNameFor(target);
    writeFileSync(temp, readFileSync(source).subarray(0, truncateAt));
    await publishFile(temp, target);
    return;
  }
  if (faults?.inPlace) {
    // A naive ferry writes straight into the final name: the receiver can see a half file.
    const data = readFileSync(source);
    const half = Math.floor(data.length / 2);
    const fd = openSync(target, 'w');
    try {
      writeSync(fd, data.subarray(0, half));
      fsyncSync(fd);
      await sleep(faults.inPlaceGapMs ?? 1500);
      writeSync(fd, data.subarray(half));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return;
  }
  const temp = temporaryNameFor(target);
  copyFileSync(source, temp);
  await publishFile(temp, target);
}

/** Delivers held files whose release time has come. */
async function releaseHeld(
  heldDir: string,
  to: string,
  now: number,
  faults: FerryFaults | undefined,
  pass: FerryPass,
): Promise<void> {
  let names: string[];
  try {
    names = readdirSync(heldDir);
  } catch {
    return;
  }
  for (const name of names.filter((n) => n.endsWith('.release')).sort()) {
    const releaseAt = Number(readFileSync(join(heldDir, name), 'utf8'));
    if (releaseAt > now) continue;
    const file = name.slice(0, -'.release'.length);
    const held = join(heldDir, file);
    const target = join(to, file.replace(/^\d+-\d+-/, ''));
    const size = lstatSync(held).size;
    await deliver(held, target, faults);
    rmSync(held, { force: true });
    rmSync(join(heldDir, name), { force: true });
    pass.files++;
    pass.bytes += size;
  }
}

let heldCounter = 0;

function hold(heldDir: string, source: string, name: string, releaseAt: number, copy: boolean): void {
  mkdirSync(heldDir, { recursive: true });
  // A time-and-counter prefix lets a duplicate and its original wait side by side.
  const heldName = `${Date.now()}-${heldCounter++}-${name}`;
  if (copy) copyFileSync(source, join(heldDir, heldName));
  else renameSync(source, join(heldDir, heldName));
  writeFileSync(join(heldDir, `${heldName}.release`), String(releaseAt));
}

/** How often each file name has been offered to a faulty ferry, kept in its state folder. */
function loadAttempts(file: string): Record<string, number> {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, number>;
  } catch {
    return {};
  }
}

const MAX_REMEMBERED = 100_000;

function saveAttempts(file: string, attempts: Record<string, number>): void {
  const names = Object.keys(attempts);
  // Forget the oldest names (insertion order) so the record stays bounded on long rehearsals.
  for (const name of names.slice(0, Math.max(0, names.length - MAX_REMEMBERED))) delete attempts[name];
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, JSON.stringify(attempts));
}

export async function ferryOnce(options: FerryOptions): Promise<FerryPass> {
  mkdirSync(options.to, { recursive: true });
  mkdirSync(options.from, { recursive: true });
  const now = (options.now ?? Date.now)();
  const faults = options.faults;
  const stateDir = options.stateDir ?? join(options.from, '.ferry');
  const heldDir = join(stateDir, 'held');
  const attemptsFile = join(stateDir, 'attempts.json');
  const attempts = faults ? loadAttempts(attemptsFile) : {};
  const pass: FerryPass = { files: 0, bytes: 0, dropped: 0, duplicated: 0, held: 0, truncated: 0 };
  await releaseHeld(heldDir, options.to, now, faults, pass);
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
    if (faults) {
      const attempt = attempts[name] ?? 0;
      attempts[name] = attempt + 1;
      const random = mulberry32((faults.seed ^ fnv1a(name) ^ Math.imul(attempt, 0x9e3779b1)) >>> 0);
      const [drop, duplicate, reorder, delay, truncate, cut] = [
        random(),
        random(),
        random(),
        random(),
        random(),
        random(),
      ];
      if (drop < (faults.drop ?? 0)) {
        if (!options.keep) rmSync(source, { force: true });
        pass.dropped++;
        continue;
      }
      if (truncate < (faults.truncate ?? 0)) {
        await deliver(source, target, faults, Math.floor(cut * stat.size));
        if (!options.keep) rmSync(source, { force: true });
        pass.truncated++;
        pass.files++;
        continue;
      }
      if (reorder < (faults.reorder ?? 0) || delay < (faults.delay ?? 0)) {
        const releaseAt = delay < (faults.delay ?? 0) ? now + (faults.delayMs ?? 5000) : now + 1;
        if (duplicate < (faults.duplicate ?? 0)) {
          hold(heldDir, source, name, releaseAt + 1, true);
          pass.duplicated++;
        }
        hold(heldDir, source, name, releaseAt, options.keep ?? false);
        pass.held++;
        continue;
      }
      if (duplicate < (faults.duplicate ?? 0)) {
        hold(heldDir, source, name, now + 1, true);
        pass.duplicated++;
      }
    }
    await deliver(source, target, faults);
    if (!options.keep) rmSync(source, { force: true });
    pass.files++;
    pass.bytes += stat.size;
  }
  if (faults) saveAttempts(attemptsFile, attempts);
  return pass;
}
