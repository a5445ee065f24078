import { readdirSync, readFileSync } from "node:fs";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { toIssues } from "../../core/issues";
import { FlagSpecSchema, ManifestSchema, type FlagSpecInput } from "../../core/manifest";
import { parseAmount, parseDurationMs } from "../../core/units";

const EXAMPLES = new URL("../../examples/", import.meta.url);

function issuesOf(input: unknown) {
  const result = FlagSpecSchema.safeParse(input);
  if (result.success) throw new Error("expected the spec to be rejected");
  return toIssues(result.error.issues);
}

const base: FlagSpecInput = {
  key: "checkout",
  type: "boolean",
  variants: { baseline: false, candidate: true },
  rollout: { stages: [{ weight: 10 }, { weight: 100 }] },
};

describe("flag spec", () => {
  it("accepts every example flag in examples/ (six rollouts — one on a rule's cohort —, a guard and a targeting flag), and the scheduled spec", () => {
    const files = readdirSync(EXAMPLES).filter((f) => f.endsWith(".yaml"));
    expect(files.length).toBe(8);
    const cutoff = parse(readFileSync(new URL("schedules/feed-layout-cutoff.yaml", EXAMPLES), "utf8")) as { flag: string; spec: Record<string, unknown> };
    const scheduled = FlagSpecSchema.safeParse({ ...cutoff.spec, key: cutoff.flag });
    expect(scheduled.success ? [] : toIssues(scheduled.error.issues)).toEqual([]);
    for (const file of files) {
      const result = FlagSpecSchema.safeParse(parse(readFileSync(new URL(file, EXAMPLES), "utf8")));
      expect(result.success ? [] : toIssues(result.error.issues), file).toEqual([]);
    }
  });

  it("parses durations and amounts once, into numbers in the gate's unit", () => {
    const spec = FlagSpecSchema.parse(parse(readFileSync(new URL("retriever-canary.yaml", EXAMPLES), "utf8")));
    expect(spec.rollout.window).toBe(600_000);
    expect(spec.rollout.stages[0]).toEqual({ weight: 5, shadow: false, hold: 1_800_000 });
    const [errorRate, p95, quality] = spec.gates;
    expect(errorRate).toMatchObject({ metric: "error_rate", compare: "absolute", rollback: 0.002 });
    expect(p95).toMatchObject({ compare: "relative", warn: 0.1, rollback: 0.15 });
    expect(quality).toMatchObject({ compare: "absolute", rollback: 0.05, action: "hold" });
    expect(spec.abort[0]).toEqual({ metric: "error_rate", direction: "above", level: 0.01, sustained: 600_000, soft: false });
    expect(spec.abort[1]).toMatchObject({ metric: "latency_p95", direction: "above", level: 20 });
    expect(spec.stickiness).toBe("targetingKey");
  });

  it("reads floor, ceiling and informational gates as levels", () => {
    const spec = FlagSpecSchema.parse(parse(readFileSync(new URL("prompt-pack.yaml", EXAMPLES), "utf8")));
    expect(spec.gates.find((g) => g.metric === "coverage")).toMatchObject({ compare: "floor", bad: "decrease", rollback: 0.7 });
    expect(spec.gates.find((g) => g.metric === "tool_success")).toMatchObject({ compare: "floor", rollback: 0.99 });
    expect(spec.gates.find((g) => g.metric === "cost_per_solved")).toMatchObject({ informational: true, warn: 0.1 });
    expect(spec.pins.candidate).toMatchObject({ MODEL_VER: "gpt-4o-2025-07-15" });
  });

  it("names the path of every problem", () => {
    const issues = issuesOf({
      ...base,
      key: "bad key",
      rollout: { stages: [{ weight: 10 }, { weight: 200 }] },
    });
    expect(issues).toContainEqual({ path: "key", message: expect.stringContaining("A-Z a-z 0-9") });
    expect(issues).toContainEqual({ path: "rollout.stages[1].weight", message: "must be 0..100" });
  });

  it("rejects unknown fields, at any depth", () => {
    expect(issuesOf({ ...base, colour: "red" })).toContainEqual({ path: "", message: expect.stringContaining("colour") });
    expect(issuesOf({ ...base, rollout: { stages: [{ weight: 100, wait: "1h" }] } })[0]?.path).toBe("rollout.stages[0]");
  });

  it("checks variants against the declared type", () => {
    expect(issuesOf({ ...base, variants: { baseline: false, candidate: "yes" } })).toEqual([
      { path: "variants.candidate", message: "must be a boolean (type: boolean)" },
    ]);
    expect(issuesOf({ ...base, type: "object", variants: { baseline: {}, candidate: [1] } })[0]?.path).toBe("variants.candidate");
  });

  it("requires stages that climb, a shadow stage only first, and an end at 100", () => {
    expect(issuesOf({ ...base, rollout: { stages: [{ weight: 50 }, { weight: 10 }, { weight: 100 }] } })).toContainEqual({
      path: "rollout.stages[1].weight",
      message: "must be above the previous stage's 50",
    });
    expect(issuesOf({ ...base, rollout: { stages: [{ weight: 10 }, { weight: 50 }] } })[0]?.path).toBe("rollout.stages[1].weight");
    expect(issuesOf({ ...base, rollout: { stages: [{ weight: 10 }, { weight: 0, shadow: true }, { weight: 100 }] } }).map((i) => i.path)).toContain(
      "rollout.stages[1].shadow",
    );
    expect(issuesOf({ ...base, rollout: { stages: [{ weight: 0 }, { weight: 100 }] } })[0]?.message).toContain("shadow");
  });

  it("refuses an amount that does not fit its comparison, saying what to write instead", () => {
    const gate = (g: Record<string, unknown>) => ({ ...base, gates: [g] });
    expect(issuesOf(gate({ metric: "error_rate", bad: "increase", rollback: "0.2pp" }))[0]).toEqual({
      path: "gates[0].rollback",
      message: expect.stringContaining("compare: absolute"),
    });
    expect(issuesOf(gate({ metric: "error_rate", bad: "increase", compare: "absolute", rollback: "2%" }))[0]?.path).toBe("gates[0].rollback");
    expect(issuesOf(gate({ metric: "latency_p95", rollback: "15%" }))[0]).toEqual({ path: "gates[0].bad", message: expect.stringContaining("bad: increase") });
    expect(issuesOf(gate({ metric: "ctr", bad: "decrease", rollback: "5%" }))[0]).toEqual({ path: "gates[0].metric", message: expect.stringContaining("unknown metric") });
    expect(issuesOf(gate({ metric: "error_rate", bad: "increase", warn: "10%", rollback: "5%" }))[0]?.path).toBe("gates[0].rollback");
    expect(issuesOf(gate({ metric: "shadow_agreement", compare: "floor", warn: "75%", rollback: "85%" }))[0]?.path).toBe("gates[0].rollback");
    expect(issuesOf(gate({ metric: "error_rate", bad: "increase", rollback: "soon" }))[0]?.message).toContain("amount like");
    expect(issuesOf({ ...base, rollout: { window: "ten minutes", stages: [{ weight: 100 }] } })[0]).toEqual({
      path: "rollout.window",
      message: expect.stringContaining("duration like"),
    });
  });

  it("requires exactly one of above/below in an abort rule", () => {
    expect(issuesOf({ ...base, abort: [{ metric: "error_rate", above: "1%", below: "0.1%" }] })[0]?.path).toBe("abort[0].above");
  });

  it("finds duplicate keys in a manifest", () => {
    const result = ManifestSchema.safeParse({ flags: [base, base] });
    expect(result.success).toBe(false);
    if (!result.success) expect(toIssues(result.error.issues)).toContainEqual({ path: "flags[1].key", message: expect.stringContaining("duplicate") });
  });
});

describe("units", () => {
  it("parses durations", () => {
    expect(parseDurationMs("10s")).toBe(10_000);
    expect(parseDurationMs("15m")).toBe(900_000);
    expect(parseDurationMs("2d")).toBe(172_800_000);
    expect(parseDurationMs("1.5h")).toBe(5_400_000);
    expect(parseDurationMs("250ms")).toBe(250);
    expect(parseDurationMs("10")).toBeNull();
    expect(parseDurationMs("1w")).toBeNull();
  });

  it("parses amounts with their unit", () => {
    expect(parseAmount("5%")).toEqual({ value: 0.05, unit: "percent" });
    expect(parseAmount("0.2pp")).toEqual({ value: 0.002, unit: "pp" });
    expect(parseAmount("0.05")).toEqual({ value: 0.05, unit: "plain" });
    expect(parseAmount(200)).toEqual({ value: 200, unit: "plain" });
    expect(parseAmount("five")).toBeNull();
    expect(parseAmount(Number.NaN)).toBeNull();
  });
});

describe("published snapshot entries", () => {
  it("parse again at the edge: every parsed field of a spec is valid input (examples, and a route with a shadow)", async () => {
    const { snapshotFlagOf, SnapshotFlagSchema } = await import("../../core/snapshot");
    const { initialState } = await import("../../core/rollout");
    const files = readdirSync(EXAMPLES).filter((f) => f.endsWith(".yaml"));
    const specs = files.map((f) => FlagSpecSchema.parse(parse(readFileSync(new URL(f, EXAMPLES), "utf8"))));
    specs.push(
      FlagSpecSchema.parse({
        ...base,
        key: "routed",
        route: { pathPrefix: "/api/", origins: { baseline: "https://a.test", candidate: "https://b.test" }, shadow: { timeout: "2s", sampleRate: 0.5 } },
      }),
    );
    for (const spec of specs) {
      const entry = snapshotFlagOf(spec, initialState(spec.rollout.stages, 1, 1, 0), 1);
      const again = SnapshotFlagSchema.safeParse(JSON.parse(JSON.stringify(entry)));
      expect(again.success ? [] : toIssues(again.error.issues), spec.key).toEqual([]);
      expect(again.data).toEqual(entry);
    }
  });
});
