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
`;

export class InnerState {
  readonly db: Database.Database;

  constructor(stateDir: string) {
    mkdirSync(stateDir, { recursive: true });
    this.db = new Database(join(stateDir, 'inner-state.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
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

  /** Records a sealed bundle and advances the stream's cursor and sequence in one transaction. */
  recordSealed(bundle: Omit<SentBundle, 'published'>, cursorWatermark: string | null, cursorKey: string | null): void {
    this.db.transaction(() => {
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

  streams(): (StreamState & { bundles: number; rows: number; lastRun: RunRecord | undefined })[] {
    const streams = this.db
      .prepare(
        'SELECT stream, bank, dataset, next_sequence AS nextSequence, cursor_watermark AS cursorWatermark, cursor_key AS cursorKey FROM streams ORDER BY stream',
      )
      .all() as StreamState[];
    return streams.map((s) => {
      const totals = this.db
        .prepare('SELECT COUNT(*) AS bundles, COALESCE(SUM(row_count), 0) AS rows FROM sent_bundles WHERE stream = ?')
        .get(s.stream) as { bundles: number; rows: number };
      const lastRun = this.db
        .prepare(
          `SELECT dataset, bank, started_at AS startedAt, finished_at AS finishedAt, rows, rejects, bundles, status, message
           FROM runs WHERE dataset = ? AND bank = ? ORDER BY id DESC LIMIT 1`,
        )
        .get(s.dataset, s.bank) as RunRecord | undefined;
      return { ...s, ...totals, lastRun };
    });
  }
}
