import { describe, expect, it } from "vitest";
import type { CounterCell } from "../../core/counters";
import { CounterBuffer, MAX_BATCH_ATTEMPTS, type Batch } from "../../worker/flush";

const noTimer = (work: Promise<unknown>) => void work.catch(() => undefined);
const noSleep = () => Promise.resolve();

function sinkRecorder(failFor = new Set<string>()) {
  const calls: { flag: string; batch: Batch }[] = [];
  const sink = (flag: string, _shard: number, batch: Batch) => {
    calls.push({ flag, batch });
    return failFor.has(flag) ? Promise.reject(new Error("FlagDO unavailable")) : Promise.resolve();
  };
  return { calls, sink };
}

const exposures = (cells: CounterCell[]) => cells.reduce((s, c) => s + c.counts.exposures, 0);

describe("edge counter buffer", () => {
  it("sends one call per flag per flush, with every exposure, when the size limit is reached", async () => {
    const { calls, sink } = sinkRecorder();
    const buffer = new CounterBuffer(sink, { flushMs: 60_000, maxSize: 1000 }, () => 1_000_000, noSleep);
    const scheduled: Promise<unknown>[] = [];
    for (let i = 0; i < 1000; i++) buffer.addExposure(i % 2 ? "a" : "b", 1, 0, i % 3 ? "baseline" : "candidate", i % 32, (w) => scheduled.push(w.catch(() => undefined)));
    await Promise.all(scheduled);
    await buffer.flush();
    expect(calls.map((c) => c.flag).sort()).toEqual(["a", "b"]);
    expect(calls.reduce((s, c) => s + exposures(c.batch.cells), 0)).toBe(1000);
    expect(buffer.bufferedExposures()).toBe(0);
  });

  it("a busy isolate flushes a full buffer at most once per minIntervalMs, losing no record", async () => {
    const { calls, sink } = sinkRecorder();
    let now = 0;
    const buffer = new CounterBuffer(sink, { flushMs: 60_000, maxSize: 100, minIntervalMs: 1_000 }, () => now, noSleep);
    const scheduled: Promise<unknown>[] = [];
    const schedule = (w: Promise<unknown>) => void scheduled.push(w);
    // 10,000 records/s for 2.5 s, in 10 ms steps of 100.
    for (now = 0; now < 2_500; now += 10) for (let i = 0; i < 100; i++) buffer.addExposure("hot", 1, 0, i % 2 ? "baseline" : "candidate", i % 32, schedule);
    // Size-limit flushes at 0, 1,000 and 2,000 ms (not 250 of them), each one call with every record since the last.
    expect(calls).toHaveLength(3);
    await Promise.all(scheduled); // the timed flush takes the rest
    await buffer.flush();
    expect(calls.reduce((sum, c) => sum + exposures(c.batch.cells), 0)).toBe(25_000);
  });

  it("keeps a cell per arm, replicate group and minute: counts land in the minute they happened", async () => {
    const { calls, sink } = sinkRecorder();
    let now = 0;
    const buffer = new CounterBuffer(sink, { flushMs: 600_000, maxSize: 10_000 }, () => now, noSleep);
    for (let i = 0; i < 3; i++) buffer.addExposure("f", 1, 0, "candidate", 7, noTimer);
    buffer.addExposure("f", 1, 0, "candidate", 8, noTimer);
    buffer.addExposure("f", 1, 0, "baseline", 7, noTimer);
    now = 60_000;
    buffer.addExposure("f", 1, 0, "candidate", 7, noTimer);
    buffer.addExposure("f", 2, 0, "candidate", 7, noTimer); // a new generation in the same minute
    await buffer.flush();
    const cells = calls[0]?.batch.cells.map((c) => [c.generation, c.arm, c.replicate, c.minute, c.counts.exposures]);
    expect(cells).toEqual([
      [1, "candidate", 7, 0, 3],
      [1, "candidate", 8, 0, 1],
      [1, "baseline", 7, 0, 1],
      [1, "candidate", 7, 1, 1],
      [2, "candidate", 7, 1, 1],
    ]);
  });

  it("retries a failed batch with the same id inside the flush, so a quiet isolate retries without a new request", async () => {
    const failing = new Set(["flaky"]);
    const { calls, sink } = sinkRecorder(failing);
    const slept: number[] = [];
    const buffer = new CounterBuffer(sink, { flushMs: 60_000, maxSize: 10_000 }, () => 0, async (ms) => {
      slept.push(ms);
      if (ms === 1_000) failing.clear(); // the FlagDO comes back during the second backoff
    });
    buffer.addExposure("flaky", 1, 0, "baseline", 3, noTimer);
    await buffer.flush(); // no further addExposure: nothing but the flush itself retries
    const ids = calls.map((c) => c.batch.id);
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(1);
    expect(slept.filter((ms) => ms < 60_000)).toEqual([250, 1_000]); // (60 s is the buffer's own flush timer)
    expect(buffer.parkedBatches()).toBe(0);
    expect(buffer.stats.dropped).toBe(0);
  });

  it("parks a batch that keeps failing, sends it again (same id) with the next flush, and drops it after a bound", async () => {
    const failing = new Set(["down"]);
    const { calls, sink } = sinkRecorder(failing);
    const buffer = new CounterBuffer(sink, { flushMs: 60_000, maxSize: 10_000, retryDelaysMs: [1] }, () => 0, noSleep);
    buffer.addExposure("down", 1, 0, "candidate", 0, noTimer);
    buffer.addExposure("up", 1, 0, "candidate", 0, noTimer);
    await buffer.flush();
    expect(buffer.parkedBatches()).toBe(1);
    for (let i = 0; i < MAX_BATCH_ATTEMPTS; i++) await buffer.flush();
    expect(buffer.parkedBatches()).toBe(0);
    expect(buffer.stats.dropped).toBe(1);
    const down = calls.filter((c) => c.flag === "down");
    expect(down).toHaveLength(MAX_BATCH_ATTEMPTS);
    expect(new Set(down.map((c) => c.batch.id)).size).toBe(1);
    expect(calls.filter((c) => c.flag === "up")).toHaveLength(1);
  });

  it("shares no promise between flushes: a second flush while one is in flight sends its own data and returns its own promise", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const calls: Batch[] = [];
    const buffer = new CounterBuffer(async (_f, _s, batch) => {
      calls.push(batch);
      if (calls.length === 1) await gate;
    }, { flushMs: 60_000, maxSize: 10_000 }, () => 0, noSleep);
    buffer.addExposure("f", 1, 0, "candidate", 0, noTimer);
    const first = buffer.flush();
    buffer.addExposure("f", 1, 0, "candidate", 1, noTimer);
    const second = buffer.flush();
    expect(second).not.toBe(first);
    await second; // does not wait on the first request's I/O
    expect(calls).toHaveLength(2);
    release();
    await first;
  });
});
