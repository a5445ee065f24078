import { describe, expect, it } from "vitest";
import type { CounterCell } from "../../core/counters";
import { CounterBuffer, MAX_FLUSH_ATTEMPTS } from "../../worker/flush";

const noTimer = (work: Promise<unknown>) => void work.catch(() => undefined);

function sinkRecorder(failFor = new Set<string>()) {
  const calls: { flag: string; cells: CounterCell[] }[] = [];
  const sink = (flag: string, _shard: number, cells: CounterCell[]) => {
    calls.push({ flag, cells });
    return failFor.has(flag) ? Promise.reject(new Error("FlagDO unavailable")) : Promise.resolve();
  };
  return { calls, sink };
}

const exposures = (cells: CounterCell[]) => cells.reduce((s, c) => s + c.counts.exposures, 0);

describe("edge counter buffer", () => {
  it("sends one call per flag per flush, with every exposure, when the size limit is reached", async () => {
    const { calls, sink } = sinkRecorder();
    const buffer = new CounterBuffer(sink, { flushMs: 60_000, maxSize: 1000 }, () => 1_000_000);
    const scheduled: Promise<unknown>[] = [];
    for (let i = 0; i < 1000; i++) buffer.addExposure(i % 2 ? "a" : "b", 1, 0, i % 3 ? "baseline" : "candidate", (w) => scheduled.push(w.catch(() => undefined)));
    await buffer.flush();
    expect(calls.map((c) => c.flag).sort()).toEqual(["a", "b"]);
    expect(calls.reduce((s, c) => s + exposures(c.cells), 0)).toBe(1000);
    expect(buffer.bufferedExposures()).toBe(0);
  });

  it("keeps a cell per arm and minute: counts land in the minute they happened", async () => {
    const { calls, sink } = sinkRecorder();
    let now = 0;
    const buffer = new CounterBuffer(sink, { flushMs: 600_000, maxSize: 10_000 }, () => now);
    for (let i = 0; i < 3; i++) buffer.addExposure("f", 1, 0, "candidate", noTimer);
    buffer.addExposure("f", 1, 0, "baseline", noTimer);
    now = 60_000;
    buffer.addExposure("f", 1, 0, "candidate", noTimer);
    buffer.addExposure("f", 2, 0, "candidate", noTimer); // a new generation in the same minute
    await buffer.flush();
    const cells = calls[0]?.cells.map((c) => [c.generation, c.arm, c.minute, c.counts.exposures]);
    expect(cells).toEqual([
      [1, "candidate", 0, 3],
      [1, "baseline", 0, 1],
      [1, "candidate", 1, 1],
      [2, "candidate", 1, 1],
    ]);
  });

  it("retries a failed flush with the next one, and gives up after a bound", async () => {
    const failing = new Set(["down"]);
    const { calls, sink } = sinkRecorder(failing);
    const buffer = new CounterBuffer(sink, { flushMs: 60_000, maxSize: 10_000 }, () => 0);
    buffer.addExposure("down", 1, 0, "candidate", noTimer);
    buffer.addExposure("up", 1, 0, "candidate", noTimer);
    await buffer.flush();
    expect(buffer.bufferedExposures()).toBe(1); // put back
    for (let i = 1; i < MAX_FLUSH_ATTEMPTS; i++) await buffer.flush();
    expect(buffer.bufferedExposures()).toBe(0);
    expect(buffer.stats.dropped).toBe(1);
    expect(calls.filter((c) => c.flag === "down")).toHaveLength(MAX_FLUSH_ATTEMPTS);
    expect(calls.filter((c) => c.flag === "up")).toHaveLength(1);
  });

  it("recovers when the flag comes back before the bound", async () => {
    const failing = new Set(["flaky"]);
    const { calls, sink } = sinkRecorder(failing);
    const buffer = new CounterBuffer(sink, { flushMs: 60_000, maxSize: 10_000 }, () => 0);
    buffer.addExposure("flaky", 1, 0, "baseline", noTimer);
    await buffer.flush();
    failing.clear();
    buffer.addExposure("flaky", 1, 0, "baseline", noTimer);
    await buffer.flush();
    const last = calls[calls.length - 1];
    expect(exposures(last?.cells ?? [])).toBe(2);
  });
});
