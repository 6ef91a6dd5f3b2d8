// What the outer node knows about itself, gathered for the metrics file, the HTML report and the
// doctor (issue 8): certificates and their expiry, rejected rows per stream, decisions per outcome.
// Read-only: every reader here opens what it reads for reading, and a missing file is "nothing yet".
import Database from 'better-sqlite3';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export { nodeCertificates, type CertificateExpiry } from '../crypto/index.js';

export interface RejectTally {
  /** Rejected rows per stream, since the reject folder began. */
  perStream: Map<string, number>;
  /** Rejected rows per reason ('column: reason'), in files written at or after `since`. */
  perReason: Map<string, number>;
}

/**
 * Counts the rows in the reject files (rejects/<dataset>/<bundle id>.jsonl, one JSON line per row).
 * Reasons are already masked (no full resident ID number) when import writes them.
 */
export function tallyRejects(rejectsDir: string, since?: Date): RejectTally {
  const tally: RejectTally = { perStream: new Map(), perReason: new Map() };
  let datasets: string[];
  try {
    datasets = readdirSync(rejectsDir);
  } catch {
    return tally;
  }
  for (const dataset of datasets) {
    const dir = join(rejectsDir, dataset);
    let files: string[];
    try {
      files = readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
    } catch {
      continue; // not a folder
    }
    for (const file of files) {
      let text: string;
      let recent = true;
      try {
        const path = join(dir, file);
        if (since) recent = statSync(path).mtimeMs >= since.getTime();
        text = readFileSync(path, 'utf8');
      } catch {
        continue; // removed meanwhile
      }
      for (const line of text.split('\n')) {
        if (line.trim() === '') continue;
        let row: { stream?: unknown; column?: unknown; reason?: unknown };
        try {
          row = JSON.parse(line) as typeof row;
        } catch {
          continue; // a line written by hand; the file is the operator's to read
        }
        const stream = typeof row.stream === 'string' ? row.stream : '(unknown)';
        tally.perStream.set(stream, (tally.perStream.get(stream) ?? 0) + 1);
        if (recent) {
          const text = (v: unknown): string => (typeof v === 'string' ? v : '?');
          const reason = `${text(row.column)}: ${text(row.reason)}`.slice(0, 120);
          tally.perReason.set(reason, (tally.perReason.get(reason) ?? 0) + 1);
        }
      }
    }
  }
  return tally;
}

export interface DecisionTally {
  /** Decisions per outcome (approve, refer, decline). */
  byOutcome: Record<string, number>;
  /** Scores of the decisions that have one. */
  scores: number[];
}

/**
 * Decisions recorded in the lending tables of `dbPath` (decided at or after `since`, when given).
 * Empty when there is no lending database or its tables do not exist yet.
 */
export function tallyDecisions(dbPath: string | undefined, since?: Date, withScores = false): DecisionTally {
  const tally: DecisionTally = { byOutcome: {}, scores: [] };
  if (dbPath === undefined || !existsSync(dbPath)) return tally;
  const db = new Database(dbPath, { readonly: true, fileMustExist: true, timeout: 5000 });
  try {
    const table = db
      .prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'lend_decisions'")
      .get();
    if (!table) return tally;
    const where = since ? 'WHERE decided_at >= ?' : '';
    const params = since ? [since.toISOString()] : [];
    const rows = db
      .prepare(`SELECT decision, COUNT(*) AS n FROM lend_decisions ${where} GROUP BY decision`)
      .all(...params) as { decision: string; n: number }[];
    for (const r of rows) tally.byOutcome[r.decision] = r.n;
    if (withScores) {
      const scores = db
        .prepare(`SELECT score FROM lend_decisions ${where ? `${where} AND` : 'WHERE'} score IS NOT NULL`)
        .all(...params) as { score: number }[];
      tally.scores = scores.map((s) => s.score);
    }
    return tally;
  } finally {
    db.close();
  }
}

/** Missing sequences in status's gap ranges ('7', '9-12'). */
export function gapSequenceCount(gaps: readonly string[]): number {
  let count = 0;
  for (const gap of gaps) {
    const [from, to] = gap.split('-').map(Number);
    if (from === undefined || !Number.isFinite(from)) continue;
    count += to === undefined || !Number.isFinite(to) ? 1 : to - from + 1;
  }
  return count;
}
