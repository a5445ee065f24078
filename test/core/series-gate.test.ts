import { describe, expect, it } from "vitest";
import { freshMemory, judgeRollout, JUDGE_METHOD, type JudgementInputs } from "../../core/gates";
import { FlagSpecSchema } from "../../core/manifest";
import { initialState } from "../../core/rollout";
import { judgeSeriesGate, type SeriesRead } from "../../core/series-gate";
import { runSeries, SERIES_GATE, SERIES_SCENARIOS } from "../../scripts/lib/series-simulation";
import { readSeries } from "../../durable-objects/flag/prometheus-source";

const T0 = 1_800_000_000_000;
const points = (n: number, f: (i: number) => number): [number, number][] => Array.from({ length: n }, (_, i) => [T0 + i * 60_000, f(i)]);

function spec(extra: Record<string, unknown> = {}) {
  return FlagSpecSchema.parse({
    key: "suggest",
    type: "string",
    variants: { baseline: "m1", candidate: "m2" },
    rollout: { window: "1m", healthyWindowsToPromote: 1, stages: [{ weight: 10 }, { weight: 100 }] },
    gates: [{ metric: "error_ratio", source: { prometheus: { url: "http://prometheus:9090", query: 'sum(rate(errors_total{arm="{{arm}}"}[5m]))' } }, bad: "increase", rollback: "10%" }],
    ...extra,
  });
}

function judgeWith(read: SeriesRead | undefined) {
  const s = spec();
  const state = { ...initialState(s.rollout.stages, 1, 1, 0), stageEnteredAt: T0 - 3_600_000 };
  const inputs: JudgementInputs = {
    method: JUDGE_METHOD, now: T0 + 7_200_000, spec: s, state, memory: freshMemory(state),
    totals: { generation: 1, stages: {} }, window: null, ...(read ? { series: { "0": read } } : {}),
  };
  return judgeRollout(inputs);
}

describe("gates on outside series (Prometheus)", () => {
  it("refuses a template without {{arm}}, a URL that is not http(s) and a secret outside PROMETHEUS_*, naming the field", () => {
    const refusal = (source: Record<string, unknown>) => {
      const r = FlagSpecSchema.safeParse({ ...spec(), rollout: { stages: [{ weight: 100 }] }, gates: [{ metric: "x", source: { prometheus: { url: "http://p:9090", query: "up{arm=\"{{arm}}\"}", ...source } }, bad: "increase", rollback: "5%" }] });
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    };
    expect(refusal({ query: "sum(rate(errors_total[5m]))" })[0]).toMatch(/^gates\.0\.source\.prometheus\.query: the PromQL template must name the arm as \{\{arm\}\}/);
    expect(refusal({ url: "file:///etc/passwd" })[0]).toMatch(/^gates\.0\.source\.prometheus\.url: must be an http:\/\/ or https:\/\/ URL/);
    expect(refusal({ bearerTokenSecret: "ADMIN_TOKEN" })[0]).toMatch(/^gates\.0\.source\.prometheus\.bearerTokenSecret: .*PROMETHEUS_/);
    expect(refusal({})).toEqual([]);
  });

  it("an unreachable or empty source holds, says why, and never promotes", () => {
    const unreachable = judgeWith({ ok: false, reason: "Prometheus at http://prometheus:9090 is unreachable (connection refused)" });
    expect(unreachable.action).toBe("hold");
    expect(unreachable.reasons.join(" ")).toContain("error_ratio no_data (Prometheus at http://prometheus:9090 is unreachable (connection refused))");
    expect(judgeWith(undefined).action).toBe("hold");
    const short = judgeWith({ ok: true, baseline: points(10, () => 0.01), candidate: points(10, () => 0.01) });
    expect(short.reasons.join(" ")).toContain("error_ratio insufficient_sample (10 of 60 points)");
  });

  it("rolls back on a clear regression naming the gate and its numbers, and rules out harm on equal series", () => {
    const noise = (i: number) => 1 + 0.05 * Math.sin(i * 1.7) + 0.03 * Math.cos(i * 0.37);
    const bad = judgeWith({ ok: true, baseline: points(120, (i) => 0.01 * noise(i)), candidate: points(120, (i) => 0.013 * noise(i + 3)) });
    expect(bad.action).toBe("rollback");
    expect(bad.rule).toBe("gate:error_ratio:rollback");
    expect(bad.reasons[0]).toMatch(/error_ratio relative \d+\.\d+% \[\d+\.\d+%, \d+\.\d+%\] past rollback 10\.00%/);
    const equal = judgeSeriesGate(SERIES_GATE, { ok: true, baseline: points(120, (i) => 0.01 * noise(i)), candidate: points(120, (i) => 0.01 * noise(i + 3)) }, 0.05);
    expect(equal).toMatchObject({ verdict: "healthy", noHarm: true, samples: { baseline: 120, candidate: 120 } });
  });

  it("waits, asking for a coarser step, when the points are too alike from one step to the next", () => {
    const walk: number[] = [];
    for (let i = 0, x = 0; i < 200; i++) walk.push((x += Math.sin(i * 12.9898) * 0.01));
    const v = judgeSeriesGate(SERIES_GATE, { ok: true, baseline: points(200, () => 0.01), candidate: points(200, (i) => 0.01 * Math.exp(walk[i] ?? 0)) }, 0.05);
    expect(v.verdict).toBe("insufficient_sample");
    expect(v.note).toMatch(/coarser step/);
  });

  it("a seeded slice of the simulation: A/A pairs with autocorrelation and a daily cycle rarely roll back; a 20% regression is caught", () => {
    const [aa, , regress] = SERIES_SCENARIOS;
    if (!aa || !regress) throw new Error("scenarios missing");
    const aaRuns = Array.from({ length: 150 }, (_, r) => runSeries(aa, 40_000 + r));
    expect(aaRuns.filter((r) => r.rolledBack).length).toBeLessThanOrEqual(5);
    const bad = Array.from({ length: 30 }, (_, r) => runSeries(regress, 50_000 + r));
    expect(bad.filter((r) => r.rolledBack).length).toBeGreaterThanOrEqual(28);
  }, 60_000);

  it("a gate naming a secret that is not set holds saying so, without asking Prometheus; a rollout not judged reads nothing", async () => {
    const s = spec({ gates: [{ metric: "error_ratio", source: { prometheus: { url: "http://prometheus:9090", query: 'up{arm="{{arm}}"}', bearerTokenSecret: "PROMETHEUS_TOKEN" } }, bad: "increase", rollback: "10%" }] });
    const state = { ...initialState(s.rollout.stages, 1, 1, 0), stageEnteredAt: T0 - 3_600_000 };
    let asked = 0;
    const fetcher = (async () => {
      asked++;
      return new Response("{}");
    }) as unknown as typeof fetch;
    expect(await readSeries(s, state, T0, () => undefined, fetcher)).toEqual({ "0": { ok: false, reason: "the secret PROMETHEUS_TOKEN the gate names is not set" } });
    expect(await readSeries(s, { ...state, status: "rolled_back" }, T0, () => "t", fetcher)).toBeUndefined();
    expect(asked).toBe(0);
  });
});
