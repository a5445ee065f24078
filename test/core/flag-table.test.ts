/** LayeredMap: a delta's flags over the previous snapshot's map, which never changes under a reader. */
import { describe, expect, it } from "vitest";
import { COMPACT_AT, LayeredMap } from "../../core/flag-table";

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
