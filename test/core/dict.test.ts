import { describe, expect, it } from "vitest";
import { ArmCountsSchema, emptyCounts, mergeCounts, parseCounts, recordEvent } from "../../core/counters";
import { canonicalJson } from "../../core/canonical";

const INHERITED = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf", "isPrototypeOf"];

describe("counters keyed by user-chosen event names", () => {
  it("store names that collide with Object.prototype members and survive storage", () => {
    const counts = emptyCounts();
    for (const name of INHERITED) recordEvent(counts, name, 2);
    expect(Object.keys(counts.events).sort()).toEqual([...INHERITED].sort());
    const back = parseCounts(JSON.stringify(counts));
    const merged = mergeCounts(back, counts);
    for (const name of INHERITED) expect(merged.events[name]).toEqual({ count: 2, sum: 4, sumSq: 8 });
    expect(Object.getPrototypeOf(merged.events)).toBeNull();
    expect(({} as Record<string, unknown>)["count"]).toBeUndefined();
  });

  it("refuse malformed stored counts with the path of the problem", () => {
    const bad = ArmCountsSchema.safeParse({ ...JSON.parse(JSON.stringify(emptyCounts())), events: { click: { count: -1, sum: 0, sumSq: 0 } } });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(["events", "click", "count"]);
  });

  it("canonical JSON keeps a __proto__ key, so it reaches fingerprints", () => {
    expect(canonicalJson(JSON.parse('{"b":1,"__proto__":{"x":1}}'))).toBe('{"__proto__":{"x":1},"b":1}');
  });
});
