// Character sets of bank columns: how many bytes a value takes in the column's own encoding, or that
// it cannot be stored there at all (design 3: byte length checked against the target column before
// loading; a character a legacy charset lacks is a rejected row, never a silent '?').
//
// Legacy charsets are checked with encoder tables built once from the WHATWG decoders that Node ships
// (TextDecoder with full ICU): every byte sequence of the charset is decoded, and the characters it
// yields are the characters the charset can hold. No extra package is needed, and the table is exact
// for the charsets listed.

/** Bytes a value takes in a charset, or undefined when some character cannot be represented. */
export type Encoder = (text: string) => number | undefined;

const utf8: Encoder = (text) => Buffer.byteLength(text, 'utf8');

/** MariaDB's 3-byte 'utf8' (utf8mb3) cannot hold characters outside the Basic Multilingual Plane. */
const utf8mb3: Encoder = (text) => {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) return undefined;
  }
  return Buffer.byteLength(text, 'utf8');
};

const ascii: Encoder = (text) => {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return undefined;
  return text.length;
};

/** Characters of a single-byte charset, from its decoder. */
function singleByteTable(label: string): Set<number> {
  const decoder = new TextDecoder(label, { fatal: false });
  const set = new Set<number>();
  for (let b = 0; b < 256; b++) {
    const ch = decoder.decode(Uint8Array.of(b));
    if (ch !== '\uFFFD' && ch.length === 1) set.add(ch.charCodeAt(0));
  }
  return set;
}

function singleByte(label: string): Encoder {
  let table: Set<number> | undefined;
  return (text) => {
    table ??= singleByteTable(label);
    for (let i = 0; i < text.length; i++) if (!table.has(text.charCodeAt(i))) return undefined;
    return text.length;
  };
}

/** Double-byte characters of GBK (or of its GB2312 core, leads and trails 0xA1..0xFE). */
function doubleByteTable(core: boolean): Set<number> {
  const decoder = new TextDecoder('gbk', { fatal: false });
  const set = new Set<number>();
  const pair = new Uint8Array(2);
  for (let lead = core ? 0xa1 : 0x81; lead <= (core ? 0xf7 : 0xfe); lead++) {
    for (let trail = core ? 0xa1 : 0x40; trail <= 0xfe; trail++) {
      if (trail === 0x7f) continue;
      pair[0] = lead;
      pair[1] = trail;
      const ch = decoder.decode(pair);
      if (ch.length === 1 && ch !== '\uFFFD') set.add(ch.charCodeAt(0));
    }
  }
  return set;
}

/** GBK or GB2312: ASCII in one byte, everything in the double-byte table in two, nothing else. */
function doubleByte(core: boolean): Encoder {
  let table: Set<number> | undefined;
  return (text) => {
    table ??= core ? doubleByteTable(true) : (gbkChars ??= doubleByteTable(false));
    let bytes = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x80) bytes += 1;
      else if (table.has(c)) bytes += 2;
      else return undefined;
    }
    return bytes;
  };
}

let gbkChars: Set<number> | undefined;
const gbk = doubleByte(false);
const gb2312 = doubleByte(true);

/** GB18030 holds every Unicode character: 1, 2 or 4 bytes. */
const gb18030: Encoder = (text) => {
  gbkChars ??= doubleByteTable(false);
  let bytes = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0) ?? 0;
    bytes += c < 0x80 ? 1 : c <= 0xffff && gbkChars.has(c) ? 2 : 4;
  }
  return bytes;
};

/**
 * The encoder for a charset name as the databases report it (MariaDB CHARACTER_SET_NAME, PostgreSQL
 * server_encoding), or undefined for a charset this node does not know (reported at start-up).
 */
export function encoderFor(charset: string): Encoder | undefined {
  switch (charset.toLowerCase().replace(/[-_]/g, '')) {
    case 'utf8mb4':
    case 'utf8':
    case 'unicode':
      // PostgreSQL's UTF8 is full UTF-8; MariaDB's 'utf8' is utf8mb3 and is named so by describeTable.
      return utf8;
    case 'utf8mb3':
      return utf8mb3;
    case 'ascii':
    case 'sqlascii':
      return ascii;
    case 'latin1':
      // MariaDB's latin1 is Windows-1252; PostgreSQL's LATIN1 is ISO-8859-1 (named 'iso88591' below).
      return singleByte('windows-1252');
    case 'iso88591':
      return singleByte('iso-8859-1');
    case 'win1252':
    case 'cp1252':
      return singleByte('windows-1252');
    case 'gbk':
      return gbk;
    case 'gb2312':
    case 'euccn':
      return gb2312;
    case 'gb18030':
      return gb18030;
    default:
      return undefined;
  }
}

/** Number of characters (code points), as VARCHAR(n) counts them. */
export function characterCount(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) n--;
  }
  return n;
}
