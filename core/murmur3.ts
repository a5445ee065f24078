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

/**
 * murmur3_x86_32(utf8(prefix + text)) as an unsigned 32-bit integer, continuing from `state`.
 * ASCII runs are hashed four characters per block in local variables (the
 * common case for user ids); the first non-ASCII character hands the rest of
 * the text to the general UTF-8 byte path.
 */
export function hashFrom(state: HashState, text: string): number {
  let h = state.h1;
  let k = state.tail;
  let kLength = state.tailLength;
  let length = state.byteLength;
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c0 = text.charCodeAt(i);
    if (kLength === 0 && i + 3 < n) {
      const c1 = text.charCodeAt(i + 1);
      const c2 = text.charCodeAt(i + 2);
      const c3 = text.charCodeAt(i + 3);
      if ((c0 | c1 | c2 | c3) < 0x80) {
        let block = c0 | (c1 << 8) | (c2 << 16) | (c3 << 24);
        block = Math.imul(block, C1);
        block = (block << 15) | (block >>> 17);
        h ^= Math.imul(block, C2);
        h = (h << 13) | (h >>> 19);
        h = (Math.imul(h, 5) + 0xe6546b64) | 0;
        length += 4;
        i += 4;
        continue;
      }
    }
    if (c0 >= 0x80) {
      // Rare: continue byte by byte through the general encoder.
      h1 = h;
      tail = k;
      tailLength = kLength;
      byteLength = length;
      pushUtf8(i === 0 ? text : text.slice(i));
      return finish();
    }
    k |= c0 << (kLength << 3);
    length++;
    i++;
    if (++kLength === 4) {
      k = Math.imul(k, C1);
      k = (k << 15) | (k >>> 17);
      h ^= Math.imul(k, C2);
      h = (h << 13) | (h >>> 19);
      h = (Math.imul(h, 5) + 0xe6546b64) | 0;
      k = 0;
      kLength = 0;
    }
  }
  h1 = h;
  tail = k;
  tailLength = kLength;
  byteLength = length;
  return finish();
}

/** murmur3_x86_32(utf8(text), seed) as an unsigned 32-bit integer. */
export function murmur3(text: string, seed = 0): number {
  return hashFrom(prepareHash("", seed), text);
}
