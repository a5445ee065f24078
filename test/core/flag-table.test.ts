/** LayeredMap: a delta's flags over the previous snapshot's map, which never changes under a reader. */
import { describe, expect, it } from "vitest";
import { applyDelta, compileSnapshot } from "../../core/compile";
import { COMPACT_AT, LayeredMap } from "../../core/flag-table";
import type { FlagSpecInput } from "../../core/manifest";
import { snapshotFlagOf } from "../../core/snapshot";
import { specOf, stateOf } from "./fixtures";

const base = () => new Map<string, number>(Array.from({ length: 10 }, (_, i) => [`k${i}`, i]));

describe("LayeredMap", () => {
  it("reads changed, added and deleted keys like a copied map would, and leaves the previous map as it was", () => {
    const previous = base();
    const next = LayeredMap.applied(previous, new Map([["k1", 100], ["new", 7]]), ["k2", "absent"]);
    const expected = new Map(previous);
    expected.set("k1", 100).set("new", 7).delete("k2");
    expect(next.get("k1")).toBe(100);
    expect(next.get("k2")).toBeUndefined();
    expect(next.has("k2")).toBe(false);
    expect(next.has("new")).toBe(true);
    expect(next.size).toBe(expected.size);
    expect(new Map(next)).toEqual(expected);
    expect([...next.values()].sort((a, b) => a - b)).toEqual([...expected.values()].sort((a, b) => a - b));
    expect(previous.get("k1")).toBe(1);
    expect(previous.size).toBe(10);
  });

  it("stacks deltas without nesting, re-adds a deleted key, and folds into a plain map once the layer is big", () => {
    let map: ReadonlyMap<string, number> = base();
    map = LayeredMap.applied(map, new Map(), ["k3"]);
    const middle = map;
    map = LayeredMap.applied(map, new Map([["k3", 33]]), []);
    expect(map.get("k3")).toBe(33);
    expect(middle.get("k3")).toBeUndefined();
    expect(map).toBeInstanceOf(LayeredMap);
    let folded = false;
    for (let i = 0; i < COMPACT_AT; i++) {
      map = LayeredMap.applied(map, new Map([[`x${i}`, i]]), []);
      folded ||= !(map instanceof LayeredMap);
    }
    expect(folded).toBe(true);
    expect(map.size).toBe(10 + COMPACT_AT);
    expect(map.get("k3")).toBe(33);
  });
});

describe("a compiled snapshot's route and wave lists", () => {
  const entry = (key: string, extra: Partial<FlagSpecInput> = {}) => {
    const spec = specOf({ key, ...extra });
    return snapshotFlagOf(spec, stateOf(spec), 1);
  };
  const route = { pathPrefix: "/r", origins: { baseline: "https://a.example", candidate: "https://b.example" } };

  it("lists the flags that route or have waves without compiling the others, and keeps the lists through deltas", () => {
    const snapshot = compileSnapshot({ version: 1, etag: '"1"', publishedAt: 0, flags: [entry("plain"), entry("routed", { route }), entry("waved", { waves: [["us"], ["rest"]] })] });
    expect(snapshot.routeKeys).toEqual(["routed"]);
    expect(snapshot.waveKeys).toEqual(["waved"]);
    // A delta: the plain flag gains a route, the routed one loses it, the waved one is deleted.
    const next = applyDelta(snapshot, { version: 2, etag: '"2"' }, new Map([["plain", entry("plain", { route })], ["routed", entry("routed")]]), ["waved"], 0);
    expect(next.routeKeys).toEqual(["plain"]);
    expect(next.waveKeys).toEqual([]);
    expect(next.flags.get("routed")?.source.route).toBeUndefined();
    expect(snapshot.routeKeys).toEqual(["routed"]);
  });
});
