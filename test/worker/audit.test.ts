import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ADMIN_AUTH, booleanSpec, call, putFlag, uniqueKey } from "./helpers";

async function exportAudit(query: string): Promise<{ status: number; type: string | null; lines: Record<string, any>[] }> {
  const r = await SELF.fetch(`https://rampart.test/admin/audit/export${query}`, { headers: ADMIN_AUTH });
  const text = await r.text();
  return { status: r.status, type: r.headers.get("content-type"), lines: r.ok ? text.trimEnd().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record<string, any>) : [JSON.parse(text) as Record<string, any>] };
}

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

  it("exports the trail as NDJSON, oldest first, filtered by flag, actor (or an actor prefix) and time, past one page", async () => {
    const key = uniqueKey("export");
    const start = Date.now();
    await putFlag(booleanSpec(key));
    const actions = Array.from({ length: 12 }, (_, j) => call("POST", `/admin/flags/${key}/actions`, { body: { action: "force", variant: j % 2 ? "candidate" : "baseline", reason: `r${j}` }, headers: { "x-rampart-actor": j % 3 === 0 ? "ops-bot" : "ana" } }));
    await Promise.all(actions);
    // More entries than one page of the export (200): segment writes, audited, by one actor.
    const bot = uniqueKey("seg-bot");
    for (let i = 0; i < 10; i++) {
      await Promise.all(Array.from({ length: 23 }, (_, j) => call("PUT", `/admin/segments/${bot}-${j}`, { body: { keys: [`k${i}`] }, headers: { "x-rampart-actor": bot } })));
    }
    const all = await exportAudit(`?flag=${key}`);
    expect(all.type).toBe("application/x-ndjson");
    expect(all.lines.length).toBe(1 + 12);
    expect(all.lines.every((e) => e["flag"] === key)).toBe(true);
    expect((await exportAudit(`?flag=${key}&actor=admin:ops-bot`)).lines.length).toBe(4);
    expect((await exportAudit(`?flag=${key}&actor=admin:*`)).lines.length).toBe(12);
    const paged = await exportAudit(`?actor=admin:${bot}`);
    expect(paged.lines.length).toBe(230);
    const ids = paged.lines.map((e) => e["id"] as number);
    expect(new Set(ids).size).toBe(230);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    const from = paged.lines[100]?.["at"] as number;
    const later = await exportAudit(`?actor=admin:${bot}&from=${from}`);
    expect(later.lines.every((e) => (e["at"] as number) >= from)).toBe(true);
    expect(later.lines.length).toBeLessThanOrEqual(130 + 23);
    expect((await exportAudit(`?flag=${key}&to=${start - 1}`)).lines).toEqual([]);
    const bad = await exportAudit("?from=yesterday");
    expect(bad.status).toBe(400);
    expect(bad.lines[0]?.["issues"]?.[0]?.path).toBe("from");
  }, 60_000);
});
