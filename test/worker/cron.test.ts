import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { registryStub } from "../../durable-objects/registry/stub";
import { booleanSpec, call, cronAt, putFlag, uniqueKey } from "./helpers";

describe("cron", () => {
  it("takes a state report the registry missed, using the trigger's time", async () => {
    const key = uniqueKey("missed");
    await putFlag(booleanSpec(key, [{ weight: 10 }, { weight: 50 }, { weight: 100 }]));
    await call("POST", `/admin/flags/${key}/actions`, { body: { action: "promote" } });
    // Make the registry forget the report, as if the FlagDO's call had been lost.
    await runInDurableObject(registryStub(env), (_instance, state) => {
      state.storage.sql.exec("UPDATE flag_waves SET state_version = 0, state = json_set(state, '$.stageIndex', 0) WHERE key = ? AND wave = 1", key);
    });
    expect((await call("GET", `/admin/flags/${key}`)).json.state.stageIndex).toBe(0);

    await cronAt(Date.parse("2026-11-22T12:00:00Z"));

    const repaired = await call("GET", `/admin/flags/${key}`);
    expect(repaired.json.state).toMatchObject({ stageIndex: 1, status: "ramping" });
  });

  it("changes nothing when triggered again", async () => {
    const before = (await call("GET", "/admin/audit?limit=500")).json.entries.length;
    const head = await registryStub(env).getHead();
    for (let i = 0; i < 2; i++) {
      await cronAt(Date.now());
    }
    expect((await call("GET", "/admin/audit?limit=500")).json.entries.length).toBe(before);
    expect((await registryStub(env).getHead()).version).toBe(head.version);
  });

  it("reports flags an overlapping trigger already judged this minute as judged, not 0", async () => {
    await putFlag(booleanSpec(uniqueKey("overlap")));
    const minute = Math.ceil(Date.now() / 60_000) * 60_000 + 5 * 60_000;
    for (const at of [minute + 1_000, minute + 20_000]) {
      await cronAt(at);
    }
    const status = await call("GET", "/admin/cron");
    expect(status.json.last.now).toBe(minute + 20_000);
    expect(status.json.last.evaluated).toBeGreaterThan(0);
  });

  it("shows the live hold reason in /admin/flags at every tick without logging a decision each time", async () => {
    const key = uniqueKey("live-hold");
    await putFlag(booleanSpec(key, [{ weight: 20, hold: "4h" } as { weight: number }, { weight: 100 }]));
    const summary = async () => ((await call("GET", "/admin/flags")).json.flags as { key: string; judgement: { at: number; action: string; reason: string } | null }[]).find((f) => f.key === key);
    expect((await summary())?.judgement).toBeNull();
    const start = Math.ceil(Date.now() / 60_000) * 60_000 + 60 * 60_000;
    const seen: string[] = [];
    for (const at of [start + 1_000, start + 30 * 60_000, start + 60 * 60_000]) {
      await cronAt(at);
      const judgement = (await summary())?.judgement;
      expect(judgement).toMatchObject({ at, action: "hold" });
      seen.push(judgement?.reason ?? "");
    }
    // What the stage waits for moves on each minute…
    expect(seen, JSON.stringify(seen)).toHaveLength(3);
    expect(new Set(seen).size, JSON.stringify(seen)).toBe(3);
    // …while the log keeps one entry per rule, not one per minute.
    const holds = ((await call("GET", `/admin/flags/${key}/decisions?limit=50`)).json.decisions as { action: string }[]).filter((d) => d.action === "hold");
    expect(holds.length).toBeLessThanOrEqual(1);

    // An operator action makes the judgement stale until the cron looks again.
    await call("POST", `/admin/flags/${key}/actions`, { body: { action: "pause" } });
    expect((await summary())?.judgement).toBeNull();
  });
});
