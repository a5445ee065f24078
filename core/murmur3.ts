/**
 * MurmurHash3 x86_32 over the UTF-8 bytes of a JavaScript string, streamed:
 * a prefix (the flag's salt) is hashed once into a `HashState`, and each key
 * continues from it. No string concatenation, no byte buffer, no await —
 * the hot path pays only for the bytes of the key.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** The hasher after some bytes: running hash, pending (<4) tail bytes, total length. */
export interface HashState {
  readonly h1: number;
  readonly tail: number;
  readonly tailLength: number;
  readonly byteLength: number;
}

// Scratch registers of the streaming hasher. Module-level so that feeding a
// byte is a plain function call without allocating a state object per key.
let h1 = 0;
let tail = 0;
let tailLength = 0;
let byteLength = 0;

function mixBlock(k: number): void {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  h1 ^= k;
  h1 = (h1 << 13) | (h1 >>> 19);
  h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
}

function pushByte(byte: number): void {
  tail |= byte << (tailLength << 3);
  byteLength++;
  if (++tailLength === 4) {
    mixBlock(tail);
    tail = 0;
    tailLength = 0;
  }
}

/** Feeds the UTF-8 encoding of `text` (lone surrogates become U+FFFD, as TextEncoder does). */
function pushUtf8(text: string): void {
  const n = text.length;
  for (let i = 0; i < n; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      pushByte(c);
    } else if (c < 0x800) {
      pushByte(0xc0 | (c >> 6));
      pushByte(0x80 | (c & 0x3f));
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < n ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
        pushByte(0xf0 | (c >> 18));
        pushByte(0x80 | ((c >> 12) & 0x3f));
        pushByte(0x80 | ((c >> 6) & 0x3f));
        pushByte(0x80 | (c & 0x3f));
      } else {
        pushByte(0xef);
        pushByte(0xbf);
        pushByte(0xbd);
      }
    } else {
      pushByte(0xe0 | (c >> 12));
      pushByte(0x80 | ((c >> 6) & 0x3f));
      pushByte(0x80 | (c & 0x3f));
    }
  }
}

function load(state: HashState): void {
  h1 = state.h1;
  tail = state.tail;
  tailLength = state.tailLength;
  byteLength = state.byteLength;
}

function finish(): number {
  let h = h1;
  if (tailLength > 0) {
    let k = Math.imul(tail, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= byteLength;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The state after hashing `prefix` with `seed`; reuse it for every key that follows the prefix. */
export function prepareHash(prefix: string, seed = 0): HashState {
  h1 = seed | 0;
  tail = 0;
  tailLength = 0;
  byteLength = 0;
  pushUtf8(prefix);
  return { h1, tail, tailLength, byteLength };
}

/** murmur3_x86_32(utf8(prefix + text)) as an unsigned 32-bit integer, continuing from `state`. */
export function hashFrom(state: HashState, text: string): number {
  load(state);
  pushUtf8(text);
  return finish();
}

/** murmur3_x86_32(utf8(text), seed) as an unsigned 32-bit integer. */
export function murmur3(text: string, seed = 0): number {
  return hashFrom(prepareHash("", seed), text);
}
