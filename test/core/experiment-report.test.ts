import { describe, expect, it } from "vitest";
import { assign, type Served } from "../../core/assign";
import { emptyReplicated, recordEvent, REPLICATES, type Replicated } from "../../core/counters";
import { experimentToken, parseExperimentToken } from "../../core/experiment";
import { buildExperimentReport } from "../../core/experiment-report";
import type { Gate } from "../../core/gate-spec";
import { judgeGate } from "../../core/gate-verdict";
import { FlagSpecSchema, type FlagSpecInput } from "../../core/manifest";
import { EXPERIMENT_SCENARIOS, runExperiments } from "../../scripts/lib/experiment-simulation";
import { compiled } from "./fixtures";

const layout = (split: { variant: string; weight: number }[], experiment: Record<string, unknown> = { control: "grid" }, more: Partial<FlagSpecInput> = {}): FlagSpecInput => ({
  key: "feed-layout",
  kind: "targeting",
  type: "string",
  variants: { grid: "grid", list: "list", cards: "cards" },
  defaultVariant: "grid",
  metrics: { click_rate: { kind: "ratio", numerator: "click", denominator: "exposure" } },
  rules: [{ name: "staff", when: { attribute: "staff", op: "equals", value: true }, serve: { variant: "cards" } }, { name: "layout", serve: { split, experiment: experiment as { control: string } } }],
  ...more,
});
const THREE = [{ variant: "grid", weight: 34 }, { variant: "list", weight: 33 }, { variant: "cards", weight: 33 }];

function refusal(input: FlagSpecInput): { path: string; message: string }[] {
  const parsed = FlagSpecSchema.safeParse(input);
  if (parsed.success) throw new Error("accepted");
  return parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
}

function served(spec: FlagSpecInput, context: Record<string, unknown>): Served {
  const result = assign(compiled(FlagSpecSchema.parse(spec)), context);
  if (!result.ok || result.codeDefault) throw new Error("not served");
  return result;
}

/** Counts with `n` users per replicate group, each exposed once, clicking at `ctr`. */
function arm(ctr: number, perGroup: number): Replicated {
  const counts = emptyReplicated();
  for (let g = 0; g < REPLICATES; g++) {
    const c = counts[g];
    if (!c) continue;
    for (let u = 0; u < perGroup; u++) {
      recordEvent(c, "exposure", undefined);
      if ((u * 7919 + g * 104729) % 1000 < ctr * 1000) recordEvent(c, "click", undefined);
    }
  }
  return counts;
}

describe("experiments: a split with a control", () => {
  it("refuses a control outside the split and a metric the flag does not define, naming the path", () => {
    expect(refusal(layout(THREE.slice(0, 2).map((p) => ({ ...p, weight: 50 })), { control: "cards" }))).toEqual([
      { path: "rules.1.serve.experiment.control", message: 'the control "cards" must be one of this split\'s variants (grid, list)' },
    ]);
    expect(refusal(layout(THREE, { control: "grid", metrics: [{ metric: "dwell" }] }))[0]?.path).toBe("rules.1.serve.experiment.metrics.0.metric");
    expect(refusal(layout(THREE, { control: "grid", metrics: [{ metric: "shadow_agreement" }] }))[0]?.message).toMatch(/shadow comparison/);
  });

  it("serves each variant with the token its events echo; the iteration changes with the split, not with other rules", () => {
    const a = served(layout(THREE), { targetingKey: "user-42" });
    expect(a.experiment?.rule).toBe("layout");
    expect(a.metadata.assignment).toBe(experimentToken(a.experiment?.iteration ?? "", a.variant));
    expect(parseExperimentToken(String(a.metadata.assignment))).toEqual({ iteration: a.experiment?.iteration, variant: a.variant });
    // Another rule edited: same iteration, same variant for the user.
    const b = served(layout(THREE, { control: "grid" }, { rules: [{ name: "staff", when: { attribute: "staff", op: "equals", value: false }, serve: { variant: "list" } }, { name: "layout", serve: { split: THREE, experiment: { control: "grid" } } }] }), { targetingKey: "user-42" });
    expect(b.experiment?.iteration).toBe(a.experiment?.iteration);
    expect(b.variant).toBe(a.variant);
    // New weights: a new iteration.
    const c = served(layout([{ variant: "grid", weight: 50 }, { variant: "list", weight: 25 }, { variant: "cards", weight: 25 }]), { targetingKey: "user-42" });
    expect(c.experiment?.iteration).not.toBe(a.experiment?.iteration);
    // A split without an experiment carries no token.
    const plain = served(layout(THREE, {}, { rules: [{ name: "layout", serve: { split: THREE } }] }), { targetingKey: "user-42" });
    expect(plain.experiment).toBeUndefined();
    expect(plain.metadata.assignment).toBeUndefined();
    expect(parseExperimentToken("x.1234567.grid")).toBeNull();
    expect(parseExperimentToken("3.1.c")).toBeNull();
  });

  it("draws every interval at α / ((k − 1) · m): wider than one comparison's, and a real lift still found", () => {
    const spec = FlagSpecSchema.parse(layout(THREE));
    const counts = { grid: arm(0.1, 400), list: arm(0.1, 400), cards: arm(0.13, 400) };
    const report = buildExperimentReport(spec, { flag: "feed-layout", rule: "layout", iteration: "00000000", current: true, experiment: { control: "grid" }, variants: ["grid", "list", "cards"] }, counts, 0, 1);
    // error_rate and click_rate (the flag's defined metric), for list and cards: 4 comparisons.
    expect(report.correction).toEqual({ method: "bonferroni", familyAlpha: 0.05, comparisons: 4, alphaEach: 0.0125 });
    const cards = report.comparisons.find((c) => c.variant === "cards" && c.metric === "click_rate");
    expect(cards).toMatchObject({ verdict: "higher", control: expect.closeTo(0.1, 2) });
    expect(report.comparisons.find((c) => c.variant === "list" && c.metric === "click_rate")?.verdict).toBe("no_difference_detected");
    const gate: Gate = { metric: "click_rate", compare: "relative", bad: "increase", informational: true, action: "rollback", sustained: undefined, minSamples: undefined };
    const single = judgeGate(gate, spec.metrics, [{ baseline: counts.grid, candidate: counts.cards }], { alpha: 0.05, includeSevere: false, shadow: false });
    const [low, high] = cards?.interval ?? [0, 0];
    const [singleLow, singleHigh] = single.interval ?? [0, 0];
    expect(high - low).toBeGreaterThan(singleHigh - singleLow);
    expect(report.variants.cards?.exposures).toBe(400 * REPLICATES);
  });

  it("a seeded slice of the simulation: A/A/A/A with users returning 20 times, looked at every hour for a week, rarely shows a difference; a +10% lift is found", () => {
    const aa = EXPERIMENT_SCENARIOS.find((s) => s.id === "x-aa4-return20");
    const lift = EXPERIMENT_SCENARIOS.find((s) => s.id === "x-lift10-2k");
    if (!aa || !lift) throw new Error("scenario missing");
    const aaRuns = runExperiments(aa, 7, 40);
    expect(aaRuns.filter((r) => r.falseDifference).length).toBeLessThanOrEqual(2);
    const liftRuns = runExperiments({ ...lift, hours: 96 }, 7, 6);
    expect(liftRuns.filter((r) => r.foundAt !== null && !r.wrongWay).length).toBe(6);
  }, 120_000);
});
