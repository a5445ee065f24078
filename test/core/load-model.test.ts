import { describe, expect, it } from "vitest";
import { autoShards, callsPerObject, flushRate, shardsFor, simulateCalls } from "../../core/load-model";
import { seededRandom } from "../../core/random";

describe("hot-flag load model", () => {
  it("gives the flush cadence of the edge buffer's rule: the first record's wait plus the timer or the size limit", () => {
    expect(flushRate(100, 5000, 1000)).toBeCloseTo(1 / 5.01, 10);
    // Past FLUSH_MAX / FLUSH_MS records per second the size limit flushes first.
    expect(flushRate(1_000, 5000, 1000)).toBeCloseTo(1 / 1.001, 10);
    expect(flushRate(0, 5000, 1000)).toBe(0);
  });

  it("caps a busy isolate at one flush per FLUSH_MIN_MS, and leaves quieter isolates as they were", () => {
    expect(flushRate(10_000, 5000, 1000)).toBeCloseTo(1 / 0.1001, 6); // without the floor: ten a second
    expect(flushRate(10_000, 5000, 1000, 1000)).toBeCloseTo(1, 10);
    expect(flushRate(100, 5000, 1000, 1000)).toBe(flushRate(100, 5000, 1000));
    const load = { isolates: 100, evaluationsPerSecond: 1_000_000, flushMs: 5000, flushMax: 1000, flushMinMs: 1000, shards: 1 };
    const simulated = simulateCalls(load, 300, seededRandom(5))[0] ?? 0;
    expect(Math.abs(simulated - callsPerObject(load).total) / callsPerObject(load).total).toBeLessThan(0.02);
  });

  it("says 1M evaluations/s over 10,000 isolates needs 5 shards to stay under 500 calls/s per object", () => {
    const load = { isolates: 10_000, evaluationsPerSecond: 1_000_000, flushMs: 5000, flushMax: 1000 };
    expect(shardsFor(load, 500)).toBe(5);
    expect(callsPerObject({ ...load, shards: 4 }).busiest).toBeGreaterThan(500);
    expect(callsPerObject({ ...load, shards: 5 }).busiest).toBeLessThanOrEqual(500);
    expect(shardsFor({ ...load, isolates: 100_000 }, 500)).toBeNull();
  });

  it("matches a seeded simulation of isolates flushing by the rule within a few percent", () => {
    const isolates = 2_000;
    const lambda = 50;
    const horizon = 600;
    const load = { isolates, evaluationsPerSecond: isolates * lambda, flushMs: 5000, flushMax: 1000, shards: 1 };
    const calls = simulateCalls(load, horizon, seededRandom(3))[0] ?? 0;
    const model = callsPerObject(load).total;
    expect(Math.abs(calls - model) / model).toBeLessThan(0.02);
  });

  it("adds shards from an observed flush rate until each object's mean is at most 70% of the budget, never removing any", () => {
    expect(autoShards(1, 200)).toBe(1);
    expect(autoShards(1, 700)).toBe(2);
    // 1M evaluations/s over 10,000 isolates: ~2,000 calls/s in all, seen as 2,000 on one object.
    const total = callsPerObject({ isolates: 10_000, evaluationsPerSecond: 1_000_000, flushMs: 5_000, flushMax: 1_000, shards: 1 }).total;
    const shards = autoShards(1, total);
    expect(shards).toBe(6);
    // With those shards the model's busiest object is under the 500 calls/s budget.
    expect(callsPerObject({ isolates: 10_000, evaluationsPerSecond: 1_000_000, flushMs: 5_000, flushMax: 1_000, shards }).busiest).toBeLessThan(500);
    // Seen again with 6 shards, each object gets a sixth: no change; a quiet spell never removes shards.
    expect(autoShards(6, total / 6)).toBe(6);
    expect(autoShards(6, 0)).toBe(6);
    expect(autoShards(1, 1e9)).toBe(16);
  });
});
