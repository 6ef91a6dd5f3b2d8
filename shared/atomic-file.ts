// Write then rename (style.md rule 6): a file appears whole under its final name or not at all.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync, rmSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Temporary names start with a dot and end with .part, so watchers and scanners skip them. */
export function temporaryNameFor(finalPath: string): string {
  return join(dirname(finalPath), `.${basename(finalPath)}.${process.pid}.${Date.now()}.part`);
}

export function isTemporaryName(name: string): boolean {
  return name.startsWith('.') || name.endsWith('.part');
}

/** fsync a directory so that a rename inside it survives a power cut. */
export function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function writeFileAtomicSync(finalPath: string, data: string | Uint8Array, mode = 0o644): void {
  mkdirSync(dirname(finalPath), { recursive: true });
  const temp = temporaryNameFor(finalPath);
  const fd = openSync(temp, 'w', mode);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw error;
  }
  closeSync(fd);
  try {
    renameSync(temp, finalPath);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
  syncDirectory(dirname(finalPath));
}

/** Publishes an already-written temporary file under its final name (fsync, rename, fsync dir). */
export async function publishFile(tempPath: string, finalPath: string): Promise<void> {
  const handle = await open(tempPath, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tempPath, finalPath);
  } catch (error) {
    await rm(tempPath, { force: true });
    throw error;
  }
  syncDirectory(dirname(finalPath));
}
