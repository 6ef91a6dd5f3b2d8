// Backup and restore of a node's state database (issue 8): an online backup of the real inner state
// database while it is open, then destroy, restore and resume: every stream's sequence and cursor
// and every sent bundle is back, and the next bundle takes the next sequence (none is reused).
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InnerState } from '../../inner-node/state.js';
import {
  BackupError,
  backupSqlite,
  integrityProblems,
  isDatabaseInUse,
  restoreSqlite,
} from '../../shared/state-backup.js';

const work = mkdtempSync(join(tmpdir(), 'govbank-backup-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let counter = 0;
const fresh = (): string => join(work, `case-${++counter}`);

/** Seals `n` bundles on a stream the way export does: record the bundle, advance cursor and sequence. */
function sealSome(state: InnerState, stream: string, n: number): void {
  for (let i = 0; i < n; i++) {
    const s = state.stream(stream, 'bank-a', 'residents');
    state.recordSealed(
      {
        bundleId: `${stream}-${s.nextSequence}`,
        stream,
        sequence: s.nextSequence,
        file: `sent/${stream}-${s.nextSequence}.gbb`,
        rowCount: 100,
        bytes: 4096,
        digest: `digest-${s.nextSequence}`,
        createdAt: new Date(Date.UTC(2026, 10, 22, 8, 0, s.nextSequence)).toISOString(),
      },
      `2026-11-22 08:00:${String(s.nextSequence).padStart(2, '0')}`,
      JSON.stringify([`key-${s.nextSequence}`]),
    );
    state.markPublished(`${stream}-${s.nextSequence}`);
  }
}

function dump(state: InnerState): unknown {
  return {
    streams: state.streams().map((s) => ({ ...s, lastRun: undefined })),
    sent: state.db.prepare('SELECT * FROM sent_bundles ORDER BY stream, sequence').all(),
  };
}

describe('backupSqlite and restoreSqlite', () => {
  it('back up a live state database, destroy it, restore it, resume: nothing lost, no sequence reused', async () => {
    const dir = fresh();
    const stateDir = join(dir, 'state');
    const state = new InnerState(stateDir);
    sealSome(state, 'county.bank-a.residents', 5);
    sealSome(state, 'county.bank-a.social_security', 3);
    const before = dump(state);

    // Online: the node's connection stays open (WAL, uncheckpointed pages) during the backup.
    const backupFile = join(dir, 'backups', 'inner-state-2026-11-22.db');
    const backup = await backupSqlite(join(stateDir, 'inner-state.db'), backupFile);
    expect(backup.tables['sent_bundles']).toBe(8);
    expect(statSync(backupFile).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(dir, 'backups'))).toEqual(['inner-state-2026-11-22.db']); // no temporary left
    state.close();

    rmSync(stateDir, { recursive: true, force: true }); // the machine is lost

    const restored = await restoreSqlite(backupFile, join(stateDir, 'inner-state.db'));
    expect(restored.movedAside).toEqual([]);
    expect(restored.tables).toEqual(backup.tables);
    const again = new InnerState(stateDir);
    try {
      expect(dump(again)).toEqual(before);
      // Resume: the next bundle of each stream takes the next sequence, never one already sent.
      expect(again.stream('county.bank-a.residents', 'bank-a', 'residents').nextSequence).toBe(6);
      sealSome(again, 'county.bank-a.residents', 1);
      const sequences = (
        again.db
          .prepare('SELECT sequence FROM sent_bundles WHERE stream = ? ORDER BY sequence')
          .all('county.bank-a.residents') as {
          sequence: number;
        }[]
      ).map((r) => r.sequence);
      expect(sequences).toEqual([1, 2, 3, 4, 5, 6]);
    } finally {
      again.close();
    }
  });

  it('never overwrites a backup', async () => {
    const dir = fresh();
    const state = new InnerState(join(dir, 'state'));
    state.close();
    const file = join(dir, 'b.db');
    await backupSqlite(join(dir, 'state', 'inner-state.db'), file);
    await expect(backupSqlite(join(dir, 'state', 'inner-state.db'), file)).rejects.toMatchObject({
      code: 'BACKUP_EXISTS',
    });
    await expect(backupSqlite(join(dir, 'nope.db'), join(dir, 'c.db'))).rejects.toMatchObject({
      code: 'BACKUP_SOURCE_MISSING',
    });
  });

  it('refuses to restore over an existing database unless forced, and then moves it and its WAL aside', async () => {
    const dir = fresh();
    const stateDir = join(dir, 'state');
    const state = new InnerState(stateDir);
    sealSome(state, 'county.bank-a.residents', 2);
    state.close();
    const file = join(dir, 'b.db');
    await backupSqlite(join(stateDir, 'inner-state.db'), file);

    // Later writes, left in a write-ahead log that was never checkpointed (as after a crash).
    const later = new Database(join(stateDir, 'inner-state.db'));
    later.pragma('wal_autocheckpoint = 0');
    later.prepare("UPDATE streams SET next_sequence = 99 WHERE stream = 'county.bank-a.residents'").run();
    const walCopy = readFileSync(join(stateDir, 'inner-state.db-wal'));
    later.close(); // closing checkpoints; put the WAL back to play the crashed machine
    writeFileSync(join(stateDir, 'inner-state.db-wal'), walCopy);

    const dest = join(stateDir, 'inner-state.db');
    await expect(restoreSqlite(file, dest)).rejects.toMatchObject({ code: 'RESTORE_TARGET_EXISTS' });
    const result = await restoreSqlite(file, dest, { force: true, now: new Date('2026-11-22T10:00:00Z') });
    const aside = join(stateDir, 'inner-state.db.before-restore-2026-11-22T10-00-00-000Z');
    expect(result.movedAside[0]).toBe(aside);
    // The stale WAL is not replayed onto the restored database: it went aside with the old one,
    // which keeps the later writes (nothing is thrown away).
    expect(existsSync(`${dest}-wal`)).toBe(false);
    const old = new Database(aside, { readonly: true });
    expect(
      old.prepare("SELECT next_sequence AS n FROM streams WHERE stream = 'county.bank-a.residents'").get(),
    ).toEqual({
      n: 99,
    });
    old.close();
    const restored = new InnerState(stateDir);
    try {
      expect(restored.stream('county.bank-a.residents', 'bank-a', 'residents').nextSequence).toBe(3);
    } finally {
      restored.close();
    }
  });

  it('refuses to restore over a database that is open, in this process or another, even when forced', async () => {
    const dir = fresh();
    const stateDir = join(dir, 'state');
    const state = new InnerState(stateDir);
    const file = join(dir, 'b.db');
    await backupSqlite(join(stateDir, 'inner-state.db'), file);
    const dest = join(stateDir, 'inner-state.db');
    expect(isDatabaseInUse(dest)).toBe(true);
    await expect(restoreSqlite(file, dest, { force: true })).rejects.toThrow(BackupError);
    await expect(restoreSqlite(file, dest, { force: true })).rejects.toMatchObject({
      code: 'RESTORE_TARGET_IN_USE',
    });
    state.close();
    expect(isDatabaseInUse(dest)).toBe(false);

    // Another process (a running node) holds it open.
    const holder = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import Database from 'better-sqlite3'; const db = new Database(${JSON.stringify(dest)}); db.prepare('SELECT 1').get(); process.stdout.write('ready\\n'); setInterval(() => db.prepare('SELECT 1').get(), 100);`,
      ],
      { cwd: join(import.meta.dirname, '../..'), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('ready')) resolve();
        });
        holder.on('exit', (code) => reject(new Error(`holder exited with ${code}`)));
      });
      expect(isDatabaseInUse(dest)).toBe(true);
      await expect(restoreSqlite(file, dest, { force: true })).rejects.toMatchObject({
        code: 'RESTORE_TARGET_IN_USE',
      });
    } finally {
      holder.kill('SIGTERM');
    }
  });

  it('refuses a damaged backup and changes nothing', async () => {
    const dir = fresh();
    const state = new InnerState(join(dir, 'state'));
    sealSome(state, 'county.bank-a.residents', 50);
    state.close();
    const file = join(dir, 'b.db');
    await backupSqlite(join(dir, 'state', 'inner-state.db'), file);
    const bytes = readFileSync(file);
    bytes.fill(0x41, 4096, 8192); // overwrite page 2 with garbage
    writeFileSync(file, bytes);
    expect(integrityProblems(file).length).toBeGreaterThan(0);
    const dest = join(dir, 'new-state', 'inner-state.db');
    await expect(restoreSqlite(file, dest)).rejects.toMatchObject({ code: 'BACKUP_CORRUPT' });
    expect(existsSync(dest)).toBe(false);
  });
});
