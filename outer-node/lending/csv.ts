// A small RFC 4180 reader and writer for the --data files of `outer-node lend`: UTF-8 decoded
// strictly (an invalid byte is an error, never a replacement character), an optional byte-order mark,
// quoted fields with doubled quotes and line breaks, CRLF or LF. Whole files in memory: training sets
// are thousands to a few million cells, not bulk transfers.
import { readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '../../shared/atomic-file.js';
import { LendingError } from './errors.js';

export interface Table {
  columns: string[];
  rows: string[][];
}

/** Parses CSV text; every record must have as many fields as the header. */
export function parseCsvText(text: string, where: string): Table {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  let quoted = false;
  let atFieldStart = true;
  const endRecord = (): void => {
    record.push(field);
    if (!(record.length === 1 && record[0] === '')) records.push(record);
    record = [];
    field = '';
    atFieldStart = true;
  };
  for (; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else {
          quoted = false;
          const next = text[i + 1];
          if (next !== undefined && next !== ',' && next !== '\r' && next !== '\n') {
            throw new LendingError('LEND_DATA', 'text after a closing quote', {
              where: `${where} line ${line}`,
            });
          }
        }
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
      continue;
    }
    if (ch === '"' && atFieldStart) {
      quoted = true;
      atFieldStart = false;
    } else if (ch === ',') {
      record.push(field);
      field = '';
      atFieldStart = true;
    } else if (ch === '\r' || ch === '\n') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
    } else {
      field += ch;
      atFieldStart = false;
    }
  }
  if (quoted)
    throw new LendingError('LEND_DATA', 'unterminated quoted field', { where: `${where} line ${line}` });
  if (field !== '' || record.length > 0) endRecord();
  const [columns, ...rows] = records;
  if (!columns) throw new LendingError('LEND_DATA', 'the file is empty; expected a header line', { where });
  const seen = new Set<string>();
  for (const c of columns) {
    if (seen.has(c))
      throw new LendingError('LEND_DATA', `column ${c} appears twice in the header`, { where });
    seen.add(c);
  }
  rows.forEach((r, n) => {
    if (r.length !== columns.length) {
      throw new LendingError(
        'LEND_DATA',
        `record ${n + 1} has ${r.length} fields, the header has ${columns.length}`,
        {
          where,
        },
      );
    }
  });
  return { columns, rows };
}

export function readCsvFile(path: string): Table {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(readFileSync(path));
  } catch (error) {
    throw new LendingError('LEND_DATA', `cannot read ${path} as UTF-8 text`, {
      where: path,
      hint: 'Save the file as UTF-8 CSV',
      cause: error,
    });
  }
  return parseCsvText(text, path);
}

const NEEDS_QUOTES = /[",\r\n]/;

export function formatCsv(table: Table): string {
  const cell = (v: string): string => (NEEDS_QUOTES.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  return [table.columns, ...table.rows].map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n';
}

/** Writes a CSV file whole (temporary name, then rename). */
export function writeCsvFile(path: string, table: Table): void {
  writeFileAtomicSync(path, formatCsv(table));
}

/** The values of one column, or an error naming the columns there are. */
export function columnIndex(table: Table, name: string, where: string): number {
  const at = table.columns.indexOf(name);
  if (at < 0) {
    throw new LendingError('LEND_DATA', `no column ${name}`, {
      where,
      hint: `Columns are: ${table.columns.join(', ')}`,
    });
  }
  return at;
}
