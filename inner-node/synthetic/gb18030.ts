// A small GB18030 encoder for the synthetic county's CSV export. Node 20's TextEncoder only writes
// UTF-8, so the two- and four-byte BMP mappings are learned by decoding every code with Node's own
// strict GB18030 decoder (the WHATWG/GB18030-2022 mapping) and inverting the result; characters
// outside the BMP use the standard linear four-byte formula. Whatever this encoder writes, the strict
// decoder reads back as the same text.

let reverse: Map<number, number> | undefined;

function reverseMap(): Map<number, number> {
  if (reverse) return reverse;
  const decoder = new TextDecoder('gb18030', { fatal: true });
  const map = new Map<number, number>();
  const two = new Uint8Array(2);
  for (let lead = 0x81; lead <= 0xfe; lead++) {
    for (let trail = 0x40; trail <= 0xfe; trail++) {
      if (trail === 0x7f) continue;
      two[0] = lead;
      two[1] = trail;
      const cp = decodeOne(decoder, two);
      // Several codes may decode to the same character; the first (lowest) one is the canonical one.
      if (cp !== undefined && !map.has(cp)) map.set(cp, (lead << 8) | trail);
    }
  }
  // Four-byte codes 0x81308130..0x8431A439 cover the rest of the BMP (39,420 linear pointers).
  const four = new Uint8Array(4);
  for (let pointer = 0; pointer < 39420; pointer++) {
    four[0] = 0x81 + Math.floor(pointer / 12600);
    four[1] = 0x30 + (Math.floor(pointer / 1260) % 10);
    four[2] = 0x81 + (Math.floor(pointer / 10) % 126);
    four[3] = 0x30 + (pointer % 10);
    const cp = decodeOne(decoder, four);
    // Stored negated so the encoder can tell a four-byte pointer from a two-byte code.
    if (cp !== undefined && !map.has(cp)) map.set(cp, -(pointer + 1));
  }
  reverse = map;
  return map;
}

function decodeOne(decoder: { decode(input: Uint8Array): string }, bytes: Uint8Array): number | undefined {
  try {
    const text = decoder.decode(bytes);
    const cp = text.codePointAt(0);
    return cp !== undefined && text.length === (cp > 0xffff ? 2 : 1) ? cp : undefined;
  } catch {
    return undefined;
  }
}

/** Number of bytes `text` takes in GB18030 (1, 2 or 4 per character). */
export function gb18030Length(text: string): number {
  return encodeGb18030(text).length;
}

/** Encodes text as GB18030. Throws on lone surrogates (there is nothing valid to write for them). */
export function encodeGb18030(text: string): Uint8Array {
  const out = new Uint8Array(text.length * 4);
  let n = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp < 0x80) {
      out[n++] = cp;
      continue;
    }
    if (cp >= 0xd800 && cp <= 0xdfff)
      throw new Error(`lone surrogate U+${cp.toString(16)} cannot be encoded`);
    if (cp > 0xffff) {
      n = writeFour(out, n, cp - 0x10000 + 189000);
      continue;
    }
    const code = reverseMap().get(cp);
    if (code === undefined) throw new Error(`U+${cp.toString(16)} has no GB18030 code`);
    if (code > 0) {
      out[n++] = code >> 8;
      out[n++] = code & 0xff;
    } else {
      n = writeFour(out, n, -code - 1);
    }
  }
  return out.subarray(0, n);
}

function writeFour(out: Uint8Array, n: number, pointer: number): number {
  out[n] = 0x81 + Math.floor(pointer / 12600);
  out[n + 1] = 0x30 + (Math.floor(pointer / 1260) % 10);
  out[n + 2] = 0x81 + (Math.floor(pointer / 10) % 126);
  out[n + 3] = 0x30 + (pointer % 10);
  return n + 4;
}
