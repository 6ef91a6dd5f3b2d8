// What the inner node knows about itself, gathered for the metrics file, the HTML report and the
// doctor (issue 8): certificates and their expiry, rows rejected by reason. Read-only; a missing
// folder or file is "nothing yet".
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export { nodeCertificates, type CertificateExpiry } from '../crypto/index.js';

/**
 * Rejected-row reasons ('column: reason') in the reject files written at or after `since`
 * (rejects/<dataset>/<bank>-<time>.jsonl, one JSON line per refused rule). Reasons hold no raw value.
 */
export function rejectReasons(rejectsDir: string, since?: Date): Map<string, number> {
  const tally = new Map<string, number>();
  let datasets: string[];
  try {
    datasets = readdirSync(rejectsDir);
  } catch {
    return tally;
  }
  for (const dataset of datasets) {
    let files: string[];
    try {
      files = readdirSync(join(rejectsDir, dataset)).filter((f) => f.endsWith('.jsonl'));
    } catch {
      continue; // not a folder
    }
    for (const file of files) {
      let text: string;
      try {
        const path = join(rejectsDir, dataset, file);
        if (since && statSync(path).mtimeMs < since.getTime()) continue;
        text = readFileSync(path, 'utf8');
      } catch {
        continue; // removed meanwhile
      }
      for (const line of text.split('\n')) {
        if (line.trim() === '') continue;
        let row: { column?: unknown; rule?: unknown; reason?: unknown };
        try {
          row = JSON.parse(line) as typeof row;
        } catch {
          continue; // a line written by hand
        }
        const field = (v: unknown): string => (typeof v === 'string' ? v : '?');
        const column = typeof row.column === 'string' ? row.column : field(row.rule);
        const reason = `${column}: ${field(row.reason)}`.slice(0, 120);
        tally.set(reason, (tally.get(reason) ?? 0) + 1);
      }
    }
  }
  return tally;
}
