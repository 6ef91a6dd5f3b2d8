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
  | 'waiting'
  | 'retrying'
  | 'quarantined'
  | 'duplicate';

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
`;

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
