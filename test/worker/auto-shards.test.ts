/** Counter shards chosen from the observed flush rate: a hot flag spreads its flushes without a spec edit. */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { minuteOf } from "../../core/counters";
import { SnapshotEnvelopeSchema } from "../../core/snapshot";
import { counterShardStub, flagStub } from "../../durable-objects/flag/stub";
import { registryStub } from "../../durable-objects/registry/stub";
import { booleanSpec, call, cronAt, minuteBatch, putFlag, uniqueKey } from "./helpers";

async function publishedShards(key: string): Promise<number> {
  const snapshot = SnapshotEnvelopeSchema.parse(JSON.parse(await registryStub(env).getSnapshotJson()));
  const entry = snapshot.flags.find((f) => (f as { key: string }).key === key) as { counterShards: number } | undefined;
  return entry?.counterShards ?? 0;
}

describe("automatic counter shards", () => {
  it("a flag whose object takes 700 flushes a second gets a second shard, edges are told, and the shard's counts are judged", async () => {
    const key = uniqueKey("hot");
    const created = await putFlag(booleanSpec(key));
    const start = created.state.stageEnteredAt as number;
    await cronAt(start + 60_000);
    expect(await publishedShards(key)).toBe(1);
    // A minute of 700 flushes a second into the flag's object (stood in for by its flush counter; 42,000 RPCs would be the same count).
    await runInDurableObject(flagStub(env, key), (_instance, state) => {
      state.storage.sql.exec("UPDATE stats SET v = v + 42000 WHERE k = 'counter_batches'");
      state.storage.sql.exec("INSERT OR IGNORE INTO stats (k, v) VALUES ('counter_batches', 42000)");
    });
    await cronAt(start + 120_000);
    expect(await publishedShards(key)).toBe(2);
    const audit = (await call("GET", `/admin/audit?flag=${key}`)).json.entries as { action: string; summary: string }[];
    expect(audit.find((e) => e.action === "counter_shards")?.summary).toContain("2 counter shards");

    // Counts an edge sends to the new shard are read with the flag's own.
    await flagStub(env, key).addCounts(minuteBatch(1, 0, minuteOf(start) + 2, { baseline: [1_000, 50], candidate: [1_000, 50] }));
    await counterShardStub(env, key, 1).addCounts(minuteBatch(1, 0, minuteOf(start) + 2, { baseline: [500, 25], candidate: [500, 25] }));
    const report = (await call("GET", `/admin/flags/${key}/report?from=0&to=${start + 600_000}`)).json;
    expect(report.arms.baseline.exposures + report.arms.candidate.exposures).toBe(3_000);
    // A quiet minute after never takes the shard away (its counts must stay readable).
    await cronAt(start + 180_000);
    expect(await publishedShards(key)).toBe(2);
  }, 30_000);
});
