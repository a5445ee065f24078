import { describe, expect, it } from "vitest";
import { booleanSpec, call, putFlag, uniqueKey } from "./helpers";

describe("the audit log", () => {
  it("keeps every operator action when actions race spec changes, once each", async () => {
    const key = uniqueKey("race");
    await putFlag(booleanSpec(key));
    const puts = Array.from({ length: 20 }, (_, i) => call("PUT", `/admin/flags/${key}`, { body: { ...booleanSpec(key), description: `edit ${i}` } }));
    const actions = Array.from({ length: 20 }, (_, i) => call("POST", `/admin/flags/${key}/actions`, { body: { action: "force", variant: i % 2 ? "candidate" : "baseline", reason: `race ${i}` } }));
    const results = await Promise.all([...puts, ...actions]);
    expect(results.every((r) => r.status < 300)).toBe(true);
    const audit = (await call("GET", "/admin/audit?limit=500")).json.entries as { flag: string; action: string; summary: string }[];
    const forced = audit.filter((e) => e.flag === key && e.action.startsWith("force"));
    expect(forced).toHaveLength(20);
    expect(new Set(forced.map((e) => e.summary.match(/race \d+/)?.[0])).size).toBe(20);
    const decisions = (await call("GET", `/admin/flags/${key}/decisions?limit=100`)).json.decisions as { action: string }[];
    expect(decisions.filter((d) => d.action.startsWith("force"))).toHaveLength(20);
  });
});
