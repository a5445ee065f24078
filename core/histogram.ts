/**
 * Latency histogram with logarithmic buckets (the DDSketch mapping): bucket i
 * holds values in (γ^(i-1), γ^i] with γ = (1+a)/(1−a), a = 0.02. Reporting a
 * bucket by 2γ^i/(γ+1) is within 2% of any value in it, so every quantile
 * estimate is within 2% relative error of an exact quantile of the data.
 * Merging is adding counts per bucket.
 */
import type { Dict } from "./dict";

export const RELATIVE_ACCURACY = 0.02;
const GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY);
const LOG_GAMMA = Math.log(GAMMA);
/** Values at or below this (ms) share one bucket: sub-microsecond latencies are noise. */
const MIN_VALUE = 1e-3;
const ZERO_BUCKET = "z";

/** Bucket key → count. String keys, so the histogram survives JSON as is; prototype-free (see `dict`). */
export type Histogram = Dict<number>;

export function bucketKey(value: number): string {
  if (!(value > MIN_VALUE)) return ZERO_BUCKET;
  return String(Math.ceil(Math.log(value) / LOG_GAMMA));
}

/** The ordered index of a bucket (by key, or of the bucket a value falls in); the zero bucket is lowest. */
export function bucketIndex(keyOrValue: string | number): number {
  const key = typeof keyOrValue === "number" ? bucketKey(keyOrValue) : keyOrValue;
  return key === ZERO_BUCKET ? Number.NEGATIVE_INFINITY : Number(key);
}

export function addToHistogram(histogram: Histogram, value: number, count = 1): void {
  const key = bucketKey(value);
  histogram[key] = (histogram[key] ?? 0) + count;
}

export function mergeHistogram(target: Histogram, source: Readonly<Histogram>): void {
  for (const key in source) target[key] = (target[key] ?? 0) + (source[key] ?? 0);
}

function representative(key: string): number {
  if (key === ZERO_BUCKET) return 0;
  return (2 * GAMMA ** Number(key)) / (GAMMA + 1);
}

/** Total number of values. */
export function histogramCount(histogram: Readonly<Histogram>): number {
  let n = 0;
  for (const key in histogram) n += histogram[key] ?? 0;
  return n;
}

/**
 * The value at rank `rank` (0-based, fractional ranks rounded down) — the
 * lower q-quantile for rank = q·(n−1). Null for an empty histogram.
 */
export function valueAtRank(histogram: Readonly<Histogram>, rank: number): number | null {
  const entries = Object.entries(histogram)
    .filter(([, c]) => c > 0)
    .map(([k, c]) => [k === ZERO_BUCKET ? Number.NEGATIVE_INFINITY : Number(k), c, k] as const)
    .sort((a, b) => a[0] - b[0]);
  let seen = 0;
  const target = Math.max(0, Math.floor(rank));
  for (const [, count, key] of entries) {
    seen += count;
    if (seen > target) return representative(key);
  }
  const last = entries[entries.length - 1];
  return last ? representative(last[2]) : null;
}

/** The q-quantile (0 ≤ q ≤ 1), within 2% relative error; null when empty. */
export function quantile(histogram: Readonly<Histogram>, q: number): number | null {
  const n = histogramCount(histogram);
  if (n === 0) return null;
  return valueAtRank(histogram, q * (n - 1));
}
