import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { collapse, emptyCounts, MINUTE_MS, type CounterCell } from "../../core/counters";
import { COMPACT_AFTER_MS, COUNTER_RETENTION_MS, CounterStore } from "../../durable-objects/flag/counter-store";
import { flagStub } from "../../durable-objects/flag/stub";
import { Sql } from "../../durable-objects/sql";
import { booleanSpec, putFlag, uniqueKey } from "./helpers";

function cell(minute: number, arm: "baseline" | "candidate"): CounterCell {
  const counts = emptyCounts();
  counts.exposures = 10;
  return { generation: 1, stage: 0, arm, replicate: minute % 32, minute, counts };
}

describe("counter retention", () => {
  it("compacts old minute buckets into hours and deletes past retention, keeping storage bounded and totals intact", async () => {
    const key = uniqueKey("retention");
    await putFlag(booleanSpec(key));
    const now = Date.UTC(2026, 10, 22, 12, 0);
    const result = await runInDurableObject(flagStub(env, key), (_instance, state) => {
      const store = new CounterStore(new Sql(state.storage));
      const nowMinute = Math.floor(now / MINUTE_MS);
      const days = 2;
      for (let m = nowMinute - days * 1440; m < nowMinute; m += 60) {
        const cells: CounterCell[] = [];
        for (let i = 0; i < 60; i++) cells.push(cell(m + i, "baseline"), cell(m + i, "candidate"));
        state.storage.transactionSync(() => store.add(cells));
      }
      // And a bucket older than retention.
      state.storage.transactionSync(() => store.add([cell(Math.floor((now - COUNTER_RETENTION_MS) / MINUTE_MS) - 10, "baseline")]));
      const before = store.rowCount();
      const totalBefore = collapse(store.totals(1).stages["0"]?.candidate ?? []).exposures;
      const compacted = state.storage.transactionSync(() => store.compact(now));
      const recent = collapse(store.span(1, now - 3_600_000, now).candidate).exposures;
      const older = collapse(store.span(1, now - 40 * 3_600_000, now - 20 * 3_600_000).candidate).exposures;
      return { before, after: store.rowCount(), compacted, totalBefore, totalAfter: collapse(store.totals(1).stages["0"]?.candidate ?? []).exposures, recent, older };
    });
    const recentMinutes = COMPACT_AFTER_MS / MINUTE_MS;
    expect(result.before).toBe(2 * 2 * 1440 + 1);
    // At most: minute rows for the last 6 h (+ the partial hour), one row per older hour and replicate group, per arm.
    expect(result.after).toBeLessThanOrEqual(2 * (recentMinutes + 60 + 48 * 32));
    expect(result.compacted.deleted).toBeGreaterThan(0);
    expect(result.totalAfter).toBe(result.totalBefore);
    expect(result.recent).toBe(60 * 10);
    expect(result.older).toBe(20 * 60 * 10);
  });
});
