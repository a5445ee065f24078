/**
 * Sticky bucketing, flagd `fractional` v2: bucket = floor(h × 10000 / 2^32)
 * with h = murmur3_x86_32(utf8(salt + stickinessValue), seed 0). The
 * candidate gets bucket < weight × 100, so raising the weight only adds keys.
 * A published contract (docs/bucketing.md): never change it in place.
 */
import { hashFrom, prepareHash, type HashState } from "./murmur3";

export const BUCKETS = 10_000;
const TWO_POW_32 = 4_294_967_296;

export type Salt = HashState;

/** Hashes the salt once, so that each key costs only its own bytes. */
export function prepareSalt(salt: string): Salt {
  return prepareHash(salt, 0);
}

/** The 32-bit hash of a stickiness value under a prepared salt. */
export function hashOf(salt: Salt, stickinessValue: string): number {
  return hashFrom(salt, stickinessValue);
}

/** Bucket in [0, 10000) of a 32-bit hash. Exact in float64 (h × 10⁴ < 2⁵³). */
export function bucketOfHash(hash: number): number {
  return Math.floor((hash * BUCKETS) / TWO_POW_32);
}

/** Bucket in [0, 10000) of a stickiness value under a prepared salt. */
export function bucketOf(salt: Salt, stickinessValue: string): number {
  return bucketOfHash(hashFrom(salt, stickinessValue));
}

/** Basis points of a stage weight in percent (12.5 → 1250). */
export function weightToBasisPoints(weightPercent: number): number {
  return Math.round(weightPercent * 100);
}

/** Whether a bucket falls into the candidate at a weight in basis points. */
export function inCandidate(bucket: number, weightBasisPoints: number): boolean {
  return bucket < weightBasisPoints;
}
