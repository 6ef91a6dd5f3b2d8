// Delimited-file government source (CSV/TSV in UTF-8, GBK or GB18030). Columns are taken from the
// header row by name, never by position. Bytes are split into records first and each field decoded
// strictly on its own, so an invalid sequence rejects one row with its raw bytes, never the file.
// A file has no index: snapshots stream it in file order; incremental reads (when the file carries a
// watermark column) scan it and keep the smallest `limit` rows after the cursor, so memory stays
// bounded by the page size whatever the file size.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { byteOrderMark, strictDecoder, InvalidText } from '../../shared/charset.js';
import { parseCsv, type CsvRecord } from '../../shared/csv.js';
import { SourceError } from '../../shared/errors.js';
import type { SourceValue } from '../../shared/mapping.js';
import {
  ROW_PROBLEM,
  ROW_WHERE,
  type KeysetQuery,
  type ReadRow,
  type ScanQuery,
  type SourceColumn,
  type SourceReader,
} from './source-reader.js';

export interface CsvSourceOptions {
  path: string;
  encoding: string;
  delimiter: string;
  /** Text that stands for NULL (besides an empty field, which is always NULL for nullable columns). */
  nullText?: string | undefined;
}

// Values read from a file are text (or InvalidText, which never reaches a comparison).
const textOf = (value: SourceValue): string => (typeof value === 'string' ? value : '');

function compareValues(a: SourceValue, b: SourceValue): number {
  const x = textOf(a);
  const y = textOf(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function compareTuples(a: SourceValue[], b: SourceValue[]): number {
  for (let i = 0; i < a.length; i++) {
    const c = compareValues(a[i] ?? null, b[i] ?? null);
    if (c !== 0) return c;
  }
  return 0;
}

export class CsvSource implements SourceReader {
  readonly description: string;
  private readonly decoder;

  constructor(private readonly options: CsvSourceOptions) {
    this.description = `${options.encoding} file ${options.path}`;
    this.decoder = strictDecoder(options.encoding);
  }

  private async *records(): AsyncGenerator<CsvRecord> {
    try {
      await stat(this.options.path);
    } catch (error) {
      throw new SourceError('SOURCE_CONNECT', 'Cannot open the delimited file', {
        where: this.options.path,
        hint: 'Check the path under sources in the configuration and the file permissions',
        cause: error,
      });
    }
    const bom = byteOrderMark(this.options.encoding);
    let first = true;
    const stream = createReadStream(this.options.path, { highWaterMark: 256 * 1024 });
    async function* withoutBom(): AsyncGenerator<Uint8Array> {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        if (first && bom && chunk.subarray(0, bom.length).equals(bom)) {
          first = false;
          yield chunk.subarray(bom.length);
          continue;
        }
        first = false;
        yield chunk;
      }
    }
    yield* parseCsv(withoutBom(), { delimiter: this.options.delimiter });
  }

  private header(record: CsvRecord | undefined): string[] {
    if (!record) {
      throw new SourceError('SOURCE_SCHEMA', 'The file is empty: no header row', {
        where: this.options.path,
        hint: 'A delimited source needs a header row naming its columns',
      });
    }
    const names = record.fields.map((f) => this.decoder.decode(f));
    const bad = names.findIndex((n) => n instanceof InvalidText);
    if (bad !== -1 || record.problem) {
      throw new SourceError('SOURCE_DECODE', `The header row is not valid ${this.options.encoding} text`, {
        where: `${this.options.path} line ${record.line}, column ${bad + 1}`,
        hint: 'Check the encoding stated for this source',
      });
    }
    return (names as string[]).map((n) => n.trim());
  }

  async describe(_table: string): Promise<SourceColumn[]> {
    const records = this.records();
    try {
      const first = await records.next();
      return this.header(first.done ? undefined : first.value).map((name) => ({ name, type: 'text' }));
    } finally {
      await records.return(undefined);
    }
  }

  private toRow(record: CsvRecord, header: string[], wanted: Set<string>): ReadRow {
    const row: ReadRow = {};
    row[ROW_WHERE] = `${this.options.path} line ${record.line}`;
    if (record.problem || record.fields.length !== header.length) {
      row[ROW_PROBLEM] = {
        rule: 'record',
        reason: record.problem ?? `${record.fields.length} fields where the header has ${header.length}`,
        raw: `hex:${record.raw.toString('hex')}`,
      };
      return row;
    }
    for (let i = 0; i < header.length; i++) {
      const name = header[i] ?? '';
      if (!wanted.has(name)) continue;
      const field = record.fields[i];
      const value = field === undefined || field.length === 0 ? null : this.decoder.decode(field);
      row[name] = value === this.options.nullText ? null : value;
    }
    return row;
  }

  private checkColumns(header: string[], wanted: Set<string>): void {
    const missing = [...wanted].filter((c) => !header.includes(c));
    if (missing.length > 0) {
      throw new SourceError('SOURCE_SCHEMA', `Column(s) ${missing.join(', ')} not in the header row`, {
        where: this.options.path,
        hint: `The header names: ${header.join(', ')}`,
      });
    }
  }

  async *scan(query: ScanQuery): AsyncGenerator<ReadRow[]> {
    const wanted = new Set([...query.columns, ...query.key]);
    let header: string[] | undefined;
    let batch: ReadRow[] = [];
    for await (const record of this.records()) {
      if (!header) {
        header = this.header(record);
        this.checkColumns(header, wanted);
        continue;
      }
      batch.push(this.toRow(record, header, wanted));
      if (batch.length >= query.batchSize) {
        yield batch;
        batch = [];
      }
    }
    if (!header) this.header(undefined);
    if (batch.length > 0) yield batch;
  }

  async readAfter(query: KeysetQuery): Promise<ReadRow[]> {
    const wanted = new Set([...query.columns, ...query.order]);
    let header: string[] | undefined;
    let kept: { tuple: SourceValue[]; row: ReadRow }[] = [];
    const trim = (): void => {
      kept.sort((a, b) => compareTuples(a.tuple, b.tuple));
      kept = kept.slice(0, query.limit);
    };
    for await (const record of this.records()) {
      if (!header) {
        header = this.header(record);
        this.checkColumns(header, wanted);
        continue;
      }
      const row = this.toRow(record, header, wanted);
      // A malformed record cannot be placed in watermark order; a snapshot export reports it.
      if (row[ROW_PROBLEM]) continue;
      const tuple = query.order.map((c) => row[c] ?? null);
      if (tuple.some((v) => v === null || v instanceof InvalidText)) continue;
      if (query.upTo !== undefined && compareValues(tuple[0] ?? null, query.upTo) > 0) continue;
      if (query.after && compareTuples(tuple, query.after) <= 0) continue;
      kept.push({ tuple, row });
      if (kept.length >= query.limit * 2) trim();
    }
    if (!header) this.header(undefined);
    trim();
    return kept.map((k) => k.row);
  }

  async close(): Promise<void> {
    // Nothing held open between reads.
  }
}
