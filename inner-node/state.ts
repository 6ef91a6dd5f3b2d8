// The inner node's state database: per-stream cursors and sequence numbers, the record of sent
// bundles (kept for resends), and export runs. One SQLite file, WAL, synchronous FULL: a cursor must
// never move ahead of a bundle that was durably sealed.
import type Database from 'better-sqlite3';
import { openStateDatabase } from '../shared/state-database.js';
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

/** Per stream: what the bank acknowledged and asked for again (issue 6). */
export interface ReverseLaneStatus {
  /** Sequences sent after the acknowledged mark. */
  unacknowledged: number;
  /** Age of the oldest bundle not acknowledged yet (null when all are acknowledged). */
  oldestUnacknowledgedSeconds: number | null;
  /** Resend requests received for the stream. */
  resendRequests: number;
  /** Bundles re-published into the outbox for those requests. */
  resent: number;
  lastResendRequestAt: string | null;
  /** Sequences the bank asked for after their copies left retention, not repaired yet (ranges). */
  retentionGaps: [number, number][];
  /** Lost sequences replaced by placeholders by a snapshot export so far. */
  retentionGapsRepaired: number;
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
-- Resend requests served, per stream (issue 6): counters, so status never has to count messages.
CREATE TABLE IF NOT EXISTS resend_counts (
  stream TEXT PRIMARY KEY,
  requests INTEGER NOT NULL DEFAULT 0,
  resent INTEGER NOT NULL DEFAULT 0,
  last_request_at TEXT
);
-- Sequences a bank asked for again after their kept copies had left retention (issue 6). A snapshot
-- export ('inner-node export --snapshot') repairs them: it re-sends the dataset's current rows under new
-- sequences and replaces each lost sequence with an empty placeholder bundle, recorded here.
CREATE TABLE IF NOT EXISTS retention_gaps (
  stream TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  first_reported_at TEXT NOT NULL,
  last_reported_at TEXT NOT NULL,
  reports INTEGER NOT NULL,
  repaired_at TEXT,
  placeholder_bundle_id TEXT,
  snapshot_from INTEGER,
  snapshot_to INTEGER,
  PRIMARY KEY (stream, sequence)
) WITHOUT ROWID;
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
    // Retried as a whole while another process (an export beside the daemon) creates the same database.
    this.db = openStateDatabase(
      join(stateDir, 'inner-state.db'),
      (db) => {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = FULL');
        db.exec(SCHEMA);
        const sentColumns = db.prepare('SELECT name FROM pragma_table_info(?)').all('sent_bundles') as {
          name: string;
        }[];
        // Columns added after the first release. Two processes opening an old database at once may
        // both add one: the loser's error is harmless. A placeholder (see recordPlaceholder) names the
        // lost bundle it stands in for.
        for (const [column, type] of [
          ['pruned', 'INTEGER NOT NULL DEFAULT 0'],
          ['supersedes', 'TEXT'],
        ] as const) {
          if (sentColumns.some((c) => c.name === column)) continue;
          try {
            db.exec(`ALTER TABLE sent_bundles ADD COLUMN ${column} ${type}`);
          } catch (error) {
            if (!String(error).includes('duplicate column')) throw error;
          }
        }
      },
      5000,
    );
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

  /** Counts one resend request received for a stream (before it is served). */
  noteResendRequest(stream: string, at: string): void {
    this.db
      .prepare(
        `INSERT INTO resend_counts (stream, requests, resent, last_request_at) VALUES (?, 1, 0, ?)
         ON CONFLICT (stream) DO UPDATE SET requests = requests + 1, last_request_at = excluded.last_request_at`,
      )
      .run(stream, at);
  }

  /** Counts one bundle re-published into the outbox by a resend request. */
  noteResent(stream: string): void {
    this.db
      .prepare(
        `INSERT INTO resend_counts (stream, requests, resent) VALUES (?, 0, 1)
         ON CONFLICT (stream) DO UPDATE SET resent = resent + 1`,
      )
      .run(stream);
  }

  /**
   * Records sequences a bank asked for whose kept copies are gone (a gap that left retention). A
   * sequence reported again after a repair is open again (its placeholder was lost too).
   */
  noteRetentionGaps(stream: string, ranges: readonly (readonly [number, number])[], at: string): void {
    const upsert = this.db.prepare(
      `INSERT INTO retention_gaps (stream, sequence, first_reported_at, last_reported_at, reports)
       VALUES (?, ?, ?, ?, 1)
       ON CONFLICT (stream, sequence) DO UPDATE SET last_reported_at = excluded.last_reported_at,
         reports = reports + 1, repaired_at = NULL`,
    );
    this.db.transaction(() => {
      for (const [from, to] of ranges) for (let s = from; s <= to; s++) upsert.run(stream, s, at, at);
    })();
  }

  /**
   * Reported gaps still open: not repaired and above the bank's acknowledged mark (a bank that
   * acknowledged a sequence has it, whatever it reported before). With the sent record of each.
   */
  openRetentionGaps(
    stream: string,
  ): { sequence: number; bundleId: string | null; file: string | null; pruned: number | null }[] {
    return this.db
      .prepare(
        `SELECT g.sequence AS sequence, b.bundle_id AS bundleId, b.file AS file, b.pruned AS pruned
         FROM retention_gaps g LEFT JOIN sent_bundles b ON b.stream = g.stream AND b.sequence = g.sequence
         WHERE g.stream = ? AND g.repaired_at IS NULL
           AND g.sequence > COALESCE((SELECT acknowledged FROM reverse_acks a WHERE a.stream = g.stream), 0)
         ORDER BY g.sequence`,
      )
      .all(stream) as {
      sequence: number;
      bundleId: string | null;
      file: string | null;
      pruned: number | null;
    }[];
  }

  /** Closes a reported gap without a placeholder (its copy is kept again, so a resend serves it). */
  resolveRetentionGap(stream: string, sequence: number, at: string): void {
    this.db
      .prepare('UPDATE retention_gaps SET repaired_at = ? WHERE stream = ? AND sequence = ?')
      .run(at, stream, sequence);
  }

  /**
   * Replaces the record of a sent bundle whose copy left retention with a sealed placeholder (an
   * empty bundle under the same sequence, issue 6) and closes the reported gap, in one transaction.
   * The lost bundle's id is kept in `supersedes`; the placeholder is kept and served like any bundle.
   * Returns false (and changes nothing) when the stream has no such sequence.
   */
  recordPlaceholder(
    placeholder: Omit<SentBundle, 'published' | 'rowCount'>,
    snapshot: { from: number; to: number } | undefined,
  ): boolean {
    return this.db.transaction(() => {
      const changed = this.db
        .prepare(
          `UPDATE sent_bundles SET supersedes = COALESCE(supersedes, bundle_id), bundle_id = @bundleId,
             file = @file, row_count = 0, bytes = @bytes, digest = @digest, published = 0, pruned = 0,
             created_at = @createdAt
           WHERE stream = @stream AND sequence = @sequence`,
        )
        .run(placeholder).changes;
      if (changed !== 1) return false;
      this.db
        .prepare(
          `UPDATE retention_gaps SET repaired_at = ?, placeholder_bundle_id = ?, snapshot_from = ?, snapshot_to = ?
           WHERE stream = ? AND sequence = ?`,
        )
        .run(
          placeholder.createdAt,
          placeholder.bundleId,
          snapshot?.from ?? null,
          snapshot?.to ?? null,
          placeholder.stream,
          placeholder.sequence,
        );
      return true;
    })();
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

  /**
   * The reverse-lane picture of one stream (issue 6), from counters and keyed lookups only, so status
   * stays cheap on long streams.
   */
  reverseLaneStatus(stream: string, latest: number, now: Date): ReverseLaneStatus {
    const acknowledged = this.acknowledged(stream);
    const counts = this.db
      .prepare(
        'SELECT requests, resent, last_request_at AS lastRequestAt FROM resend_counts WHERE stream = ?',
      )
      .get(stream) as { requests: number; resent: number; lastRequestAt: string | null } | undefined;
    // The oldest bundle not acknowledged is the one right after the acknowledged mark.
    const oldest = this.db
      .prepare('SELECT created_at AS createdAt FROM sent_bundles WHERE stream = ? AND sequence = ?')
      .get(stream, acknowledged + 1) as { createdAt: string } | undefined;
    const open: [number, number][] = [];
    for (const { sequence } of this.openRetentionGaps(stream)) {
      const last = open.at(-1);
      if (last && last[1] === sequence - 1) last[1] = sequence;
      else open.push([sequence, sequence]);
    }
    const repaired = this.db
      .prepare(
        'SELECT COUNT(*) AS n FROM retention_gaps WHERE stream = ? AND repaired_at IS NOT NULL AND placeholder_bundle_id IS NOT NULL',
      )
      .get(stream) as { n: number };
    return {
      unacknowledged: Math.max(0, latest - acknowledged),
      oldestUnacknowledgedSeconds:
        latest > acknowledged && oldest
          ? Math.max(0, Math.round((now.getTime() - Date.parse(oldest.createdAt)) / 1000))
          : null,
      resendRequests: counts?.requests ?? 0,
      resent: counts?.resent ?? 0,
      lastResendRequestAt: counts?.lastRequestAt ?? null,
      retentionGaps: open,
      retentionGapsRepaired: repaired.n,
    };
  }

  streams(now: Date = new Date()): (StreamState &
    ReverseLaneStatus & {
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
      return {
        ...s,
        ...totals,
        acknowledged: this.acknowledged(s.stream),
        ...runs,
        lastRun,
        ...this.reverseLaneStatus(s.stream, s.nextSequence - 1, now),
      };
    });
  }
}
