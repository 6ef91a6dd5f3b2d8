// Text is never bytes of unknown encoding (style.md rule 15): sources state their encoding, bytes are
// decoded strictly (an invalid sequence is reported, never replaced with U+FFFD or guessed), and the
// result is NFC-normalised (design 3).

/** Encodings a source may state, as WHATWG labels understood by Node's TextDecoder (ICU). */
export const SOURCE_ENCODINGS = ['utf-8', 'gbk', 'gb18030'] as const;
export type SourceEncoding = (typeof SOURCE_ENCODINGS)[number];

/**
 * A value whose bytes are not valid text in the stated encoding. Readers hand it to the mapping,
 * which rejects the row with rule 'encoding' and the raw bytes in hex.
 */
export class InvalidText {
  constructor(
    readonly bytes: Uint8Array,
    readonly encoding: string,
  ) {}

  get hex(): string {
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength).toString('hex');
  }
}

/** A strict decoder for one encoding: bytes to NFC text, or InvalidText. */
export interface StrictDecoder {
  readonly encoding: string;
  decode(bytes: Uint8Array): string | InvalidText;
}

// Pure ASCII needs neither decoding tables nor normalisation; most codes, dates and numbers are ASCII.
function isAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if ((bytes[i] ?? 0) > 0x7f) return false;
  return true;
}

export function strictDecoder(encoding: string): StrictDecoder {
  // GBK is decoded by the GB18030 decoder in the WHATWG Encoding standard (a superset); both reject
  // malformed sequences with fatal: true.
  const decoder = new TextDecoder(encoding, { fatal: true, ignoreBOM: true });
  return {
    encoding,
    decode(bytes) {
      if (isAscii(bytes))
        return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
      try {
        return decoder.decode(bytes).normalize('NFC');
      } catch {
        return new InvalidText(bytes, encoding);
      }
    },
  };
}

/** MariaDB/MySQL character set names to the encodings we decode; undefined for binary or unknown. */
export function encodingOfMysqlCharset(charset: string | null | undefined): string | undefined {
  switch ((charset ?? '').toLowerCase()) {
    case 'utf8':
    case 'utf8mb3':
    case 'utf8mb4':
    case 'ascii':
      return 'utf-8';
    case 'gbk':
    case 'gb2312':
      return 'gbk';
    case 'gb18030':
      return 'gb18030';
    case 'latin1':
      return 'windows-1252';
    default:
      return undefined;
  }
}

/** Byte-order marks that may start a text file, per encoding. */
export function byteOrderMark(encoding: string): Uint8Array | undefined {
  if (encoding === 'utf-8') return Uint8Array.of(0xef, 0xbb, 0xbf);
  if (encoding === 'gb18030') return Uint8Array.of(0x84, 0x31, 0x95, 0x33);
  return undefined;
}
