// The inner node's state database: per-stream cursors and sequence numbers, the record of sent
// bundles (kept for resends), and export runs. One SQLite file, WAL, synchronous FULL: a cursor must
// never move ahead of a bundle that was durably sealed.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface StreamState {
  stream: string;
  bank: string;
  dataset: string;
  nextSequence: number;
  cursorWatermark: string | null;
  cursorKey: string | null; // JSON array of key values
}

export interface SentBundle {
  bundleId: string;
  stream: string;
  sequence: number;
  file: string;
  rowCount: number;
  bytes: number;
  digest: string;
  published: boolean;
  createdAt: string;
}

export interface RunRecord {
  dataset: string;
  bank: string;
  startedAt: string;
  finishedAt: string;
  rows: number;
  rejects: number;
  bundles: number;
  status: 'ok' | 'failed';
  message: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS streams (
  stream TEXT PRIMARY KEY,
  bank TEXT NOT NULL,
  dataset TEXT NOT NULL,
  next_sequence INTEGER NOT NULL,
  cursor_watermark TEXT,
  cursor_key TEXT
);
-- Per bank: the next sequence of its catalogue stream (issue 6; catalogues are not kept in retention).
CREATE TABLE IF NOT EXISTS catalogue_sequences (
  bank TEXT PRIMARY KEY,
  next_sequence INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sent_bundles (
  bundle_id TEXT PRIMARY KEY,
  stream TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  file TEXT NOT NULL,
  row_count INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  digest TEXT NOT NULL,
  published INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  UNIQUE (stream, sequence)
);
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY,
  dataset TEXT NOT NULL,
  bank TEXT NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT NOT NULL,
  rows INTEGER NOT NULL,
  rejects INTEGER NOT NULL,
  bundles INTEGER NOT NULL,
  status TEXT NOT NULL,
  message TEXT
);
-- The source's columns as last accepted, per dataset: compared before each export (schema drift).
CREATE TABLE IF NOT EXISTS source_schemas (
  dataset TEXT PRIMARY KEY,
  columns TEXT NOT NULL,
  recorded_at TEXT NOT NULL
);
-- Datasets held back until an operator runs 'inner-node resume', with the reason.
CREATE TABLE IF NOT EXISTS paused_datasets (
  dataset TEXT PRIMARY KEY,
  reason TEXT NOT NULL,
  since TEXT NOT NULL
);
-- Snapshot streams: every contract key the bank holds, with a digest of the row it was sent, and the
-- snapshot generation that last saw it. Keys not seen by a complete snapshot are sent as tombstones.
CREATE TABLE IF NOT EXISTS snapshot_keys (
  stream TEXT NOT NULL,
  key TEXT NOT NULL,
  digest TEXT NOT NULL,
  seen INTEGER NOT NULL,
  PRIMARY KEY (stream, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS snapshot_keys_seen ON snapshot_keys (stream, seen);
-- One export of a dataset at a time on this node (an 'export' command beside the daemon, say): two
-- would number bundles alike. A lock whose process is gone (kill -9) is taken over.
CREATE TABLE IF NOT EXISTS export_locks (
  dataset TEXT PRIMARY KEY,
  pid INTEGER NOT NULL,
  since TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshot_generations (
  stream TEXT PRIMARY KEY,
  generation INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reverse_acks (
  stream TEXT PRIMARY KEY,
  acknowledged INTEGER NOT NULL,
  acked_at TEXT NOT NULL
);
`;

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive but not ours to signal.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface SnapshotEntry {
  key: string;
  digest: string;
}

export class InnerState {
  readonly db: Database.Database;

  constructor(stateDir: string) {
    mkdirSync(stateDir, { recursive: true });
    this.db = new Database(join(stateDir, 'inner-state.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    const sentColumns = this.db.prepare('SELECT name FROM pragma_table_info(?)').all('sent_bundles') as {
      name: string;
    }[];
    if (!sentColumns.some((c) => c.name === 'pruned')) {
      this.db.exec('ALTER TABLE sent_bundles ADD COLUMN pruned INTEGER NOT NULL DEFAULT 0');
    }
  }

  close(): void {
    this.db.close();
  }

  stream(stream: string, bank: string, dataset: string): StreamState {
    this.db
      .prepare('INSERT OR IGNORE INTO streams (stream, bank, dataset, next_sequence) VALUES (?, ?, ?, 1)')
      .run(stream, bank, dataset);
    const row = this.db
      .prepare(
        'SELECT stream, bank, dataset, next_sequence AS nextSequence, cursor_watermark AS cursorWatermark, cursor_key AS cursorKey FROM streams WHERE stream = ?',
      )
      .get(stream) as StreamState;
    return row;
  }

  /**
   * Records a sealed bundle and advances the stream's cursor and sequence in one transaction; `also`
   * runs inside the same transaction (snapshot key bookkeeping), so a crash keeps them together.
   */
  recordSealed(
    bundle: Omit<SentBundle, 'published'>,
    cursorWatermark: string | null,
    cursorKey: string | null,
    also?: () => void,
  ): void {
    this.db.transaction(() => {
      also?.();
      this.db
        .prepare(
          `INSERT INTO sent_bundles (bundle_id, stream, sequence, file, row_count, bytes, digest, published, created_at)
           VALUES (@bundleId, @stream, @sequence, @file, @rowCount, @bytes, @digest, 0, @createdAt)`,
        )
        .run(bundle);
      this.db
        .prepare(
          'UPDATE streams SET next_sequence = ?, cursor_watermark = ?, cursor_key = ? WHERE stream = ? AND next_sequence = ?',
        )
        .run(bundle.sequence + 1, cursorWatermark, cursorKey, bundle.stream, bundle.sequence);
    })();
  }

  /** Moves the cursor past rows that produced no bundle (all rejected). */
  advanceCursor(stream: string, cursorWatermark: string, cursorKey: string): void {
    this.db
      .prepare('UPDATE streams SET cursor_watermark = ?, cursor_key = ? WHERE stream = ?')
      .run(cursorWatermark, cursorKey, stream);
  }

  /** Starts a new snapshot generation for a stream. */
  nextGeneration(stream: string): number {
    return this.db.transaction(() => {
      const row = this.db
        .prepare('SELECT generation FROM snapshot_generations WHERE stream = ?')
        .get(stream) as { generation: number } | undefined;
      const generation = (row?.generation ?? 0) + 1;
      this.db
        .prepare(
          'INSERT INTO snapshot_generations (stream, generation) VALUES (?, ?) ON CONFLICT (stream) DO UPDATE SET generation = excluded.generation',
        )
        .run(stream, generation);
      return generation;
    })();
  }

  snapshotEntry(stream: string, key: string): { digest: string; seen: number } | undefined {
    return this.db
      .prepare('SELECT digest, seen FROM snapshot_keys WHERE stream = ? AND key = ?')
      .get(stream, key) as { digest: string; seen: number } | undefined;
  }

  /** Marks keys as present in this generation (rows unchanged since they were sent). */
  markSeen(stream: string, keys: readonly string[], generation: number): void {
    if (keys.length === 0) return;
    const update = this.db.prepare('UPDATE snapshot_keys SET seen = ? WHERE stream = ? AND key = ?');
    this.db.transaction(() => {
      for (const key of keys) update.run(generation, stream, key);
    })();
  }

  /** Records the keys and row digests of a sealed bundle; call inside recordSealed's transaction. */
  upsertSnapshotKeys(stream: string, entries: readonly SnapshotEntry[], generation: number): void {
    const upsert = this.db.prepare(
      `INSERT INTO snapshot_keys (stream, key, digest, seen) VALUES (?, ?, ?, ?)
       ON CONFLICT (stream, key) DO UPDATE SET digest = excluded.digest, seen = excluded.seen`,
    );
    for (const e of entries) upsert.run(stream, e.key, e.digest, generation);
  }

  /** Keys the bank holds that the given (complete) generation did not see: deleted at the source. */
  unseenKeys(stream: string, generation: number, limit: number): string[] {
    return (
      this.db
        .prepare('SELECT key FROM snapshot_keys WHERE stream = ? AND seen < ? ORDER BY key LIMIT ?')
        .all(stream, generation, limit) as { key: string }[]
    ).map((r) => r.key);
  }

  /** Forgets keys sent as tombstones; call inside recordSealed's transaction. */
  deleteSnapshotKeys(stream: string, keys: readonly string[]): void {
    const remove = this.db.prepare('DELETE FROM snapshot_keys WHERE stream = ? AND key = ?');
    for (const key of keys) remove.run(stream, key);
  }

  sourceSchema(dataset: string): { columns: string; recordedAt: string } | undefined {
    return this.db
      .prepare('SELECT columns, recorded_at AS recordedAt FROM source_schemas WHERE dataset = ?')
      .get(dataset) as { columns: string; recordedAt: string } | undefined;
  }

  recordSourceSchema(dataset: string, columns: string): void {
    this.db
      .prepare(
        `INSERT INTO source_schemas (dataset, columns, recorded_at) VALUES (?, ?, ?)
         ON CONFLICT (dataset) DO UPDATE SET columns = excluded.columns, recorded_at = excluded.recorded_at`,
      )
      .run(dataset, columns, new Date().toISOString());
  }

  pause(dataset: string, reason: string): void {
    this.db
      .prepare(
        `INSERT INTO paused_datasets (dataset, reason, since) VALUES (?, ?, ?)
         ON CONFLICT (dataset) DO UPDATE SET reason = excluded.reason`,
      )
      .run(dataset, reason, new Date().toISOString());
  }

  /**
   * Takes the export lock of a dataset for this process; returns the holder's pid when another live
   * process holds it.
   */
  lockDataset(dataset: string): number | undefined {
    return this.db
      .transaction(() => {
        const held = this.db.prepare('SELECT pid FROM export_locks WHERE dataset = ?').get(dataset) as
          { pid: number } | undefined;
        if (held && held.pid !== process.pid && processAlive(held.pid)) return held.pid;
        this.db
          .prepare(
            `INSERT INTO export_locks (dataset, pid, since) VALUES (?, ?, ?)
           ON CONFLICT (dataset) DO UPDATE SET pid = excluded.pid, since = excluded.since`,
          )
          .run(dataset, process.pid, new Date().toISOString());
        return undefined;
      })
      .immediate();
  }

  unlockDataset(dataset: string): void {
    this.db.prepare('DELETE FROM export_locks WHERE dataset = ? AND pid = ?').run(dataset, process.pid);
  }

  /** Releases a paused dataset; returns whether it was paused. */
  resume(dataset: string): boolean {
    return this.db.prepare('DELETE FROM paused_datasets WHERE dataset = ?').run(dataset).changes > 0;
  }

  paused(dataset: string): { reason: string; since: string } | undefined {
    return this.db.prepare('SELECT reason, since FROM paused_datasets WHERE dataset = ?').get(dataset) as
      { reason: string; since: string } | undefined;
  }

  /** Published bundles created before the cutoff whose files are still kept for resends. */
  expiredSent(before: string): { bundleId: string; file: string }[] {
    return this.db
      .prepare(
        'SELECT bundle_id AS bundleId, file FROM sent_bundles WHERE published = 1 AND pruned = 0 AND created_at < ? ORDER BY created_at',
      )
      .all(before) as { bundleId: string; file: string }[];
  }

  markPruned(bundleId: string): void {
    this.db.prepare('UPDATE sent_bundles SET pruned = 1 WHERE bundle_id = ?').run(bundleId);
  }

  /** The last run of a dataset for a bank. */
  lastRun(dataset: string, bank: string): RunRecord | undefined {
    return this.db
      .prepare(
        `SELECT dataset, bank, started_at AS startedAt, finished_at AS finishedAt, rows, rejects, bundles, status, message
         FROM runs WHERE dataset = ? AND bank = ? ORDER BY id DESC LIMIT 1`,
      )
      .get(dataset, bank) as RunRecord | undefined;
  }

  markPublished(bundleId: string): void {
    this.db.prepare('UPDATE sent_bundles SET published = 1 WHERE bundle_id = ?').run(bundleId);
  }

  unpublished(): SentBundle[] {
    return (
      this.db
        .prepare(
          'SELECT bundle_id AS bundleId, stream, sequence, file, row_count AS rowCount, bytes, digest, published, created_at AS createdAt FROM sent_bundles WHERE published = 0 ORDER BY stream, sequence',
        )
        .all() as (Omit<SentBundle, 'published'> & { published: number })[]
    ).map((b) => ({ ...b, published: b.published === 1 }));
  }

  recordRun(run: RunRecord): void {
    this.db
      .prepare(
        `INSERT INTO runs (dataset, bank, started_at, finished_at, rows, rejects, bundles, status, message)
         VALUES (@dataset, @bank, @startedAt, @finishedAt, @rows, @rejects, @bundles, @status, @message)`,
      )
      .run(run);
  }

  /** Rows sealed per hour bucket and dataset since `from` (the report's throughput chart). */
  sentSince(from: string): { dataset: string; rows: number; createdAt: string }[] {
    return this.db
      .prepare(
        `SELECT s.dataset AS dataset, b.row_count AS rows, b.created_at AS createdAt
         FROM sent_bundles b JOIN streams s ON s.stream = b.stream
         WHERE b.created_at >= ? ORDER BY b.created_at`,
      )
      .all(from) as { dataset: string; rows: number; createdAt: string }[];
  }

  /** Sent bundles whose copy is still kept in state/sent/ for resends (not pruned by retention). */
  keptCount(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM sent_bundles WHERE pruned = 0').get() as { n: number })
      .n;
  }

  /** Every paused dataset with its reason. */
  pausedDatasets(): { dataset: string; reason: string; since: string }[] {
    return this.db.prepare('SELECT dataset, reason, since FROM paused_datasets ORDER BY dataset').all() as {
      dataset: string;
      reason: string;
      since: string;
    }[];
  }

  /** Export locks held by processes that are still alive (a restore must not run under them). */
  liveLocks(): { dataset: string; pid: number }[] {
    return (
      this.db.prepare('SELECT dataset, pid FROM export_locks').all() as { dataset: string; pid: number }[]
    ).filter((l) => l.pid !== process.pid && processAlive(l.pid));
  }

  /** Highest sequence up to which the bank acknowledged every bundle of the stream (0: none yet). */
  acknowledged(stream: string): number {
    const row = this.db.prepare('SELECT acknowledged FROM reverse_acks WHERE stream = ?').get(stream) as
      { acknowledged: number } | undefined;
    return row?.acknowledged ?? 0;
  }

  /**
   * Records an ack's applied ranges: the acknowledged mark moves only over ranges that continue it
   * without a hole, and never falls (an older ack arriving late changes nothing).
   */
  recordAck(stream: string, ranges: readonly (readonly [number, number])[], at: string): number {
    return this.db
      .transaction(() => {
        let upTo = this.acknowledged(stream);
        const before = upTo;
        for (const [from, to] of [...ranges].sort((a, b) => a[0] - b[0])) {
          if (from <= upTo + 1) upTo = Math.max(upTo, to);
        }
        if (upTo > before) {
          this.db
            .prepare(
              'INSERT INTO reverse_acks (stream, acknowledged, acked_at) VALUES (?, ?, ?) ON CONFLICT (stream) DO UPDATE SET acknowledged = excluded.acknowledged, acked_at = excluded.acked_at',
            )
            .run(stream, upTo, at);
        }
        return upTo;
      })
      .immediate();
  }

  /** Takes the next sequence of a bank's catalogue stream (1 for the first catalogue). */
  takeCatalogueSequence(bank: string): number {
    const row = this.db
      .prepare(
        `INSERT INTO catalogue_sequences (bank, next_sequence) VALUES (?, 2)
         ON CONFLICT (bank) DO UPDATE SET next_sequence = next_sequence + 1
         RETURNING next_sequence AS next`,
      )
      .get(bank) as { next: number };
    return row.next - 1;
  }

  /** Banks with at least one stream (the ones a catalogue is sent to). */
  catalogueBanks(): string[] {
    return (
      this.db.prepare('SELECT DISTINCT bank FROM streams ORDER BY bank').all() as { bank: string }[]
    ).map((r) => r.bank);
  }

  /** Per stream of a bank: latest sequence sent and oldest sequence still kept for resends (0: none). */
  catalogueEntries(bank: string): { stream: string; latest: number; oldestRetained: number }[] {
    return this.db
      .prepare(
        `SELECT s.stream AS stream, s.next_sequence - 1 AS latest,
                COALESCE((SELECT MIN(b.sequence) FROM sent_bundles b
                          WHERE b.stream = s.stream AND b.pruned = 0), 0) AS oldestRetained
         FROM streams s WHERE s.bank = ? ORDER BY s.stream`,
      )
      .all(bank) as { stream: string; latest: number; oldestRetained: number }[];
  }

  streams(): (StreamState & {
    bundles: number;
    acknowledged: number;
    rows: number;
    rejects: number;
    lastRun: RunRecord | undefined;
    lastOkAt: string | null;
  })[] {
    const streams = this.db
      .prepare(
        'SELECT stream, bank, dataset, next_sequence AS nextSequence, cursor_watermark AS cursorWatermark, cursor_key AS cursorKey FROM streams ORDER BY stream',
      )
      .all() as StreamState[];
    return streams.map((s) => {
      const totals = this.db
        .prepare(
          'SELECT COUNT(*) AS bundles, COALESCE(SUM(row_count), 0) AS rows FROM sent_bundles WHERE stream = ?',
        )
        .get(s.stream) as { bundles: number; rows: number };
      const lastRun = this.db
        .prepare(
          `SELECT dataset, bank, started_at AS startedAt, finished_at AS finishedAt, rows, rejects, bundles, status, message
           FROM runs WHERE dataset = ? AND bank = ? ORDER BY id DESC LIMIT 1`,
        )
        .get(s.dataset, s.bank) as RunRecord | undefined;
      // Rows rejected by the mapping over every run of the stream (a counter: it never falls).
      const runs = this.db
        .prepare(
          `SELECT COALESCE(SUM(rejects), 0) AS rejects, MAX(CASE WHEN status = 'ok' THEN finished_at END) AS lastOkAt
           FROM runs WHERE dataset = ? AND bank = ?`,
        )
        .get(s.dataset, s.bank) as { rejects: number; lastOkAt: string | null };
      return { ...s, ...totals, acknowledged: this.acknowledged(s.stream), ...runs, lastRun };
    });
  }
}
