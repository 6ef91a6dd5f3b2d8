// The plaintext inside a bundle: UTF-8 JSON lines. Line 1 is the preamble (dataset, contract
// fingerprint, kind, column names); every further line is one row as a JSON array in that column
// order. JSON escapes newlines inside strings, so a line break always ends a row; that keeps both
// encoding and decoding streaming with memory bounded by one line.
import { BundleError } from './errors.js';
import type { ContractValue } from './mapping.js';

export interface PayloadPreamble {
  dataset: string;
  contract: string;
  kind: 'rows' | 'tombstones';
  columns: string[];
}

/** Longest line accepted when decoding; a longer one means a malformed or hostile payload. */
export const MAX_PAYLOAD_LINE_BYTES = 4 * 1024 * 1024;
const CHUNK_BYTES = 256 * 1024;

/** Encodes a preamble and rows into chunks of about 256 KiB of UTF-8 JSON lines. */
export async function* encodePayload(
  preamble: PayloadPreamble,
  rows: AsyncIterable<ContractValue[]> | Iterable<ContractValue[]>,
): AsyncGenerator<Buffer> {
  let pending = `${JSON.stringify(preamble)}\n`;
  for await (const row of rows) {
    pending += `${JSON.stringify(row)}\n`;
    if (pending.length >= CHUNK_BYTES) {
      yield Buffer.from(pending, 'utf8');
      pending = '';
    }
  }
  if (pending.length > 0) yield Buffer.from(pending, 'utf8');
}

/** Encodes a preamble and rows already serialised as JSON arrays (one string per row, no newline). */
export function* encodePayloadLines(preamble: PayloadPreamble, lines: readonly string[]): Generator<Buffer> {
  let pending = `${JSON.stringify(preamble)}\n`;
  for (const line of lines) {
    pending += line;
    pending += '\n';
    if (pending.length >= CHUNK_BYTES) {
      yield Buffer.from(pending, 'utf8');
      pending = '';
    }
  }
  if (pending.length > 0) yield Buffer.from(pending, 'utf8');
}

export type PayloadItem = { preamble: PayloadPreamble } | { row: ContractValue[] };

/** Decodes JSON lines from plaintext chunks; refuses malformed lines with the line number. */
export async function* decodePayload(
  chunks: AsyncIterable<Buffer>,
  where: string,
): AsyncGenerator<PayloadItem> {
  for await (const batch of decodePayloadBatches(chunks, where)) {
    if (batch.preamble) yield { preamble: batch.preamble };
    for (const row of batch.rows) yield { row };
  }
}

/** The lines one plaintext chunk completes: the preamble (first batch only) and rows, in order. */
export interface PayloadBatch {
  preamble?: PayloadPreamble;
  rows: ContractValue[][];
}

/**
 * decodePayload, one batch per plaintext chunk (empty batches are skipped). The importer consumes
 * batches, so the per-row cost is a JSON.parse and a type check, not a generator step and a wrapper
 * object per row. On a malformed line the lines before it are yielded first, then the refusal is
 * thrown, as when decoding line by line.
 */
export async function* decodePayloadBatches(
  chunks: AsyncIterable<Buffer>,
  where: string,
): AsyncGenerator<PayloadBatch> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let carry = '';
  let lineNo = 0;
  let preamble: PayloadPreamble | undefined;
  let width = 0;
  /** Parses one line: the preamble first, then rows (into `rows`). */
  const handle = (line: string, batch: PayloadBatch): void => {
    lineNo++;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw invalid(`line ${lineNo} is not valid JSON`, where, error);
    }
    if (!preamble) {
      preamble = checkPreamble(value, where);
      width = preamble.columns.length;
      batch.preamble = preamble;
      return;
    }
    if (!Array.isArray(value) || value.length !== width) {
      throw invalid(`line ${lineNo} is not a row of ${width} values`, where);
    }
    for (let i = 0; i < width; i++) {
      const cell: unknown = value[i];
      if (
        cell !== null &&
        typeof cell !== 'string' &&
        typeof cell !== 'number' &&
        typeof cell !== 'boolean'
      ) {
        throw invalid(`line ${lineNo} holds a value that is not text, number, boolean or null`, where);
      }
    }
    batch.rows.push(value as ContractValue[]);
  };
  for await (const chunk of chunks) {
    let text: string;
    try {
      text = decoder.decode(chunk, { stream: true });
    } catch (error) {
      throw invalid('payload is not valid UTF-8', where, error);
    }
    carry += text;
    const batch: PayloadBatch = { rows: [] };
    let start = 0;
    let newline = carry.indexOf('\n', start);
    try {
      while (newline !== -1) {
        const line = carry.slice(start, newline);
        // Characters bound bytes from below (one UTF-16 unit is at most 3 UTF-8 bytes): count bytes
        // only for lines that could be over the limit.
        if (line.length * 3 > MAX_PAYLOAD_LINE_BYTES && Buffer.byteLength(line) > MAX_PAYLOAD_LINE_BYTES) {
          throw invalid(`line ${lineNo + 1} is longer than the limit`, where);
        }
        handle(line, batch);
        start = newline + 1;
        newline = carry.indexOf('\n', start);
      }
    } catch (error) {
      // The good lines before the bad one go out first, exactly as when decoding line by line.
      if (batch.preamble || batch.rows.length > 0) yield batch;
      throw error;
    }
    carry = carry.slice(start);
    if (batch.preamble || batch.rows.length > 0) yield batch;
    if (carry.length > MAX_PAYLOAD_LINE_BYTES)
      throw invalid(`line ${lineNo + 1} is longer than the limit`, where);
  }
  try {
    carry += decoder.decode();
  } catch (error) {
    throw invalid('payload is not valid UTF-8: it ends inside a character', where, error);
  }
  if (carry.length > 0) throw invalid('payload does not end with a line break', where);
  if (!preamble) throw invalid('payload is empty: no preamble line', where);
}

function checkPreamble(value: unknown, where: string): PayloadPreamble {
  const v = value as Partial<PayloadPreamble> | null;
  if (
    typeof v !== 'object' ||
    v === null ||
    typeof v.dataset !== 'string' ||
    typeof v.contract !== 'string' ||
    (v.kind !== 'rows' && v.kind !== 'tombstones') ||
    !Array.isArray(v.columns) ||
    !v.columns.every((c) => typeof c === 'string')
  ) {
    throw invalid('the first line is not a payload preamble', where);
  }
  return { dataset: v.dataset, contract: v.contract, kind: v.kind, columns: v.columns };
}

function invalid(message: string, where: string, cause?: unknown): BundleError {
  return new BundleError('BUNDLE_PAYLOAD_INVALID', `Bundle payload refused: ${message}`, {
    where,
    hint: 'The sender produced a malformed payload; it is quarantined, ask the county office to re-send',
    cause,
  });
}
