/** GET /admin/flags/{key}/series: per-step counts where they happened, cumulative gate verdicts, and bad queries named. */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { minuteOf } from "../../core/counters";
import { flagStub } from "../../durable-objects/flag/stub";
import { call, minuteBatch, putFlag, uniqueKey } from "./helpers";

describe("metric series", () => {
  it("puts each minute's exposures in its step and narrows the gate's interval as data accumulates", async () => {
    const key = uniqueKey("series");
    const created = await putFlag({
      key,
      type: "string",
      variants: { baseline: "v1", candidate: "v2" },
      rollout: { stages: [{ weight: 50 }, { weight: 100 }] },
      metrics: { ctr: { kind: "ratio", numerator: "click", denominator: "exposure" } },
      gates: [{ metric: "ctr", bad: "decrease", rollback: "5%" }],
    });
    const start = Math.floor((created.state.stageEnteredAt as number) / 60_000) * 60_000;
    const stub = flagStub(env, key);
    // Minutes 0, 1 and 3 have traffic (minute 2 none), growing.
    for (const [m, n] of [[0, 10_000], [1, 20_000], [3, 40_000]] as const) {
      await stub.addCounts(minuteBatch(1, 0, minuteOf(start) + m, { baseline: [n, n / 20], candidate: [n, n / 20] }));
    }
    const series = (await call("GET", `/admin/flags/${key}/series?from=${start}&to=${start + 4 * 60_000}&points=4`)).json;
    expect(series).toMatchObject({ flag: key, generation: 1, from: start, step: 60_000 });
    expect(series.points.map((p: { exposures: { candidate: number } }) => p.exposures.candidate)).toEqual([10_000, 20_000, 0, 40_000]);
    expect(series.points[1].levels.ctr).toEqual({ baseline: 0.05, candidate: 0.05 });
    expect(series.points[2].levels.ctr).toEqual({ baseline: null, candidate: null });
    const widths = series.points.map((p: { gates: { interval: [number, number] | null }[] }) => p.gates[0]?.interval).filter(Boolean).map((i: [number, number]) => i[1] - i[0]);
    expect(widths.length).toBeGreaterThanOrEqual(2);
    expect(widths.at(-1)).toBeLessThan(widths[0]);
    expect(series.gates[0]).toMatchObject({ metric: "ctr", compare: "relative", bad: "decrease", thresholds: { rollback: 0.05 } });

    const bad = await call("GET", `/admin/flags/${key}/series?points=500`);
    expect(bad.status).toBe(400);
    expect(bad.json.issues[0].path).toBe("points");
    expect((await call("GET", `/admin/flags/no-such-flag/series`)).status).toBe(404);
  });
});
