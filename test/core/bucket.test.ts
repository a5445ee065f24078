import { readFileSync } from "node:fs";
import { FlagdCore } from "@openfeature/flagd-core";
import { describe, expect, it } from "vitest";
import { bucketOf, inCandidate, prepareSalt, weightToBasisPoints } from "../../core/bucket";
import { hashFrom, murmur3, prepareHash } from "../../core/murmur3";

interface Vector {
  prefix: string;
  key: string;
  weights: [string, number][];
  expected: string;
}
const vectors = (JSON.parse(readFileSync(new URL("../vectors/flagd-fractional-v2.json", import.meta.url), "utf8")) as { vectors: Vector[] }).vectors;

/** An independent byte-array MurmurHash3 x86_32, written from the published algorithm. */
function referenceMurmur3(bytes: Uint8Array, seed = 0): number {
  let h = seed >>> 0;
  const blocks = bytes.length >> 2;
  const mulmix = (k: number) => Math.imul(((Math.imul(k, 0xcc9e2d51) << 15) | (Math.imul(k, 0xcc9e2d51) >>> 17)), 0x1b873593);
  for (let i = 0; i < blocks; i++) {
    const k = bytes[4 * i]! | (bytes[4 * i + 1]! << 8) | (bytes[4 * i + 2]! << 16) | (bytes[4 * i + 3]! << 24);
    h ^= mulmix(k);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  const rest = bytes.length & 3;
  for (let j = rest - 1; j >= 0; j--) k = (k << 8) | bytes[blocks * 4 + j]!;
  if (rest > 0) h ^= mulmix(k);
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** flagd's fractional rule over arbitrary weights, on top of our hash. */
function fractional(prefix: string, key: string, weights: [string, number][]): string {
  const total = weights.reduce((s, [, w]) => s + w, 0);
  const bucket = Math.floor((hashFrom(prepareHash(prefix), key) * total) / 2 ** 32);
  let sum = 0;
  for (const [variant, w] of weights) {
    sum += w;
    if (bucket < sum) return variant;
  }
  throw new Error("unreachable");
}

function keys(n: number, prefix = "user-"): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}`);
}

describe("murmur3", () => {
  it("matches published MurmurHash3 x86_32 values", () => {
    expect(murmur3("")).toBe(0);
    expect(murmur3("", 1)).toBe(0x514e28b7);
    expect(murmur3("hello")).toBe(0x248bfa47);
    expect(murmur3("The quick brown fox jumps over the lazy dog")).toBe(0x2e4ff723);
  });

  it("hashes the UTF-8 bytes, as the Go reference does, for non-ASCII keys", () => {
    const samples = ["über", "用户-42", "emoji-😀-key", "ß", "\u{10FFFF}", "a\uD800b", "\uDC00", "mixed ascii and ünïcödé 🚀🚀"];
    for (const text of samples) {
      expect(murmur3(text), text).toBe(referenceMurmur3(new TextEncoder().encode(text)));
    }
  });

  it("streams: a prepared prefix gives the hash of prefix + key at every alignment", () => {
    for (const prefix of ["", "a", "ab", "abc", "abcd", "feed-ranker", "ü", "😀x"]) {
      for (const key of ["", "k", "key-1", "ünï", "😀😀😀"]) {
        expect(hashFrom(prepareHash(prefix), key)).toBe(referenceMurmur3(new TextEncoder().encode(prefix + key)));
      }
    }
  });
});

describe("bucketing (flagd fractional v2)", () => {
  it("assigns every published flagd vector to its expected variant", () => {
    expect(vectors.length).toBeGreaterThan(10);
    for (const v of vectors) expect(fractional(v.prefix, v.key, v.weights), `${v.prefix}/${v.key}`).toBe(v.expected);
  });

  it("agrees with @openfeature/flagd-core on 100,000 ASCII keys at several weights", () => {
    const core = new FlagdCore();
    const weightsBp = [1250, 5000, 500];
    const flags: Record<string, unknown> = {};
    for (const bp of weightsBp) {
      flags[`ramp-${bp}`] = {
        state: "ENABLED",
        defaultVariant: "baseline",
        variants: { baseline: "baseline", candidate: "candidate" },
        targeting: { fractional: [["candidate", bp], ["baseline", 10_000 - bp]] },
      };
    }
    core.setConfigurations(JSON.stringify({ flags }));
    let mismatches = 0;
    for (const bp of weightsBp) {
      const salt = prepareSalt(`ramp-${bp}`);
      for (let i = 0; i < 100_000 / weightsBp.length; i++) {
        const key = `u${i}-${(i * 2654435761) % 1000003}`;
        const theirs = core.resolveStringEvaluation(`ramp-${bp}`, "x", { targetingKey: key }).value;
        const ours = inCandidate(bucketOf(salt, key), bp) ? "candidate" : "baseline";
        if (theirs !== ours) mismatches++;
      }
    }
    expect(mismatches).toBe(0);
  });

  it("spreads keys uniformly over buckets (chi-square over 100,000 keys does not reject at 1%)", () => {
    const salt = prepareSalt("uniformity");
    const bins = new Array<number>(100).fill(0);
    const n = 100_000;
    for (const key of keys(n)) bins[Math.floor(bucketOf(salt, key) / 100)]! += 1;
    const expected = n / bins.length;
    const chi2 = bins.reduce((s, o) => s + (o - expected) ** 2 / expected, 0);
    expect(chi2).toBeLessThan(134.64); // χ²(99) at the 99th percentile
  });

  it("assigns independently across flags with different salts", () => {
    const a = prepareSalt("flag-a");
    const b = prepareSalt("flag-b");
    const table = [0, 0, 0, 0];
    for (const key of keys(100_000)) {
      const inA = bucketOf(a, key) < 5000 ? 1 : 0;
      const inB = bucketOf(b, key) < 5000 ? 1 : 0;
      table[inA * 2 + inB]! += 1;
    }
    const n = 100_000;
    const rowA = [table[0]! + table[1]!, table[2]! + table[3]!];
    const colB = [table[0]! + table[2]!, table[1]! + table[3]!];
    let chi2 = 0;
    for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) {
      const e = (rowA[i]! * colB[j]!) / n;
      chi2 += (table[i * 2 + j]! - e) ** 2 / e;
    }
    expect(chi2).toBeLessThan(6.635); // χ²(1) at the 99th percentile
  });

  it("correlates assignments exactly when two flags share a salt on purpose", () => {
    const shared = prepareSalt("shared-salt");
    for (const key of keys(1000)) expect(bucketOf(shared, key)).toBe(bucketOf(prepareSalt("shared-salt"), key));
  });

  it("only adds users when the weight rises: everyone in at 10% is still in at 50%", () => {
    const salt = prepareSalt("ramp");
    const at10 = keys(20_000).filter((k) => inCandidate(bucketOf(salt, k), weightToBasisPoints(10)));
    expect(at10.every((k) => inCandidate(bucketOf(salt, k), weightToBasisPoints(50)))).toBe(true);
    expect(at10.length / 20_000).toBeGreaterThan(0.09);
    expect(at10.length / 20_000).toBeLessThan(0.11);
  });

  it("is deterministic: the same key gets the same bucket from a fresh salt state", () => {
    expect(bucketOf(prepareSalt("feed-ranker"), "user-1")).toBe(bucketOf(prepareSalt("feed-ranker"), "user-1"));
    expect(weightToBasisPoints(12.5)).toBe(1250);
  });
});
