/**
 * The simulation of gates on outside series (`core/series-gate.ts`):
 * per-minute values of a service metric for the two arms — an error ratio
 * with a daily cycle, a shock both arms share (a dependency slowing down,
 * AR(1)), each arm's own autocorrelated noise (AR(1) on the log scale) and
 * measurement noise — judged every simulated minute from the stage's start,
 * as the cron judges a Prometheus gate. It counts false rollbacks of A/A
 * pairs and how soon a regression is caught. Used by `npm run simulate`
 * and by `test/core/series-gate.test.ts` (a seeded slice).
 */
import { GateSchema, type Gate } from "../../core/gate-spec";
import { judgeSeriesGate } from "../../core/series-gate";
import { Draws } from "./gate-simulation";

export interface SeriesScenario {
  id: string;
  title: string;
  target: string;
  /** Candidate's level as a multiple of the baseline's (1: A/A). */
  effect: number;
  /** Lag-1 autocorrelation of each arm's own noise, and its standard deviation on the log scale. */
  phi: number;
  sigma: number;
  /** The shared shock's autocorrelation and standard deviation (log scale). */
  sharedPhi: number;
  sharedSigma: number;
  /** Daily cycle amplitude (relative). */
  daily: number;
  minutes: number;
  check(results: readonly SeriesRun[]): { label: string; met: boolean };
}

export interface SeriesRun {
  rolledBack: boolean;
  /** The minute of the first rollback verdict, or null. */
  at: number | null;
  /** The gate ruled out harm at the end (what promotion on evidence needs). */
  noHarm: boolean;
}

/** The suggestion model's gate: its error ratio must not rise 10% (warn 5%). */
export const SERIES_GATE: Gate = GateSchema.parse({
  metric: "error_ratio",
  source: { prometheus: { url: "http://prometheus:9090", query: 'sum(rate(errors_total{arm="{{arm}}"}[5m])) / sum(rate(requests_total{arm="{{arm}}"}[5m]))' } },
  bad: "increase",
  warn: "5%",
  rollback: "10%",
});

export function runSeries(scenario: SeriesScenario, seed: number): SeriesRun {
  const draw = new Draws(seed);
  const baseline: [number, number][] = [];
  const candidate: [number, number][] = [];
  let shared = 0;
  let nb = 0;
  let nc = 0;
  const start = 1_800_000_000_000;
  const run: SeriesRun = { rolledBack: false, at: null, noHarm: false };
  for (let m = 0; m < scenario.minutes; m++) {
    const cycle = 1 + scenario.daily * Math.sin((2 * Math.PI * m) / 1440);
    shared = scenario.sharedPhi * shared + scenario.sharedSigma * Math.sqrt(1 - scenario.sharedPhi ** 2) * draw.normal();
    nb = scenario.phi * nb + scenario.sigma * Math.sqrt(1 - scenario.phi ** 2) * draw.normal();
    nc = scenario.phi * nc + scenario.sigma * Math.sqrt(1 - scenario.phi ** 2) * draw.normal();
    const level = 0.01 * cycle * Math.exp(shared);
    const t = start + m * 60_000;
    baseline.push([t, level * Math.exp(nb + 0.02 * draw.normal())]);
    candidate.push([t, level * scenario.effect * Math.exp(nc + 0.02 * draw.normal())]);
    const v = judgeSeriesGate(SERIES_GATE, { ok: true, baseline, candidate }, 0.05);
    if (v.verdict === "rollback" && !run.rolledBack) {
      run.rolledBack = true;
      run.at = m + 1;
      break;
    }
    if (m === scenario.minutes - 1) run.noHarm = v.noHarm;
  }
  return run;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const share = (results: readonly SeriesRun[], f: (r: SeriesRun) => boolean) => {
  const p = results.filter(f).length / results.length;
  return { p, se: Math.sqrt((p * (1 - p)) / results.length) };
};
const aa = (results: readonly SeriesRun[]) => {
  const fa = share(results, (r) => r.rolledBack);
  const proven = share(results, (r) => r.noHarm);
  return { label: `rolled back ${pct(fa.p)} ± ${pct(fa.se)}; harm ruled out by the end ${pct(proven.p)}`, met: fa.p - 2 * fa.se <= 0.05 };
};

const base = { phi: 0.8, sigma: 0.1, sharedPhi: 0.95, sharedSigma: 0.2, daily: 0.5, minutes: 360 };

export const SERIES_SCENARIOS: readonly SeriesScenario[] = [
  { ...base, id: "series-aa", title: "Prometheus A/A: per-minute error ratio, AR(1) noise φ 0.8, a shared shock, daily cycle, judged every minute for 6 h", target: "false rollback ≤ 5%", effect: 1, check: aa },
  { ...base, id: "series-aa-sticky", title: "Prometheus A/A, stickier noise (φ 0.95, σ 0.15)", target: "false rollback ≤ 5%", effect: 1, phi: 0.95, sigma: 0.15, check: aa },
  {
    ...base,
    id: "series-regress20",
    title: "Prometheus: the candidate's error ratio 20% higher (rollback at 10%)",
    target: "rolled back within 6 h ≥ 90% (median minute reported)",
    effect: 1.2,
    check: (results) => {
      const caught = share(results, (r) => r.rolledBack);
      const minutes = results.filter((r) => r.at !== null).map((r) => r.at ?? 0).sort((a, b) => a - b);
      return { label: `rolled back ${pct(caught.p)} ± ${pct(caught.se)}, median at ${minutes[minutes.length >> 1] ?? "—"} min`, met: caught.p + 2 * caught.se >= 0.9 };
    },
  },
];
