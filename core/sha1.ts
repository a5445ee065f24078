/**
 * SHA-1 (FIPS 180-4) of a string's UTF-8 bytes, synchronously, as lower-case
 * hex. Only for bucketing modes that reproduce other systems' assignments
 * (`bucketing-modes.ts`): assignment is synchronous and WebCrypto's digest is
 * not. Not for anything that needs collision resistance.
 *
 * Hot-path note: keys are short, so the message is encoded into a reused
 * buffer (grown only for long inputs) and the schedule array is reused —
 * no allocation per call but the result string.
 */
const encoder = new TextEncoder();
let buffer = new Uint8Array(256);
let view = new DataView(buffer.buffer);
const w = new Uint32Array(80);
const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const hex = (byte: number) => HEX[byte & 255] as string;

export function sha1Hex(text: string): string {
  // UTF-8 is at most 3 bytes per UTF-16 code unit; 9 bytes of padding and length follow.
  const need = ((((text.length * 3 + 8) >> 6) + 1) << 6);
  if (need > buffer.length) {
    buffer = new Uint8Array(need);
    view = new DataView(buffer.buffer);
  }
  const length = encoder.encodeInto(text, buffer).written;
  const padded = (((length + 8) >> 6) + 1) << 6;
  buffer[length] = 0x80;
  buffer.fill(0, length + 1, padded - 8);
  const bitLength = length * 8;
  view.setUint32(padded - 8, Math.floor(bitLength / 0x1_0000_0000));
  view.setUint32(padded - 4, bitLength >>> 0);
  let h0 = 0x67452301, h1 = 0xefcdab89, h2 = 0x98badcfe, h3 = 0x10325476, h4 = 0xc3d2e1f0;
  for (let offset = 0; offset < padded; offset += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(offset + i * 4);
    for (let i = 16; i < 80; i++) {
      const x = (w[i - 3] as number) ^ (w[i - 8] as number) ^ (w[i - 14] as number) ^ (w[i - 16] as number);
      w[i] = (x << 1) | (x >>> 31);
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4;
    for (let i = 0; i < 80; i++) {
      let f: number, k: number;
      if (i < 20) { f = (b & c) | (~b & d); k = 0x5a827999; }
      else if (i < 40) { f = b ^ c ^ d; k = 0x6ed9eba1; }
      else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8f1bbcdc; }
      else { f = b ^ c ^ d; k = 0xca62c1d6; }
      const t = (((a << 5) | (a >>> 27)) + f + e + k + (w[i] as number)) | 0;
      e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
    }
    h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0; h4 = (h4 + e) | 0;
  }
  let out = "";
  for (const h of [h0, h1, h2, h3, h4]) out += hex(h >>> 24) + hex(h >>> 16) + hex(h >>> 8) + hex(h);
  return out;
}
