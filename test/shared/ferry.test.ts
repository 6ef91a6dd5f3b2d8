// The rehearsal ferry over real temporary folders: regular files only, temporary names skipped.
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ferryOnce } from '../../shared/ferry/ferry.js';

let root: string;
let from: string;
let to: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'gbb-ferry-'));
  from = join(root, 'outbox');
  to = join(root, 'inbox');
  mkdirSync(from);
  writeFileSync(join(from, 'a.gbb'), 'first bundle');
  writeFileSync(join(from, 'b.gbb'), Buffer.from([0, 1, 2, 3, 255]));
  writeFileSync(join(from, '.x.part'), 'still being written');
  writeFileSync(join(from, 'y.part'), 'also unfinished');
  writeFileSync(join(from, '.hidden'), 'dotfile');
  mkdirSync(join(from, 'folder.gbb'));
  writeFileSync(join(from, 'folder.gbb', 'inner.gbb'), 'inside a folder');
  writeFileSync(join(root, 'outside.gbb'), 'not in the outbox');
  symlinkSync(join(root, 'outside.gbb'), join(from, 'link.gbb'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const SKIPPED = ['.hidden', '.x.part', 'folder.gbb', 'link.gbb', 'y.part'];

describe('ferryOnce', () => {
  it('moves regular files and skips temporary names, folders and symlinks', async () => {
    const pass = await ferryOnce({ from, to });
    expect(pass).toMatchObject({ files: 2, bytes: 'first bundle'.length + 5 });
    expect(readdirSync(to).sort()).toEqual(['a.gbb', 'b.gbb']);
    expect(readFileSync(join(to, 'a.gbb'), 'utf8')).toBe('first bundle');
    expect([...readFileSync(join(to, 'b.gbb'))]).toEqual([0, 1, 2, 3, 255]);
    expect(readdirSync(from).sort()).toEqual(SKIPPED);
    // The symlink's target was not touched.
    expect(readFileSync(join(root, 'outside.gbb'), 'utf8')).toBe('not in the outbox');
  });

  it('carries nothing on a second pass', async () => {
    await ferryOnce({ from, to });
    expect(await ferryOnce({ from, to })).toMatchObject({ files: 0, bytes: 0 });
    expect(readdirSync(to).sort()).toEqual(['a.gbb', 'b.gbb']);
  });

  it('copies and leaves the outbox as it was with keep', async () => {
    const pass = await ferryOnce({ from, to, keep: true });
    expect(pass.files).toBe(2);
    expect(readdirSync(to).sort()).toEqual(['a.gbb', 'b.gbb']);
    expect(readdirSync(from).sort()).toEqual(['a.gbb', 'b.gbb', ...SKIPPED].sort());
    expect(readFileSync(join(from, 'a.gbb'), 'utf8')).toBe('first bundle');
  });

  it('creates missing folders', async () => {
    const newFrom = join(root, 'new', 'outbox');
    const newTo = join(root, 'new', 'inbox');
    expect(await ferryOnce({ from: newFrom, to: newTo })).toMatchObject({ files: 0, bytes: 0 });
    expect(readdirSync(newTo)).toEqual([]);
    expect(readdirSync(newFrom)).toEqual([]);
  });

  it('replaces a file of the same name already in the inbox', async () => {
    mkdirSync(to);
    writeFileSync(join(to, 'a.gbb'), 'stale copy');
    await ferryOnce({ from, to });
    expect(readFileSync(join(to, 'a.gbb'), 'utf8')).toBe('first bundle');
    expect(readdirSync(to).sort()).toEqual(['a.gbb', 'b.gbb']);
  });
});
