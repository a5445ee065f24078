/**
 * Experiments: a rule's split with a control counts every variant's
 * exposures at the edge and credits events that echo the evaluation's
 * token, and the report compares each treatment with the control.
 */
import { SELF, env } from "cloudflare:test";
import { hourOf } from "../../core/experiment-cell";
import { counterShardStub, flagStub } from "../../durable-objects/flag/stub";
import { describe, expect, it } from "vitest";
import { call, evaluate, evaluateUntil, putFlag, sleep, uniqueKey } from "./helpers";

const experimentFlag = (key: string, weights: [number, number, number] = [34, 33, 33]) => ({
  key,
  kind: "targeting",
  type: "string",
  variants: { grid: "grid", list: "list", cards: "cards" },
  defaultVariant: "grid",
  metrics: { click_rate: { kind: "ratio", numerator: "click", denominator: "exposure" } },
  rules: [
    { name: "staff", when: { attribute: "staff", op: "equals", value: true }, serve: { variant: "cards" } },
    {
      name: "layout",
      serve: {
        split: [{ variant: "grid", weight: weights[0] }, { variant: "list", weight: weights[1] }, { variant: "cards", weight: weights[2] }],
        experiment: { control: "grid", metrics: [{ metric: "click_rate", bad: "decrease" }, { metric: "error_rate", bad: "increase" }] },
      },
    },
  ],
});

async function send(events: unknown[]) {
  const r = await SELF.fetch("https://rampart.test/v1/events", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ events }) });
  return { status: r.status, json: await r.json<Record<string, any>>() };
}

async function reportUntil(key: string, done: (report: Record<string, any>) => boolean, query = "") {
  const deadline = Date.now() + 5_000;
  let last: Awaited<ReturnType<typeof call>> | null = null;
  while (Date.now() < deadline) {
    last = await call("GET", `/admin/flags/${key}/experiments/layout${query}`);
    if (last.status === 200 && done(last.json)) return last.json;
    await sleep(50);
  }
  throw new Error(`report never settled: ${JSON.stringify(last?.json)}`);
}

describe("experiments", () => {
  it("counts every variant's served exposures and the events echoing its token; the report compares each treatment with the control", async () => {
    const key = uniqueKey("layout-x");
    await putFlag(experimentFlag(key));
    await evaluateUntil(key, { targetingKey: "warm", staff: true }, (r) => r.status === 200);
    // 1. Single evaluations: every split user is an exposure of their variant; staff (another rule) are none.
    const served: Record<string, number> = { grid: 0, list: 0, cards: 0 };
    const tokens = new Map<string, string>();
    for (let i = 0; i < 90; i++) {
      const r = await evaluate(key, { targetingKey: `user-${i}` });
      expect(r.json).toMatchObject({ reason: "SPLIT", metadata: { rule: "layout", experiment: expect.stringMatching(/^[0-9a-f]{8}$/) } });
      expect(r.json.metadata.assignment).toBe(`x.${r.json.metadata.experiment}.${r.json.variant}`);
      served[r.json.variant] = (served[r.json.variant] ?? 0) + 1;
      tokens.set(`user-${i}`, r.json.metadata.assignment);
    }
    for (let i = 0; i < 5; i++) await evaluate(key, { targetingKey: `staff-${i}`, staff: true });
    const counted = await reportUntil(key, (report) => Object.values(report.variants as Record<string, { exposures: number }>).reduce((a, v) => a + v.exposures, 0) >= 90);
    expect(Object.fromEntries(Object.entries(counted.variants as Record<string, { exposures: number }>).map(([v, m]) => [v, m.exposures]))).toEqual(served);
    expect(counted).toMatchObject({ rule: "layout", control: "grid", current: true, correction: { method: "bonferroni", comparisons: 4, alphaEach: 0.0125 } });
    expect(counted.comparisons.map((c: { variant: string; metric: string }) => `${c.variant}:${c.metric}`)).toEqual(["list:click_rate", "list:error_rate", "cards:click_rate", "cards:error_rate"]);

    // 2. Clicks echoing the token go to the variant it names; a resent event counts once.
    const clicks = [...tokens].map(([user, assignment]) => ({ eventId: `${key}-${user}`, flag: key, targetingKey: user, name: "click", assignment }));
    expect((await send(clicks)).json).toMatchObject({ accepted: 90, rejected: [] });
    expect((await send(clicks.slice(0, 10))).json).toMatchObject({ accepted: 0, duplicates: 10 });
    const report = await reportUntil(key, () => true);
    for (const [variant, n] of Object.entries(served)) {
      expect(report.variants[variant].metrics.click_rate).toMatchObject({ value: 1, samples: n });
    }
    expect(report.comparisons.find((c: { variant: string; metric: string }) => c.variant === "cards" && c.metric === "click_rate")).toMatchObject({ control: 1, treatment: 1, verdict: "insufficient_sample" });
  });

  it("refuses tokens naming a variant the flag lacks, and counts tokens of an iteration it never served as unattributed", async () => {
    const key = uniqueKey("layout-bad");
    await putFlag(experimentFlag(key));
    await evaluateUntil(key, { targetingKey: "warm" }, (r) => r.status === 200);
    const r = await send([
      { eventId: `${key}-1`, flag: key, targetingKey: "u", name: "click", assignment: "x.0000abcd.tiles" },
      { eventId: `${key}-2`, flag: key, targetingKey: "u", name: "click", assignment: "x.0000abcd.list" },
      { eventId: `${key}-3`, flag: key, targetingKey: "u", name: "click", assignment: "x.0000abcd.list", variant: "cards" },
    ]);
    expect(r.json.rejected).toEqual([
      { index: 0, error: "invalid_assignment", message: expect.stringContaining('assignment names variant "tiles"') },
      { index: 2, error: "unknown_variant", message: expect.stringContaining("not the one the assignment names") },
    ]);
    const report = await reportUntil(key, () => true);
    expect(report.unattributed).toMatchObject({ unknown_experiment: 1 });
  });

  it("a new split starts a new iteration; the old one stays readable by its id, and bad queries name the parameter", async () => {
    const key = uniqueKey("layout-iter");
    await putFlag(experimentFlag(key));
    const first = await evaluateUntil(key, { targetingKey: "user-1" }, (r) => r.status === 200 && r.json.metadata?.experiment !== undefined);
    const old = first.json.metadata.experiment as string;
    await reportUntil(key, (report) => report.iterations.length === 1);
    await putFlag(experimentFlag(key, [50, 25, 25]));
    const next = await evaluateUntil(key, { targetingKey: "user-1" }, (r) => r.json.metadata?.experiment !== old);
    expect(next.json.metadata.experiment).toMatch(/^[0-9a-f]{8}$/);
    const past = await reportUntil(key, (report) => report.current === false, `?iteration=${old}`);
    expect(past).toMatchObject({ iteration: old, control: "grid" });
    expect(Object.values(past.variants as Record<string, { exposures: number }>).reduce((a, v) => a + v.exposures, 0)).toBe(1);

    expect((await call("GET", `/admin/flags/${key}/experiments/layout?iteration=nothex`)).json.issues).toEqual([{ path: "iteration", message: "an experiment iteration is 8 hex digits" }]);
    const noRule = await call("GET", `/admin/flags/${key}/experiments/staff`);
    expect(noRule.status).toBe(404);
    expect(noRule.json.message).toMatch(/rule "staff" is no experiment/);
    expect((await call("GET", `/admin/flags/${key}/experiments/layout?iteration=0000ffff`)).json.message).toMatch(/has no iteration "0000ffff"/);
  });

  it("counts an edge batch's experiment cells exactly once, retried or not, and reads them from the flag's counter shards too", async () => {
    const key = uniqueKey("layout-once");
    await putFlag({ ...experimentFlag(key), counterShards: 2 });
    const first = await evaluateUntil(key, { targetingKey: "u-1" }, (r) => r.status === 200 && r.json.metadata?.experiment !== undefined);
    const iteration = first.json.metadata.experiment as string;
    // The warm-up evaluations' own exposures land first (their flush is the edge's), so the sums below are exact.
    const exposures = (r: Record<string, any>) => Object.values(r.variants as Record<string, { exposures: number }>).reduce((a, v) => a + v.exposures, 0);
    const before = await reportUntil(key, (r) => exposures(r) >= 1);
    await sleep(300);
    const settled = await reportUntil(key, () => true);
    expect(exposures(settled)).toBe(exposures(before));
    const cell = (variant: string, exposures: number) => ({ iteration, rule: "layout", control: "grid", variant, replicate: 3, hour: hourOf(Date.now()), counts: { exposures, errors: 0, agree: 0, disagree: 0, events: {}, latency: {} } });
    const batch = { id: `${key}-batch`, cells: [], experiments: [cell("list", 500)] };
    expect(await flagStub(env, key).addCounts(batch)).toEqual({ counted: true });
    // The same batch again (a retry after a lost reply): nothing more.
    expect(await flagStub(env, key).addCounts(batch)).toEqual({ counted: false });
    // Another isolate's batch to the second counter shard.
    expect(await counterShardStub(env, key, 1).addCounts({ id: `${key}-shard`, cells: [], experiments: [cell("list", 250), cell("cards", 40)] })).toEqual({ counted: true });
    const report = await reportUntil(key, (r) => r.variants.list.exposures >= 750 + settled.variants.list.exposures);
    expect(report.variants.list.exposures).toBe(750 + settled.variants.list.exposures);
    expect(report.variants.cards.exposures).toBe(40 + settled.variants.cards.exposures);
  });
});
