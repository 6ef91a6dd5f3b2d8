// A SourceReader reads one table in (watermark, key) order after a cursor, in batches, streaming.
import type { SourceValue } from '../../shared/mapping.js';

export interface Cursor {
  watermark: string;
  key: SourceValue[];
}

export interface BatchQuery {
  table: string;
  columns: string[];
  watermark: string;
  key: string[];
  after: Cursor | null;
  /** Only rows whose watermark is at most this value (now minus the safety lag), in source format. */
  upTo: string;
  limit: number;
}

export interface SourceReader {
  readonly description: string;
  /** Column names of a table as the source reports them (for drift checks and mapping checks). */
  columns(table: string): string[];
  /** Rows ordered by (watermark, key...) strictly after the cursor. */
  readBatch(query: BatchQuery): Iterable<Record<string, SourceValue>>;
  close(): void;
}

/** Quotes an identifier for SQL; configuration already restricts names to plain identifiers. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
