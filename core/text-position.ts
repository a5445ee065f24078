/**
 * Where in a request body a parser stopped, in the three measures a client
 * can use: the UTF-8 byte offset (what a hex dump or `dd` shows), and the
 * 1-based line and column (what an editor shows; the column counts
 * characters, i.e. code points). Only computed on the error path.
 */
export interface TextPosition {
  offset: number;
  line: number;
  column: number;
}

const UTF8 = new TextEncoder();

/** The position of UTF-16 index `index` in `text` (clamped to the text). */
export function positionAt(text: string, index: number): TextPosition {
  const at = Math.max(0, Math.min(index, text.length));
  const before = text.slice(0, at);
  const lineStart = before.lastIndexOf("\n") + 1;
  let column = 1;
  for (const _ of before.slice(lineStart)) column++;
  let line = 1;
  for (let i = before.indexOf("\n"); i !== -1; i = before.indexOf("\n", i + 1)) line++;
  return { offset: UTF8.encode(before).length, line, column };
}

/**
 * The byte offset of the first ill-formed UTF-8 sequence, or -1: the
 * well-formed byte sequences of the Unicode Standard (Table 3-7), which is
 * what a fatal `TextDecoder` accepts — no overlong forms, no surrogates,
 * nothing past U+10FFFF.
 */
export function invalidUtf8Offset(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i] as number;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let low = 0x80;
    let high = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) low = 0xa0;
      if (b === 0xed) high = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) low = 0x90;
      if (b === 0xf4) high = 0x8f;
    } else return i;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || c < (k === 1 ? low : 0x80) || c > (k === 1 ? high : 0xbf)) return i;
    }
    i += need + 1;
  }
  return -1;
}

/** The position of byte `offset` in UTF-8 `bytes` whose prefix up to it is well-formed. */
export function positionOfByte(bytes: Uint8Array, offset: number): TextPosition {
  const before = new TextDecoder("utf-8").decode(bytes.subarray(0, offset));
  return { ...positionAt(before, before.length), offset };
}
