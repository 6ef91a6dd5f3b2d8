// The outer node's private folders under state/ (design 6: several workers, one inbox):
//
//   work/<worker>/            files a worker claimed from the inbox by atomic rename (the rename is the lock)
//   work/<worker>.lease       the worker's lease: host and pid inside, modification time = last heartbeat
//   queue/<stream>/           claimed files whose header was read, named <sequence>~<bundle>~<token>~<name>
//   queue/<stream>/.lock      the stream lock (created with O_EXCL): only its holder applies the stream
//   discard/                  applied and duplicate bundle files, renamed out of the queue at once and
//                             deleted in the background (emptied again at start-up)
//
// A worker whose lease is older than import.lease_timeout (or whose process is gone, on this host) is
// dead: its claimed files are renamed back into the inbox and its stream locks are broken. Whatever a
// race between workers lets through is made harmless by the ledger in the bank database.
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { sha256Hex } from '../crypto/index.js';

export interface WorkFolders {
  inbox: string;
  work: string;
  queue: string;
  discard: string;
}

export function workFolders(stateDir: string, inbox: string): WorkFolders {
  return {
    inbox,
    work: join(stateDir, 'work'),
    queue: join(stateDir, 'queue'),
    discard: join(stateDir, 'discard'),
  };
}

let discardCounter = 0;

/**
 * Removes a bundle file that is done with (applied, or a duplicate). Unlinking a just-written file of
 * a few MiB takes milliseconds of blocking I/O, so the file is renamed out of the queue at once (a
 * rename is the same atomic step as claiming: no worker can see it afterwards) and unlinked in the
 * background. If the rename fails, it is removed where it is.
 */
export function discardFile(folders: WorkFolders, path: string): void {
  discardCounter++;
  const target = join(folders.discard, `${process.pid}-${discardCounter}-${Date.now().toString(36)}`);
  try {
    renameSync(path, target);
  } catch {
    rmSync(path, { force: true });
    return;
  }
  void rm(target, { force: true }).catch(() => undefined); // left over: emptied at the next start
}

/** Empties the discard folder (files a stopped process had not deleted yet) and makes sure it exists. */
export function emptyDiscard(folders: WorkFolders): void {
  try {
    for (const name of readdirSync(folders.discard)) rmSync(join(folders.discard, name), { force: true });
  } catch {
    // not there yet
  }
  mkdirSync(folders.discard, { recursive: true });
}

interface LeaseInfo {
  worker: string;
  host: string;
  pid: number;
  started: string;
}

let workerCounter = 0;

export interface WorkerFolder {
  id: string;
  dir: string;
  leaseFile: string;
}

/** A new worker identity with its private claim folder and a fresh lease. */
export function createWorkerFolder(folders: WorkFolders): WorkerFolder {
  workerCounter++;
  const id = `${hostname()
    .replace(/[^A-Za-z0-9-]/g, '_')
    .slice(0, 40)}-${process.pid}-${workerCounter}-${Date.now().toString(36)}`;
  const dir = join(folders.work, id);
  const leaseFile = join(folders.work, `${id}.lease`);
  mkdirSync(dir, { recursive: true });
  const lease: LeaseInfo = {
    worker: id,
    host: hostname(),
    pid: process.pid,
    started: new Date().toISOString(),
  };
  writeFileSync(leaseFile, `${JSON.stringify(lease)}\n`);
  return { id, dir, leaseFile };
}

/** Refreshes the lease (its modification time is the heartbeat). */
export function heartbeat(worker: WorkerFolder): void {
  const now = new Date();
  try {
    utimesSync(worker.leaseFile, now, now);
  } catch {
    // The lease was taken over (we were considered dead): write a new one; our claims were returned
    // to the inbox and the ledger absorbs anything we still apply.
    try {
      mkdirSync(worker.dir, { recursive: true });
      writeFileSync(
        worker.leaseFile,
        `${JSON.stringify({ worker: worker.id, host: hostname(), pid: process.pid, started: now.toISOString() })}\n`,
      );
    } catch {
      // state folder unavailable; the next heartbeat tries again
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether a worker is alive: its lease is fresh and, on this host, its process exists. */
export function workerAlive(
  folders: WorkFolders,
  workerId: string,
  leaseTimeoutMs: number,
  nowMs: number,
): boolean {
  const leaseFile = join(folders.work, `${workerId}.lease`);
  let stat;
  try {
    stat = statSync(leaseFile);
  } catch {
    return false;
  }
  if (nowMs - stat.mtimeMs > leaseTimeoutMs) return false;
  try {
    const lease = JSON.parse(readFileSync(leaseFile, 'utf8')) as LeaseInfo;
    if (lease.host === hostname() && lease.pid !== process.pid && !processAlive(lease.pid)) return false;
  } catch {
    // a lease being written right now: trust its fresh modification time
  }
  return true;
}

/** A free name in a folder: the name itself, or name~rN.gbb when a file of that name is already there. */
function freeName(dir: string, name: string): string {
  if (!existsSync(join(dir, name))) return name;
  const stem = name.replace(/\.gbb$/, '');
  for (let n = 1; ; n++) {
    const candidate = `${stem}~r${n}.gbb`;
    if (!existsSync(join(dir, candidate))) return candidate;
  }
}

/** Returns a dead worker's claimed files to the inbox; returns how many came back. */
export function recoverDeadWorkers(
  folders: WorkFolders,
  self: string,
  leaseTimeoutMs: number,
  nowMs: number,
): number {
  let returned = 0;
  let entries: string[];
  try {
    entries = readdirSync(folders.work);
  } catch {
    return 0;
  }
  for (const entry of entries) {
    if (entry.endsWith('.lease') || entry.includes('.lease.')) continue;
    if (entry === self) continue;
    const dir = join(folders.work, entry);
    if (workerAlive(folders, entry, leaseTimeoutMs, nowMs)) continue;
    const leaseFile = join(folders.work, `${entry}.lease`);
    // A folder whose worker died before writing its lease: judged by the folder's own age.
    if (!existsSync(leaseFile)) {
      try {
        if (nowMs - lstatSync(dir).mtimeMs < leaseTimeoutMs) continue;
      } catch {
        continue;
      }
    }
    // Take the dead lease over by renaming it: only one worker wins the rename.
    const taken = join(folders.work, `${entry}.lease.taken-by-${self}`);
    try {
      if (existsSync(leaseFile)) renameSync(leaseFile, taken);
    } catch {
      continue;
    }
    try {
      for (const name of readdirSync(dir)) {
        try {
          renameSync(join(dir, name), join(folders.inbox, freeName(folders.inbox, name)));
          returned++;
        } catch {
          // taken by another recovering worker
        }
      }
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // already recovered by another worker
    }
    rmSync(taken, { force: true });
  }
  return returned;
}

/** Removes a worker's folder and lease on a clean stop, returning unfinished claims to the inbox. */
export function releaseWorkerFolder(folders: WorkFolders, worker: WorkerFolder): void {
  try {
    for (const name of readdirSync(worker.dir)) {
      renameSync(join(worker.dir, name), join(folders.inbox, freeName(folders.inbox, name)));
    }
  } catch {
    // nothing left
  }
  rmSync(worker.dir, { recursive: true, force: true });
  rmSync(worker.leaseFile, { force: true });
}

/** A stream's queue folder: readable prefix plus a hash, so any stream name is a safe folder name. */
export function streamFolder(folders: WorkFolders, stream: string): string {
  const dir = join(
    folders.queue,
    `${stream.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60)}-${sha256Hex(stream).slice(0, 12)}`,
  );
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, '.stream'), stream);
  }
  return dir;
}

export interface QueuedFile {
  path: string;
  sequence: number;
  bundleId: string;
  /** The name the file had in the inbox (the task's name). */
  file: string;
}

const safe = (text: string, max: number): string => text.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, max);

export function queuedName(sequence: number, bundleId: string, token: string, file: string): string {
  return `${String(sequence).padStart(12, '0')}~${safe(bundleId, 64)}~${token}~${safe(file, 120)}`;
}

export function parseQueuedName(dir: string, name: string): QueuedFile | undefined {
  const parts = name.split('~');
  if (parts.length < 4 || !/^\d{12}$/.test(parts[0] ?? '')) return undefined;
  return {
    path: join(dir, name),
    sequence: Number(parts[0]),
    bundleId: parts[1] ?? '',
    file: parts.slice(3).join('~'),
  };
}

/** The files of one stream waiting to be applied, lowest sequence first. */
export function listQueue(dir: string): QueuedFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => !n.startsWith('.'))
    .flatMap((n) => parseQueuedName(dir, n) ?? [])
    .sort((a, b) => a.sequence - b.sequence || a.path.localeCompare(b.path));
}

/** Every stream queue folder with its stream name. */
export function listStreams(folders: WorkFolders): { stream: string; dir: string }[] {
  let entries: string[];
  try {
    entries = readdirSync(folders.queue);
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    const dir = join(folders.queue, entry);
    try {
      return [{ stream: readFileSync(join(dir, '.stream'), 'utf8'), dir }];
    } catch {
      return [];
    }
  });
}

/**
 * Takes the stream lock, or breaks it when its holder is dead. Returns false when a live worker holds
 * it (that worker applies the stream; ours waits).
 */
export function lockStream(
  folders: WorkFolders,
  dir: string,
  worker: WorkerFolder,
  leaseTimeoutMs: number,
  nowMs: number,
): boolean {
  const lock = join(dir, '.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, 'wx');
      try {
        writeSync(fd, worker.id);
      } finally {
        closeSync(fd);
      }
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let holder: string;
    try {
      holder = readFileSync(lock, 'utf8');
    } catch {
      continue; // released meanwhile
    }
    if (holder === worker.id) return true;
    if (holder === '') {
      // Being written by its creator this instant, or left empty by a crash: judge by the lock's age.
      try {
        if (nowMs - statSync(lock).mtimeMs < leaseTimeoutMs) return false;
      } catch {
        continue;
      }
    } else if (workerAlive(folders, holder, leaseTimeoutMs, nowMs)) {
      return false;
    }
    try {
      renameSync(lock, `${lock}.broken-by-${worker.id}`);
      rmSync(`${lock}.broken-by-${worker.id}`, { force: true });
    } catch {
      // another worker broke it first; try to take it
    }
  }
  return false;
}

export function unlockStream(dir: string, worker: WorkerFolder): void {
  const lock = join(dir, '.lock');
  try {
    if (readFileSync(lock, 'utf8') === worker.id) rmSync(lock, { force: true });
  } catch {
    // not ours any more
  }
}
