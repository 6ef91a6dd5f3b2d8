// The byte-level delimited-file parser and strict decoding (issue 4): quotes, doubled quotes, CRLF,
// line breaks inside quotes, any chunking of the input; GB18030 four-byte characters survive, an
// invalid sequence becomes InvalidText (never U+FFFD).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeGb18030 } from '../../inner-node/synthetic/gb18030.js';
import { InvalidText, strictDecoder } from '../../shared/charset.js';
import { parseCsv } from '../../shared/csv.js';

// eslint-disable-next-line @typescript-eslint/require-await -- an async source, as a file stream is
async function* chunks(bytes: Uint8Array, cuts: number[]): AsyncGenerator<Uint8Array> {
  let start = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    if (cut <= start || cut >= bytes.length) continue;
    yield bytes.subarray(start, cut);
    start = cut;
  }
  yield bytes.subarray(start);
}

async function parseAll(bytes: Uint8Array, cuts: number[], delimiter = ','): Promise<string[][]> {
  const decoder = strictDecoder('gb18030');
  const out: string[][] = [];
  for await (const record of parseCsv(chunks(bytes, cuts), { delimiter })) {
    out.push(
      record.fields.map((f) => {
        const text = decoder.decode(f);
        return text instanceof InvalidText ? `hex:${text.hex}` : text;
      }),
    );
  }
  return out;
}

function quote(field: string): string {
  return /[",\r\n]/.test(field) || field === '' ? `"${field.replace(/"/g, '""')}"` : field;
}

const fieldChars = fc.constantFrom('a', '1', ' ', ',', '"', '\n', '\r\n', '张', '𠮷', '䶮', '€', 'x');
const field = fc.array(fieldChars, { maxLength: 6 }).map((parts) => parts.join(''));

describe('delimited-file parser', () => {
  it('reads back any records written with quoting, whatever the chunk boundaries', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(field, { minLength: 2, maxLength: 4 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(400), { maxLength: 8 }),
        async (records, cuts) => {
          const text = records.map((r) => r.map(quote).join(',')).join('\r\n') + '\r\n';
          const parsed = await parseAll(encodeGb18030(text), cuts);
          expect(parsed).toEqual(records);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reports line numbers, malformed records, and decodes strictly', async () => {
    const bytes = Buffer.concat([
      Buffer.from('a,b\n"x\ny",2\n\n'),
      Buffer.from([0x81, 0x20]),
      Buffer.from(',3\n"bad"x,4\n'),
    ]);
    const records = [];
    for await (const r of parseCsv(chunks(bytes, [3, 7]), { delimiter: ',' })) records.push(r);
    expect(records.map((r) => r.line)).toEqual([1, 2, 5, 6]);
    expect(records[3]?.problem).toBe('text after a closing quote');
    const decoded = strictDecoder('gbk').decode(records[2]?.fields[0] ?? Buffer.alloc(0));
    expect(decoded).toBeInstanceOf(InvalidText);
    expect((decoded as InvalidText).hex).toBe('8120');
  });

  it('normalises decoded text to NFC', () => {
    const decomposed = 'e\u0301';
    expect(strictDecoder('utf-8').decode(Buffer.from(decomposed))).toBe('\u00e9');
  });
});
