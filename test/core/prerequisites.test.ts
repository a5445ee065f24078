import { describe, expect, it } from "vitest";
import { compileFlag } from "../../core/assign";
import { FlagSpecSchema, type FlagSpec } from "../../core/manifest";
import { MAX_PREREQUISITE_DEPTH, prerequisiteProblems, snapshotScope } from "../../core/prerequisites";
import { snapshotFlagOf } from "../../core/snapshot";
import { stateOf } from "./fixtures";

const requiring = (key: string, requires: string | null): FlagSpec =>
  FlagSpecSchema.parse({
    key, kind: "targeting", type: "boolean", variants: { on: true, off: false }, defaultVariant: "off",
    prerequisites: requires ? [{ flag: requires, variants: ["on"] }] : [],
    rules: [{ serve: { variant: "on" } }],
  });

describe("prerequisites", () => {
  it("writes out a cycle however long, from the flag written", () => {
    const all = new Map([["a", requiring("a", "b")], ["b", requiring("b", "c")], ["c", requiring("c", "a")]]);
    expect(prerequisiteProblems(all, [all.get("c") as FlagSpec])).toEqual([{ key: "c", path: ["prerequisites", 0, "flag"], message: "a cycle: c → a → b → c" }]);
    expect(prerequisiteProblems(new Map([["a", requiring("a", "b")], ["b", requiring("b", null)]]), [requiring("a", "b")])).toEqual([]);
  });

  it("follows a chain in the snapshot, and stops past the depth bound rather than loop on a damaged one", () => {
    const chain = (length: number) => {
      const flags = new Map(Array.from({ length }, (_, i) => {
        const spec = requiring(`f${i}`, i + 1 < length ? `f${i + 1}` : null);
        return [spec.key, compileFlag(snapshotFlagOf(spec, stateOf(spec), 1), 1)] as const;
      }));
      return snapshotScope(flags, (f) => f).variantOf("f0", { targetingKey: "u" });
    };
    expect(chain(MAX_PREREQUISITE_DEPTH)).toBe("on");
    expect(chain(MAX_PREREQUISITE_DEPTH + 2)).toBe("off");
    // A cycle that got past the checks (a damaged snapshot) ends, unmet.
    const a = requiring("a", "b");
    const b = requiring("b", "a");
    const looped = new Map([a, b].map((s) => [s.key, compileFlag(snapshotFlagOf(s, stateOf(s), 1), 1)] as const));
    expect(snapshotScope(looped, (f) => f).variantOf("a", { targetingKey: "u" })).toBe("off");
  });
});
