// The outer node's state database: the task table an operator reads (received, claimed, verified,
// loaded, retrying, quarantined, duplicate) with a readable reason. The ledger that makes import
// exactly-once lives in the target database, not here.
import Database from 'better-sqlite3';
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
`;

export interface RetryRecord {
  bundleId: string;
  stream: string;
  sequence: number;
  attempts: number;
  nextAttemptAt: number;
  reason: string;
}

export class OuterState {
  readonly db: Database.Database;

  constructor(stateDir: string) {
    mkdirSync(stateDir, { recursive: true });
    this.db = new Database(join(stateDir, 'outer-state.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 10000');
    this.db.exec(SCHEMA);
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

  close(): void {
    this.db.close();
  }
}
