// A streaming parser for delimited files (CSV/TSV) that works on bytes, so that decoding stays strict
// and per field: an invalid byte sequence rejects one row instead of corrupting the file (design 3).
// Quotes, doubled quotes, CRLF and line breaks inside quoted fields are handled. Delimiters, quotes and
// line breaks are ASCII below 0x40, which never occur inside a GBK or GB18030 multi-byte sequence
// (trail bytes are 0x30-0x39 or 0x40-0xFE), so splitting before decoding is safe for those encodings.

export interface CsvOptions {
  /** One ASCII character below 0x40 (',' or '\t' or ';'); see the module comment. */
  delimiter: string;
  /** Largest record accepted, in bytes; a longer one is a malformed file (memory stays bounded). */
  maxRecordBytes?: number;
}

export interface CsvRecord {
  fields: Buffer[];
  /** Line number (1-based) where the record starts. */
  line: number;
  /** The record's raw bytes (at most 4 KiB of them), for reject files. */
  raw: Buffer;
  /** Set when the record is malformed (text after a closing quote, unterminated quote). */
  problem?: string;
}

const QUOTE = 0x22;
const CR = 0x0d;
const LF = 0x0a;
const RAW_LIMIT = 4096;

type Parsed = { fields: Buffer[]; next: number; lines: number; problem?: string } | 'incomplete';

export function csvDelimiterProblem(delimiter: string): string | undefined {
  if (delimiter.length !== 1) return 'the delimiter must be a single character';
  const code = delimiter.charCodeAt(0);
  if (code >= 0x40 || code === QUOTE || code === CR || code === LF) {
    return 'the delimiter must be an ASCII character below 0x40 (such as , ; or a tab), so it never occurs inside a GBK/GB18030 character';
  }
  return undefined;
}

function parseRecord(buf: Buffer, start: number, delimiter: number, eof: boolean): Parsed {
  const fields: Buffer[] = [];
  let i = start;
  let lines = 0;
  let problem: string | undefined;
  for (;;) {
    let field: Buffer;
    if (buf[i] === QUOTE) {
      const parts: Buffer[] = [];
      let j = i + 1;
      for (;;) {
        const q = buf.indexOf(QUOTE, j);
        if (q === -1) {
          if (!eof) return 'incomplete';
          problem = 'unterminated quoted field';
          parts.push(buf.subarray(j));
          i = buf.length;
          break;
        }
        if (q + 1 >= buf.length && !eof) return 'incomplete';
        parts.push(buf.subarray(j, q));
        if (buf[q + 1] === QUOTE) {
          parts.push(Buffer.of(QUOTE));
          j = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      field = parts.length === 1 ? (parts[0] ?? Buffer.alloc(0)) : Buffer.concat(parts);
      for (const part of parts) for (let k = 0; k < part.length; k++) if (part[k] === LF) lines++;
      const after = buf[i];
      if (i < buf.length && after !== delimiter && after !== CR && after !== LF) {
        problem ??= 'text after a closing quote';
        while (i < buf.length && buf[i] !== delimiter && buf[i] !== LF && buf[i] !== CR) i++;
        if (i >= buf.length && !eof) return 'incomplete';
      }
    } else {
      let k = i;
      while (k < buf.length) {
        const b = buf[k];
        if (b === delimiter || b === CR || b === LF) break;
        k++;
      }
      if (k >= buf.length && !eof) return 'incomplete';
      field = buf.subarray(i, k);
      i = k;
    }
    fields.push(field);
    if (i >= buf.length) return { fields, next: i, lines, ...(problem ? { problem } : {}) };
    const b = buf[i];
    if (b === delimiter) {
      i++;
      if (i >= buf.length && !eof) return 'incomplete';
      continue;
    }
    if (b === CR) {
      if (i + 1 >= buf.length && !eof) return 'incomplete';
      i += buf[i + 1] === LF ? 2 : 1;
    } else {
      i++;
    }
    return { fields, next: i, lines: lines + 1, ...(problem ? { problem } : {}) };
  }
}

/** Splits a byte stream into records; blank lines are skipped. Memory is bounded by one record. */
export async function* parseCsv(
  chunks: AsyncIterable<Uint8Array>,
  options: CsvOptions,
): AsyncGenerator<CsvRecord> {
  const delimiterProblem = csvDelimiterProblem(options.delimiter);
  if (delimiterProblem) throw new RangeError(delimiterProblem);
  const delimiter = options.delimiter.charCodeAt(0);
  const maxRecord = options.maxRecordBytes ?? 4 * 1024 * 1024;
  let carry: Buffer = Buffer.alloc(0);
  let line = 1;
  const drain = function* (buf: Buffer, eof: boolean): Generator<CsvRecord, number> {
    let pos = 0;
    while (pos < buf.length) {
      if (buf[pos] === LF || buf[pos] === CR) {
        // A blank line.
        if (buf[pos] === CR && pos + 1 >= buf.length && !eof) break;
        if (buf[pos] === LF) line++;
        else if (buf[pos + 1] === LF) {
          pos++;
          line++;
        } else line++;
        pos++;
        continue;
      }
      const parsed = parseRecord(buf, pos, delimiter, eof);
      if (parsed === 'incomplete') break;
      const raw = buf.subarray(pos, Math.min(parsed.next, pos + RAW_LIMIT));
      yield { fields: parsed.fields, line, raw, ...(parsed.problem ? { problem: parsed.problem } : {}) };
      line += parsed.lines;
      pos = parsed.next;
    }
    return pos;
  };
  for await (const chunk of chunks) {
    const buf =
      carry.length === 0
        ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
        : Buffer.concat([carry, chunk]);
    const consumed = yield* drain(buf, false);
    // Fields are views into buf; copying the tail keeps the retained memory to one partial record.
    carry = Buffer.from(buf.subarray(consumed));
    if (carry.length > maxRecord) {
      throw new RangeError(`a record starting at line ${line} is longer than ${maxRecord} bytes`);
    }
  }
  if (carry.length > 0) yield* drain(carry, true);
}
