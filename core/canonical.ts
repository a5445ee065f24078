/** Canonical JSON (sorted keys) and a 64-bit content fingerprint, for ETags and change detection. */
import { dict } from "./dict";
import { murmur3 } from "./murmur3";

/** JSON with object keys sorted at every level, so equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out = dict<unknown>();
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** Lower-case hex of bytes (digests, signatures). */
export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let out = "";
  for (const b of view) out += b.toString(16).padStart(2, "0");
  return out;
}

/** 16 hex digits from two independently seeded murmur3 hashes: a fingerprint, not a security hash. */
export function fingerprint(text: string): string {
  const a = murmur3(text, 0x9747b28c).toString(16).padStart(8, "0");
  const b = murmur3(text, 0x5bd1e995).toString(16).padStart(8, "0");
  return a + b;
}
