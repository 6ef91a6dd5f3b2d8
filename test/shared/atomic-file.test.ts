// Write then rename: files appear whole under their final name, no temporary file left behind.
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isTemporaryName,
  publishFile,
  temporaryNameFor,
  writeFileAtomicSync,
} from '../../shared/atomic-file.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gbb-atomic-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('isTemporaryName', () => {
  it('treats dotfiles and .part files as temporary', () => {
    expect(isTemporaryName('.x.part')).toBe(true);
    expect(isTemporaryName('.bundle.gbb.1234.1700000000000.part')).toBe(true);
    expect(isTemporaryName('.hidden')).toBe(true);
    expect(isTemporaryName('upload.part')).toBe(true);
  });

  it('treats ordinary names as final', () => {
    expect(isTemporaryName('bundle.gbb')).toBe(false);
    expect(isTemporaryName('part')).toBe(false);
    expect(isTemporaryName('x.partial')).toBe(false);
    expect(isTemporaryName('x.part.gbb')).toBe(false);
  });

  it('recognises the names temporaryNameFor makes, in the same folder', () => {
    const temp = temporaryNameFor('/outbox/bundle.gbb');
    expect(dirname(temp)).toBe('/outbox');
    expect(isTemporaryName(basename(temp))).toBe(true);
    expect(basename(temp)).toMatch(/^\.bundle\.gbb\.\d+\.\d+\.part$/);
  });
});

describe('writeFileAtomicSync', () => {
  it('writes text, creating folders, and leaves no temporary file', () => {
    const path = join(dir, 'a', 'b', 'file.txt');
    writeFileAtomicSync(path, '内容 𠮷\n');
    expect(readFileSync(path, 'utf8')).toBe('内容 𠮷\n');
    expect(readdirSync(dirname(path))).toEqual(['file.txt']);
  });

  it('writes bytes and replaces an existing file whole', () => {
    const path = join(dir, 'bytes.bin');
    writeFileSync(path, 'old content that is longer than the new one');
    writeFileAtomicSync(path, new Uint8Array([0, 1, 2, 255]));
    expect([...readFileSync(path)]).toEqual([0, 1, 2, 255]);
    expect(readdirSync(dir).filter(isTemporaryName)).toEqual([]);
  });

  it('applies the mode to a new file', () => {
    const path = join(dir, 'secret.key');
    writeFileAtomicSync(path, 'k', 0o600);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  // BUG (shared/atomic-file.ts, writeFileAtomicSync, the renameSync(temp, finalPath) line): only a
  // failed write/fsync removes the temporary file; a failed rename (here: the final path is a
  // non-empty folder) throws and leaves '.is-a-dir.<pid>.<ms>.part' behind, one more per retry.
  // publishFile does remove its temporary file when the rename fails. Expected: no leftover.
  // Actual: one leftover .part file. Left failing on purpose (low severity: scanners skip it).
  it('leaves no temporary file when the rename fails', () => {
    const target = join(dir, 'is-a-dir');
    writeFileAtomicSync(join(target, 'inside'), 'x'); // makes target a non-empty folder
    expect(() => writeFileAtomicSync(target, 'y')).toThrow();
    expect(readdirSync(dir).filter((name) => name.startsWith('.is-a-dir'))).toEqual([]);
  });
});

describe('publishFile', () => {
  it('renames a written temporary file into place', async () => {
    const final = join(dir, 'published.gbb');
    const temp = temporaryNameFor(final);
    writeFileSync(temp, 'bundle');
    await publishFile(temp, final);
    expect(readFileSync(final, 'utf8')).toBe('bundle');
    expect(readdirSync(dir)).not.toContain(basename(temp));
  });
});
