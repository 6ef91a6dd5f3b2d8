// The quarantine folder: bundles refused for good, each with FILE.reason.json beside it (code, reason,
// stream, sequence, when). Operators list, show, retry (back to the inbox) or drop them.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readBundleHeader, type BundleHeader } from '../crypto/index.js';
import { writeFileAtomicSync } from '../shared/atomic-file.js';
import { ConfigError, describeError } from '../shared/errors.js';
import type { OuterState } from './state.js';

export interface QuarantineReason {
  file: string;
  /** The name it arrived under, when that name could not be kept (too long, not UTF-8, control characters). */
  originalName?: string;
  code: string;
  reason: string;
  at: string;
  bundleId?: string;
  stream?: string;
  sequence?: number;
}

export interface QuarantineEntry extends QuarantineReason {
  bytes: number;
}

const REASON_SUFFIX = '.reason.json';
/** Longest inbox name kept as is; NAME.reason.json must still fit the 255-byte limit of file names. */
const MAX_KEPT_NAME_BYTES = 200;

/** Moves a file into quarantine under its inbox name (a free variant of it) with its reason beside it. */
export function quarantine(
  dir: string,
  path: string | Buffer,
  fileName: string,
  detail: Omit<QuarantineReason, 'file' | 'at' | 'originalName'>,
  state: OuterState,
): string | undefined {
  mkdirSync(dir, { recursive: true });
  // A planted name may be too long for the reason file beside it, not UTF-8, or hold control
  // characters: such files are kept under a plain name, with the original recorded in the reason.
  const unsafe =
    fileName.startsWith('hex:') || // the caller's spelling of a name that is not UTF-8
    Buffer.byteLength(fileName) > MAX_KEPT_NAME_BYTES ||
    // eslint-disable-next-line no-control-regex -- control characters are exactly what is looked for
    /[\u0000-\u001f\u007f\ufffd]/.test(fileName);
  const base = unsafe ? `renamed-${Date.now()}.bin` : fileName;
  let name = base;
  for (let n = 1; existsSync(join(dir, name)); n++)
    name = `${base.replace(/\.(gbb|bin)$/, '')}~q${n}${unsafe ? '.bin' : '.gbb'}`;
  try {
    renameSync(path, join(dir, name));
  } catch {
    return undefined; // already moved by another worker
  }
  const reason: QuarantineReason = {
    file: name,
    ...(unsafe ? { originalName: JSON.stringify(fileName).slice(1, -1) } : {}),
    ...detail,
    at: new Date().toISOString(),
  };
  writeFileAtomicSync(join(dir, `${name}${REASON_SUFFIX}`), `${JSON.stringify(reason, null, 2)}\n`);
  state.record({
    file: fileName,
    bundleId: detail.bundleId ?? null,
    stream: detail.stream ?? null,
    sequence: detail.sequence ?? null,
    state: 'quarantined',
    reason: `${detail.code}: ${detail.reason}`,
    rows: null,
  });
  return name;
}

function readReason(dir: string, name: string): QuarantineReason {
  try {
    return JSON.parse(readFileSync(join(dir, `${name}${REASON_SUFFIX}`), 'utf8')) as QuarantineReason;
  } catch {
    return { file: name, code: 'UNKNOWN', reason: 'no reason file beside it (put there by hand?)', at: '' };
  }
}

export function listQuarantine(dir: string): QuarantineEntry[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => !n.endsWith(REASON_SUFFIX) && !n.startsWith('.'))
    .map((name) => {
      let bytes = 0;
      try {
        bytes = statSync(join(dir, name)).size;
      } catch {
        // vanished
      }
      return { ...readReason(dir, name), file: name, bytes };
    })
    .sort((a, b) => a.at.localeCompare(b.at) || a.file.localeCompare(b.file));
}

function entryPath(dir: string, file: string): string {
  const name = basename(file);
  const path = join(dir, name);
  if (name !== file.replace(/^.*\//, '') || !existsSync(path)) {
    throw new ConfigError('CONFIG_INVALID', `No file named '${file}' in the quarantine`, {
      where: dir,
      hint: "List the quarantine with 'outer-node quarantine list'",
    });
  }
  return path;
}

export async function showQuarantined(
  dir: string,
  file: string,
): Promise<{ entry: QuarantineEntry; header?: BundleHeader; headerProblem?: string }> {
  const path = entryPath(dir, file);
  const name = basename(path);
  const entry = { ...readReason(dir, name), file: name, bytes: statSync(path).size };
  try {
    return { entry, header: await readBundleHeader(path) };
  } catch (error) {
    return { entry, headerProblem: describeError(error) };
  }
}

/** Puts a quarantined file back into the inbox for another attempt (after the cause was fixed). */
export function retryQuarantined(dir: string, inbox: string, file: string, state: OuterState): string {
  const path = entryPath(dir, file);
  const name = basename(path).replace(/~q\d+\.gbb$/, '.gbb');
  let target = name;
  for (let n = 1; existsSync(join(inbox, target)); n++) target = `${name.replace(/\.gbb$/, '')}~r${n}.gbb`;
  mkdirSync(inbox, { recursive: true });
  renameSync(path, join(inbox, target));
  rmSync(join(dir, `${basename(path)}${REASON_SUFFIX}`), { force: true });
  state.record({
    file: target,
    bundleId: null,
    stream: null,
    sequence: null,
    state: 'received',
    reason: 'returned from quarantine by an operator',
    rows: null,
  });
  return join(inbox, target);
}

/** Deletes a quarantined file and its reason for good. */
export function dropQuarantined(dir: string, file: string, state: OuterState): void {
  const path = entryPath(dir, file);
  rmSync(path, { force: true });
  rmSync(join(dir, `${basename(path)}${REASON_SUFFIX}`), { force: true });
  state.record({
    file: basename(path),
    bundleId: null,
    stream: null,
    sequence: null,
    state: 'dropped',
    reason: 'dropped from quarantine by an operator',
    rows: null,
  });
}
