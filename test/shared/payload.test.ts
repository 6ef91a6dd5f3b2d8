// Bundle payloads: JSON lines in, JSON lines out, streamed; every malformed payload refused with
// BUNDLE_PAYLOAD_INVALID and, where it applies, the line number.
import { describe, expect, it } from 'vitest';
import { BundleError } from '../../shared/errors.js';
import type { ContractValue } from '../../shared/mapping.js';
import {
  MAX_PAYLOAD_LINE_BYTES,
  decodePayload,
  encodePayload,
  encodePayloadLines,
  type PayloadItem,
  type PayloadPreamble,
} from '../../shared/payload.js';

const PREAMBLE: PayloadPreamble = {
  dataset: 'residents',
  contract: 'sha256:0123',
  kind: 'rows',
  columns: ['id_number', 'name', 'note', 'amount', 'flag'],
};
const PREAMBLE_LINE = `${JSON.stringify(PREAMBLE)}\n`;

const TRICKY_ROWS: ContractValue[][] = [
  ['11010519491231002X', '张三', 'line one\nline two\r\nthree', '1234.50', true],
  ['440524188001010014', 'O"Brien \\ back', 'tab\there, "quotes", \u2028 and \u2029', '-0.01', false],
  ['110105194912310011', '𠮷野家 🍜', '', '0.00', null],
  ['110105194912310038', null, '{"not":"an object"}', null, null],
  ['110105194912310046', 'e\u0301 NFC is not our business here', '\u0000 nul and \u001f', '1', true],
];

/** Chunks as a stream delivers them: asynchronously, one at a time. */
async function* fromBuffers(buffers: Iterable<Buffer>): AsyncGenerator<Buffer> {
  for (const buffer of buffers) {
    await Promise.resolve();
    yield buffer;
  }
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function encodeToBuffer(rows: ContractValue[][]): Promise<Buffer> {
  return Buffer.concat(await collect(encodePayload(PREAMBLE, rows)));
}

/** Splits a buffer at the given offsets. */
function splitAt(buffer: Buffer, offsets: number[]): Buffer[] {
  const points = [0, ...offsets, buffer.length];
  return points.slice(1).map((end, i) => buffer.subarray(points[i], end));
}

function decodeBuffers(buffers: Buffer[]): Promise<PayloadItem[]> {
  return collect(decodePayload(fromBuffers(buffers), 'bundle-1'));
}

/** The BundleError a decode ends with. */
async function refusal(buffers: Iterable<Buffer> | AsyncIterable<Buffer>): Promise<BundleError> {
  const source = Symbol.asyncIterator in buffers ? buffers : fromBuffers(buffers);
  try {
    await collect(decodePayload(source, 'bundle-1'));
  } catch (error) {
    if (error instanceof BundleError) return error;
    throw error;
  }
  throw new Error('expected the payload to be refused');
}

function expectRefused(error: BundleError, detail: string | RegExp): void {
  expect(error.code).toBe('BUNDLE_PAYLOAD_INVALID');
  expect(error.name).toBe('BundleError');
  expect(error.where).toBe('bundle-1');
  expect(error.message).toMatch(detail);
  expect(error.message).toContain('(at bundle-1)');
}

describe('round trip', () => {
  it('decodes what was encoded, including newlines, quotes and non-BMP characters', async () => {
    const items = await decodeBuffers([await encodeToBuffer(TRICKY_ROWS)]);
    expect(items).toEqual([{ preamble: PREAMBLE }, ...TRICKY_ROWS.map((row) => ({ row }))]);
  });

  it('writes exactly one line per row: newlines inside values are escaped', async () => {
    const text = (await encodeToBuffer(TRICKY_ROWS)).toString('utf8');
    expect(text.split('\n')).toHaveLength(1 + TRICKY_ROWS.length + 1);
    expect(text.endsWith('\n')).toBe(true);
    expect(text.startsWith(PREAMBLE_LINE)).toBe(true);
  });

  it('encodes a preamble alone for an empty stream, and decodes it', async () => {
    const buffer = await encodeToBuffer([]);
    expect(buffer.toString('utf8')).toBe(PREAMBLE_LINE);
    expect(await decodeBuffers([buffer])).toEqual([{ preamble: PREAMBLE }]);
  });

  it('accepts rows from an async iterable', async () => {
    async function* rows(): AsyncGenerator<ContractValue[]> {
      for (const row of TRICKY_ROWS) {
        await Promise.resolve();
        yield row;
      }
    }
    const buffer = Buffer.concat(await collect(encodePayload(PREAMBLE, rows())));
    expect(buffer.equals(await encodeToBuffer(TRICKY_ROWS))).toBe(true);
  });

  it('encodePayloadLines writes the same bytes as encodePayload', async () => {
    const lines = TRICKY_ROWS.map((row) => JSON.stringify(row));
    const buffer = Buffer.concat([...encodePayloadLines(PREAMBLE, lines)]);
    expect(buffer.equals(await encodeToBuffer(TRICKY_ROWS))).toBe(true);
  });

  it('streams 100k rows in chunks of whole lines and decodes them all', async () => {
    const count = 100_000;
    function* rows(): Generator<ContractValue[]> {
      for (let i = 0; i < count; i++) {
        yield [
          `4405241880010${String(i).padStart(5, '0')}`,
          `名字 ${i} 𠮷`,
          i % 7 === 0 ? 'a\nb' : '',
          `${i}.00`,
          i % 2 === 0,
        ];
      }
    }
    let chunks = 0;
    let largest = 0;
    async function* encoded(): AsyncGenerator<Buffer> {
      for await (const chunk of encodePayload(PREAMBLE, rows())) {
        chunks++;
        largest = Math.max(largest, chunk.length);
        expect(chunk[chunk.length - 1]).toBe(0x0a);
        yield chunk;
      }
    }
    let decoded = 0;
    let first: PayloadItem | undefined;
    for await (const item of decodePayload(encoded(), 'bundle-1')) {
      first ??= item;
      if ('row' in item) {
        const i = decoded++;
        if (i % 9973 === 0) {
          expect(item.row).toEqual([
            `4405241880010${String(i).padStart(5, '0')}`,
            `名字 ${i} 𠮷`,
            i % 7 === 0 ? 'a\nb' : '',
            `${i}.00`,
            i % 2 === 0,
          ]);
        }
      }
    }
    expect(first).toEqual({ preamble: PREAMBLE });
    expect(decoded).toBe(count);
    expect(chunks).toBeGreaterThan(10);
    // About 256 KiB per chunk (measured in UTF-16 units, so up to twice that in bytes for CJK text).
    expect(largest).toBeLessThan(1024 * 1024);
  });
});

describe('streaming decoder boundaries', () => {
  it('decodes correctly when split at every single byte offset', async () => {
    const buffer = await encodeToBuffer(TRICKY_ROWS);
    const expected = await decodeBuffers([buffer]);
    for (let offset = 1; offset < buffer.length; offset++) {
      expect(await decodeBuffers(splitAt(buffer, [offset])), `split at ${offset}`).toEqual(expected);
    }
  });

  it('decodes correctly inside every byte of a 4-byte and a 3-byte character', async () => {
    const buffer = await encodeToBuffer(TRICKY_ROWS);
    const expected = await decodeBuffers([buffer]);
    for (const char of ['𠮷', '🍜', '张']) {
      const at = buffer.indexOf(Buffer.from(char, 'utf8'));
      const width = Buffer.byteLength(char, 'utf8');
      expect(at).toBeGreaterThan(0);
      for (let k = 1; k < width; k++) {
        expect(await decodeBuffers(splitAt(buffer, [at + k])), `${char} byte ${k}`).toEqual(expected);
      }
      // Each byte of the character in a chunk of its own.
      expect(
        await decodeBuffers(
          splitAt(
            buffer,
            Array.from({ length: width + 1 }, (_, k) => at + k),
          ),
        ),
      ).toEqual(expected);
    }
  });

  it('decodes one byte per chunk, and with empty chunks in between', async () => {
    const buffer = await encodeToBuffer(TRICKY_ROWS);
    const expected = await decodeBuffers([buffer]);
    const bytes = Array.from(buffer, (_, i) => buffer.subarray(i, i + 1));
    expect(await decodeBuffers(bytes)).toEqual(expected);
    expect(await decodeBuffers(bytes.flatMap((b) => [Buffer.alloc(0), b]))).toEqual(expected);
  });
});

describe('refusals', () => {
  const preamble = Buffer.from(PREAMBLE_LINE);
  const line = (text: string): Buffer => Buffer.from(`${text}\n`);
  const goodRow = line(JSON.stringify(TRICKY_ROWS[0]));

  it('refuses a line that is not JSON, naming the line', async () => {
    expectRefused(await refusal([preamble, goodRow, line('["a", "b"')]), 'line 3 is not valid JSON');
    expectRefused(await refusal([preamble, line('')]), 'line 2 is not valid JSON');
  });

  it('refuses a row with the wrong number of values', async () => {
    expectRefused(await refusal([preamble, line('["a","b"]')]), 'line 2 is not a row of 5 values');
    expectRefused(
      await refusal([preamble, line('["a","b","c","d","e","f"]')]),
      'line 2 is not a row of 5 values',
    );
    expectRefused(await refusal([preamble, line('{"a":1}')]), 'line 2 is not a row of 5 values');
    expectRefused(await refusal([preamble, line('"text"')]), 'line 2 is not a row of 5 values');
  });

  it('refuses an object or array inside a row', async () => {
    expectRefused(
      await refusal([preamble, line('["a",{"b":1},"c","d",true]')]),
      'line 2 holds a value that is not',
    );
    expectRefused(
      await refusal([preamble, goodRow, line('["a",["b"],"c","d",true]')]),
      'line 3 holds a value',
    );
  });

  it('refuses a payload without a trailing line break', async () => {
    expectRefused(
      await refusal([preamble, Buffer.from(JSON.stringify(TRICKY_ROWS[0]))]),
      'does not end with a line break',
    );
    expectRefused(await refusal([Buffer.from(PREAMBLE_LINE.trimEnd())]), 'does not end with a line break');
  });

  it('refuses invalid UTF-8, also when the bad sequence spans two chunks', async () => {
    const bad = (bytes: number[]): Buffer[] => [
      preamble,
      Buffer.concat([Buffer.from('["'), Buffer.from(bytes), Buffer.from('","b","c","d",true]\n')]),
    ];
    expectRefused(await refusal(bad([0xff])), 'not valid UTF-8');
    expectRefused(await refusal(bad([0xc0, 0x80])), 'not valid UTF-8'); // overlong NUL
    expectRefused(await refusal(bad([0xed, 0xa0, 0x80])), 'not valid UTF-8'); // a UTF-16 surrogate
    expectRefused(await refusal(bad([0xe4, 0xb8, 0x41])), 'not valid UTF-8'); // truncated sequence
    const split = Buffer.concat(bad([0xe4, 0xb8, 0x41]));
    const at = split.indexOf(0xe4);
    expectRefused(await refusal(splitAt(split, [at + 1, at + 2])), 'not valid UTF-8');
  });

  // BUG (shared/payload.ts, end of decodePayload, ~line 97): the TextDecoder is used with
  // { stream: true } but never flushed with a final decode(), so an incomplete UTF-8 sequence after
  // the last line break is held inside the decoder and silently dropped: the payload is accepted.
  // Expected: BUNDLE_PAYLOAD_INVALID 'payload is not valid UTF-8'. Actual: decodes normally.
  // Left failing on purpose.
  it('refuses an incomplete UTF-8 sequence at the very end', async () => {
    expectRefused(
      await refusal([preamble, goodRow, Buffer.from([0xe4, 0xb8])]),
      /not valid UTF-8|line break/,
    );
  });

  it('refuses a payload with no preamble', async () => {
    expectRefused(await refusal([]), 'payload is empty: no preamble line');
    expectRefused(await refusal([Buffer.alloc(0)]), 'payload is empty: no preamble line');
    expectRefused(await refusal([goodRow]), 'the first line is not a payload preamble');
    const variants: unknown[] = [
      null,
      { ...PREAMBLE, kind: 'deletes' },
      { ...PREAMBLE, columns: ['a', 1] },
      { ...PREAMBLE, columns: 'a,b' },
      { dataset: 'residents', kind: 'rows', columns: [] },
    ];
    for (const variant of variants) {
      expectRefused(
        await refusal([line(JSON.stringify(variant))]),
        'the first line is not a payload preamble',
      );
    }
  });

  it('refuses an over-long line without reading the rest of the payload', async () => {
    let pulled = 0;
    async function* endless(): AsyncGenerator<Buffer> {
      yield preamble;
      const block = Buffer.alloc(1024 * 1024, 0x61);
      for (;;) {
        pulled++;
        await Promise.resolve();
        yield block;
      }
    }
    expectRefused(await refusal(endless()), 'line 2 is longer than the limit');
    // Refused as soon as the unfinished line passed the limit, not after reading everything.
    expect(pulled).toBe(MAX_PAYLOAD_LINE_BYTES / (1024 * 1024) + 1);
  });

  // BUG (shared/payload.ts, ~line 95): the line limit is only checked on the unfinished remainder
  // (`carry`) after a chunk's complete lines were handled, so a line longer than
  // MAX_PAYLOAD_LINE_BYTES whose line break arrives in the same chunk is parsed and accepted (any
  // line up to the limit plus one chunk passes). Expected: 'line 2 is longer than the limit'.
  // Actual: the 5 MiB row is decoded. Left failing on purpose.
  it('refuses an over-long line even when it arrives whole in one chunk', async () => {
    const huge = line(JSON.stringify(['x'.repeat(MAX_PAYLOAD_LINE_BYTES + 1024), 'b', 'c', 'd', true]));
    expectRefused(await refusal([preamble, huge]), 'line 2 is longer than the limit');
  });

  // BUG (shared/payload.ts, ~line 95): the limit is named and documented in bytes but compared with
  // `carry.length`, a count of UTF-16 code units: a line of 3-byte CJK characters may be up to three
  // times MAX_PAYLOAD_LINE_BYTES long in bytes. Here a 6 MiB line (2 Mi x '张') is fed 1 MiB at a time
  // and accepted. Expected: refused. Actual: decoded. Left failing on purpose.
  it('counts the line limit in bytes, not UTF-16 code units', async () => {
    const text = '张'.repeat(2 * 1024 * 1024);
    const row = line(JSON.stringify([text, 'b', 'c', 'd', true]));
    expect(row.length).toBeGreaterThan(MAX_PAYLOAD_LINE_BYTES);
    const offsets = Array.from(
      { length: Math.floor(row.length / (1024 * 1024)) },
      (_, i) => (i + 1) * 1024 * 1024,
    );
    expectRefused(await refusal([preamble, ...splitAt(row, offsets)]), 'line 2 is longer than the limit');
  });
});
