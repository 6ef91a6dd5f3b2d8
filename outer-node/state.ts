// The outer node's state database: the task table an operator reads (received, claimed, verified,
// loaded, retrying, quarantined, duplicate) with a readable reason. The ledger that makes import
// exactly-once lives in the target database, not here.
import type Database from 'better-sqlite3';
import { openStateDatabase } from '../shared/state-database.js';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export type TaskState =
  | 'received'
  | 'claimed'
  | 'verified'
  | 'loaded'
  | 'acked'
  | 'waiting'
  | 'retrying'
  | 'quarantined'
  | 'duplicate'
  | 'dropped';

export interface TaskRecord {
  file: string;
  bundleId: string | null;
  stream: string | null;
  sequence: number | null;
  state: TaskState;
  reason: string | null;
  rows: number | null;
  attempts: number;
  updatedAt: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tasks (
  file TEXT PRIMARY KEY,
  bundle_id TEXT,
  stream TEXT,
  sequence INTEGER,
  state TEXT NOT NULL,
  reason TEXT,
  rows INTEGER,
  attempts INTEGER NOT NULL DEFAULT 0,
  updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_state ON tasks (state);
-- Transient failures, per bundle: when the next attempt is due (exponential backoff with jitter).
CREATE TABLE IF NOT EXISTS retries (
  bundle_id TEXT PRIMARY KEY,
  stream TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  reason TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
-- The latest catalogue entry per stream (issue 6): what the inner node says it has sent and kept.
CREATE TABLE IF NOT EXISTS catalogue (
  stream TEXT PRIMARY KEY,
  sender TEXT NOT NULL,
  catalogue_stream TEXT NOT NULL,
  catalogue_sequence INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  latest INTEGER NOT NULL,
  oldest_retained INTEGER NOT NULL,
  received_at TEXT NOT NULL
);
-- Gaps the inner node can no longer resend (they left its retention): they need a snapshot export.
CREATE TABLE IF NOT EXISTS retention_gaps (
  stream TEXT PRIMARY KEY,
  from_sequence INTEGER NOT NULL,
  to_sequence INTEGER NOT NULL,
  oldest_retained INTEGER NOT NULL,
  noted_at TEXT NOT NULL
);
-- What this node said over the reverse lane, per stream (issue 6): acks sent up to, and resend
-- requests sent. Counters, so status never has to count messages.
CREATE TABLE IF NOT EXISTS reverse_sent (
  stream TEXT PRIMARY KEY,
  acked_up_to INTEGER NOT NULL DEFAULT 0,
  acked_at TEXT,
  acks INTEGER NOT NULL DEFAULT 0,
  requests INTEGER NOT NULL DEFAULT 0,
  requested_sequences INTEGER NOT NULL DEFAULT 0,
  last_request_from INTEGER,
  last_request_to INTEGER,
  last_request_at TEXT
);
`;

export interface RetryRecord {
  bundleId: string;
  stream: string;
  sequence: number;
  attempts: number;
  nextAttemptAt: number;
  reason: string;
}

export interface CatalogueRecord {
  stream: string;
  sender: string;
  catalogueStream: string;
  catalogueSequence: number;
  createdAt: string;
  latest: number;
  oldestRetained: number;
}

export interface RetentionGap {
  stream: string;
  from: number;
  to: number;
  /** The missing sequences below the inner node's oldest kept one, as text: 2, 7-9. */
  ranges?: string;
  oldestRetained: number;
  notedAt: string;
}

/** Per stream: what this node sent over the reverse lane (issue 6). */
export interface ReverseSent {
  stream: string;
  /** Highest sequence acknowledged (every sequence up to it is applied). */
  ackedUpTo: number;
  ackedAt: string | null;
  acks: number;
  /** Resend requests sent, and how many sequences they asked for in all. */
  requests: number;
  requestedSequences: number;
  lastRequest: { from: number; to: number; at: string } | null;
}

export class OuterState {
  readonly db: Database.Database;

  constructor(stateDir: string) {
    mkdirSync(stateDir, { recursive: true });
    // Retried as a whole while another process is creating the same fresh database (SQLITE_BUSY).
    this.db = openStateDatabase(join(stateDir, 'outer-state.db'), (db) => {
      db.pragma('journal_mode = WAL');
      db.exec(SCHEMA);
      const gapColumns = db.prepare('SELECT name FROM pragma_table_info(?)').all('retention_gaps') as {
        name: string;
      }[];
      if (!gapColumns.some((c) => c.name === 'ranges')) {
        // Two processes opening an old database at once may both add it: the loser's error is harmless.
        try {
          db.exec('ALTER TABLE retention_gaps ADD COLUMN ranges TEXT');
        } catch (error) {
          if (!String(error).includes('duplicate column')) throw error;
        }
      }
    });
  }

  record(task: Omit<TaskRecord, 'attempts' | 'updatedAt'> & { attempt?: boolean }): void {
    this.db
      .prepare(
        `INSERT INTO tasks (file, bundle_id, stream, sequence, state, reason, rows, attempts, updated_at)
         VALUES (@file, @bundleId, @stream, @sequence, @state, @reason, @rows, @attempts, @updatedAt)
         ON CONFLICT (file) DO UPDATE SET bundle_id = COALESCE(excluded.bundle_id, bundle_id),
           stream = COALESCE(excluded.stream, stream), sequence = COALESCE(excluded.sequence, sequence),
           state = excluded.state, reason = excluded.reason, rows = COALESCE(excluded.rows, rows),
           attempts = attempts + excluded.attempts, updated_at = excluded.updated_at`,
      )
      .run({
        file: task.file,
        bundleId: task.bundleId,
        stream: task.stream,
        sequence: task.sequence,
        state: task.state,
        reason: task.reason,
        rows: task.rows,
        attempts: task.attempt ? 1 : 0,
        updatedAt: new Date().toISOString(),
      });
  }

  /** Records a transient failure; returns the attempt number (1 for the first failure). */
  recordRetry(
    entry: Omit<RetryRecord, 'attempts' | 'nextAttemptAt'>,
    delayFor: (attempt: number) => number,
    nowMs: number,
  ): RetryRecord {
    const previous = this.retry(entry.bundleId);
    const attempts = (previous?.attempts ?? 0) + 1;
    const nextAttemptAt = nowMs + delayFor(attempts);
    this.db
      .prepare(
        `INSERT INTO retries (bundle_id, stream, sequence, attempts, next_attempt_at, reason, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (bundle_id) DO UPDATE SET attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at,
           reason = excluded.reason, updated_at = excluded.updated_at`,
      )
      .run(
        entry.bundleId,
        entry.stream,
        entry.sequence,
        attempts,
        nextAttemptAt,
        entry.reason,
        new Date(nowMs).toISOString(),
      );
    return { ...entry, attempts, nextAttemptAt };
  }

  retry(bundleId: string): RetryRecord | undefined {
    return this.db
      .prepare(
        `SELECT bundle_id AS bundleId, stream, sequence, attempts, next_attempt_at AS nextAttemptAt, reason FROM retries WHERE bundle_id = ?`,
      )
      .get(bundleId) as RetryRecord | undefined;
  }

  retries(): RetryRecord[] {
    return this.db
      .prepare(
        `SELECT bundle_id AS bundleId, stream, sequence, attempts, next_attempt_at AS nextAttemptAt, reason FROM retries ORDER BY stream, sequence`,
      )
      .all() as RetryRecord[];
  }

  clearRetry(bundleId: string): void {
    this.db.prepare('DELETE FROM retries WHERE bundle_id = ?').run(bundleId);
  }

  /** Notes a file the first time it is seen in the inbox (state received), without touching later states. */
  noteReceived(file: string): void {
    this.db
      .prepare(
        `INSERT INTO tasks (file, state, attempts, updated_at) VALUES (?, 'received', 0, ?) ON CONFLICT (file) DO NOTHING`,
      )
      .run(file, new Date().toISOString());
  }

  counts(): Record<string, number> {
    const rows = this.db.prepare('SELECT state, COUNT(*) AS n FROM tasks GROUP BY state').all() as {
      state: string;
      n: number;
    }[];
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  list(state?: TaskState): TaskRecord[] {
    const sql = `SELECT file, bundle_id AS bundleId, stream, sequence, state, reason, rows, attempts, updated_at AS updatedAt
                 FROM tasks ${state ? 'WHERE state = ?' : ''} ORDER BY updated_at`;
    const statement = this.db.prepare(sql);
    return (state ? statement.all(state) : statement.all()) as TaskRecord[];
  }

  /** Forgets a file's task row (catalogues are recorded in their own table, not as tasks). */
  forget(file: string): void {
    this.db.prepare('DELETE FROM tasks WHERE file = ?').run(file);
  }

  /**
   * Records a catalogue's entries; an entry replaces the stored one only when it comes from a newer
   * catalogue (higher sequence or later creation). Returns how many entries were taken.
   */
  recordCatalogue(entries: CatalogueRecord[], receivedAt: string): number {
    const upsert = this.db.prepare(
      `INSERT INTO catalogue (stream, sender, catalogue_stream, catalogue_sequence, created_at, latest, oldest_retained, received_at)
       VALUES (@stream, @sender, @catalogueStream, @catalogueSequence, @createdAt, @latest, @oldestRetained, @receivedAt)
       ON CONFLICT (stream) DO UPDATE SET sender = excluded.sender, catalogue_stream = excluded.catalogue_stream,
         catalogue_sequence = excluded.catalogue_sequence, created_at = excluded.created_at, latest = excluded.latest,
         oldest_retained = excluded.oldest_retained, received_at = excluded.received_at
       WHERE (excluded.catalogue_stream = catalogue.catalogue_stream AND excluded.catalogue_sequence > catalogue.catalogue_sequence)
          OR excluded.created_at > catalogue.created_at`,
    );
    return this.db.transaction(() => {
      let taken = 0;
      for (const entry of entries) taken += upsert.run({ ...entry, receivedAt }).changes;
      return taken;
    })();
  }

  catalogues(): CatalogueRecord[] {
    return this.db
      .prepare(
        `SELECT stream, sender, catalogue_stream AS catalogueStream, catalogue_sequence AS catalogueSequence,
                created_at AS createdAt, latest, oldest_retained AS oldestRetained FROM catalogue ORDER BY stream`,
      )
      .all() as CatalogueRecord[];
  }

  noteRetentionGap(gap: Omit<RetentionGap, 'notedAt'>, notedAt: string): void {
    this.db
      .prepare(
        `INSERT INTO retention_gaps (stream, from_sequence, to_sequence, oldest_retained, noted_at, ranges) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (stream) DO UPDATE SET from_sequence = excluded.from_sequence, to_sequence = excluded.to_sequence,
           oldest_retained = excluded.oldest_retained, noted_at = excluded.noted_at, ranges = excluded.ranges`,
      )
      .run(gap.stream, gap.from, gap.to, gap.oldestRetained, notedAt, gap.ranges ?? null);
  }

  /** Records an ack sent: the mark never falls (a late, smaller one changes nothing). */
  noteAckSent(stream: string, upTo: number, at: string): void {
    this.db
      .prepare(
        `INSERT INTO reverse_sent (stream, acked_up_to, acked_at, acks) VALUES (?, ?, ?, 1)
         ON CONFLICT (stream) DO UPDATE SET acked_up_to = MAX(acked_up_to, excluded.acked_up_to),
           acked_at = excluded.acked_at, acks = acks + 1`,
      )
      .run(stream, upTo, at);
  }

  /** Records a resend request sent for sequences from..to. */
  noteResendRequested(stream: string, from: number, to: number, at: string): void {
    this.db
      .prepare(
        `INSERT INTO reverse_sent (stream, requests, requested_sequences, last_request_from, last_request_to, last_request_at)
         VALUES (@stream, 1, @count, @from, @to, @at)
         ON CONFLICT (stream) DO UPDATE SET requests = requests + 1,
           requested_sequences = requested_sequences + excluded.requested_sequences,
           last_request_from = excluded.last_request_from, last_request_to = excluded.last_request_to,
           last_request_at = excluded.last_request_at`,
      )
      .run({ stream, count: to - from + 1, from, to, at });
  }

  reverseSent(): ReverseSent[] {
    return (
      this.db
        .prepare(
          `SELECT stream, acked_up_to AS ackedUpTo, acked_at AS ackedAt, acks, requests,
                  requested_sequences AS requestedSequences, last_request_from AS lastFrom,
                  last_request_to AS lastTo, last_request_at AS lastAt
           FROM reverse_sent ORDER BY stream`,
        )
        .all() as (Omit<ReverseSent, 'lastRequest'> & {
        lastFrom: number | null;
        lastTo: number | null;
        lastAt: string | null;
      })[]
    ).map(({ lastFrom, lastTo, lastAt, ...rest }) => ({
      ...rest,
      lastRequest:
        lastFrom !== null && lastTo !== null && lastAt !== null
          ? { from: lastFrom, to: lastTo, at: lastAt }
          : null,
    }));
  }

  clearRetentionGap(stream: string): void {
    this.db.prepare('DELETE FROM retention_gaps WHERE stream = ?').run(stream);
  }

  retentionGaps(): RetentionGap[] {
    const gaps = this.db
      .prepare(
        `SELECT stream, from_sequence AS "from", to_sequence AS "to", ranges, oldest_retained AS oldestRetained, noted_at AS notedAt
         FROM retention_gaps ORDER BY stream`,
      )
      .all() as (RetentionGap & { ranges: string | null })[];
    return gaps.map(({ ranges, ...gap }) => (ranges === null ? gap : { ...gap, ranges }));
  }

  close(): void {
    this.db.close();
  }
}
