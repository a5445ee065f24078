/**
 * The experiment simulation (seeded, virtual clock): a k-variant split with
 * a control, its compare report (`core/experiment-report.ts`) read every
 * simulated hour for a week, on traffic shaped like real traffic — users
 * who return (geometric number of exposures, hours apart), each with their
 * own click propensity (Beta), a daily cycle in traffic and in click rate,
 * clicks that arrive late. It measures what an experimenter who looks every
 * hour would see: how often an A/A/…/A experiment shows any difference at
 * any look (the family-wise error the correction bounds), and how soon a
 * real lift is found. Used by `npm run simulate:experiments` and by
 * `test/core/experiment-report.test.ts` (a small seeded slice).
 */
import { emptyReplicated, recordEvent, REPLICATES, type Replicated } from "../../core/counters";
import { buildExperimentReport, type ExperimentReport } from "../../core/experiment-report";
import type { Experiment } from "../../core/experiment";
import { Draws, runSeed, share, median } from "./gate-simulation";

export interface ExperimentScenario {
  id: string;
  title: string;
  target: string;
  /** The control first; each with its click-rate factor (1: no effect). */
  variants: readonly { name: string; ctrFactor: number }[];
  newUsersPerHour: number;
  exposuresPerUser: number;
  /** Mean hours between a user's exposures (exponential). */
  gapHours: number;
  ctr: number;
  /** Beta concentration of per-user click propensity. */
  ctrConcentration: number;
  errorRate: number;
  /** Relative amplitude of the daily cycle in traffic and (half of it) in click rate. */
  dailyAmplitude: number;
  /** Mean hours before a click arrives (exponential). */
  clickLagHours: number;
  hours: number;
  check(results: readonly ExperimentRun[]): { label: string; met: boolean };
}

export interface ExperimentRun {
  /** Some comparison of a variant without effect showed a difference at some look. */
  falseDifference: boolean;
  /** The hour the variant with a lift was first found better on click rate (null: never, or no such variant). */
  foundAt: number | null;
  /** The variant with a lift was found worse at some look. */
  wrongWay: boolean;
}

const EXPERIMENT: Experiment = {
  control: "control",
  metrics: [
    { metric: "click_rate", compare: "relative", bad: "decrease" },
    { metric: "error_rate", compare: "relative", bad: "increase" },
  ],
};
const SPEC = { metrics: { click_rate: { kind: "ratio" as const, numerator: ["click"], denominator: ["exposure"] } } };
const DIFFERENCE = new Set(["better", "worse", "higher", "lower"]);

export function runExperiment(scenario: ExperimentScenario, seed: number): ExperimentRun {
  const draw = new Draws(seed);
  const k = scenario.variants.length;
  const counts: Replicated[] = scenario.variants.map(() => emptyReplicated());
  // Exposures due per hour: [variant, group, propensity]; clicks arriving per hour: [variant, group].
  const due: number[][][] = Array.from({ length: scenario.hours }, () => []);
  const clicks: number[][][] = Array.from({ length: scenario.hours }, () => []);
  const lifted = scenario.variants.findIndex((v) => v.ctrFactor !== 1);
  const run: ExperimentRun = { falseDifference: false, foundAt: null, wrongWay: false };
  for (let hour = 0; hour < scenario.hours; hour++) {
    const cycle = Math.sin((2 * Math.PI * (hour % 24)) / 24);
    // 1. New users, each sticky to one variant and one replicate group, with their own propensity; their later visits.
    const arrivals = draw.poisson(scenario.newUsersPerHour * (1 + scenario.dailyAmplitude * cycle));
    for (let u = 0; u < arrivals; u++) {
      const variant = Math.floor(draw.uniform() * k);
      const group = Math.floor(draw.uniform() * REPLICATES);
      const p = draw.beta(scenario.ctr, scenario.ctrConcentration);
      let at = hour;
      for (let n = draw.geometric(scenario.exposuresPerUser); n > 0 && at < scenario.hours; n--) {
        due[Math.floor(at)]?.push([variant, group, p]);
        at += draw.exponential(scenario.gapHours);
      }
    }
    // 2. This hour's exposures, errors, and clicks (which arrive later).
    for (const [variant, group, p] of due[hour] ?? []) {
      const cell = counts[variant as number]?.[group as number];
      if (!cell) continue;
      cell.exposures += 1;
      if (draw.uniform() < scenario.errorRate) cell.errors += 1;
      const factor = scenario.variants[variant as number]?.ctrFactor ?? 1;
      if (draw.uniform() < Math.min(1, (p as number) * factor * (1 + 0.5 * scenario.dailyAmplitude * cycle))) {
        const lands = hour + Math.floor(draw.exponential(scenario.clickLagHours));
        if (lands < scenario.hours) clicks[lands]?.push([variant as number, group as number]);
      }
    }
    for (const [variant, group] of clicks[hour] ?? []) {
      const cell = counts[variant as number]?.[group as number];
      if (cell) recordEvent(cell, "click", undefined);
    }
    due[hour] = [];
    clicks[hour] = [];
    // 3. The experimenter looks at the report.
    const report = look(scenario, counts, hour);
    for (const c of report.comparisons) {
      const isLifted = scenario.variants[lifted]?.name === c.variant;
      if (!isLifted && DIFFERENCE.has(c.verdict)) run.falseDifference = true;
      if (isLifted && c.metric === "click_rate") {
        if (c.verdict === "better" && run.foundAt === null) run.foundAt = hour + 1;
        if (c.verdict === "worse") run.wrongWay = true;
      }
      if (isLifted && c.metric === "error_rate" && DIFFERENCE.has(c.verdict)) run.falseDifference = true;
    }
  }
  return run;
}

function look(scenario: ExperimentScenario, counts: readonly Replicated[], hour: number): ExperimentReport {
  const byName: Record<string, Replicated> = {};
  scenario.variants.forEach((v, i) => (byName[v.name] = counts[i] ?? emptyReplicated()));
  const variants = scenario.variants.map((v) => v.name);
  return buildExperimentReport(SPEC, { flag: "sim", rule: "experiment", iteration: "00000000", current: true, experiment: EXPERIMENT, variants }, byName, 0, (hour + 1) * 3_600_000);
}

const names = (k: number, lift = 1) => [{ name: "control", ctrFactor: 1 }, ...Array.from({ length: k - 1 }, (_, i) => ({ name: `t${i + 1}`, ctrFactor: i === 0 ? lift : 1 }))];
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const atMost = (results: readonly ExperimentRun[], limit: number) => {
  const { p, se } = share(results, (r) => r.falseDifference);
  return { label: `any false difference ${pct(p)} ± ${pct(se)}`, met: p - 2 * se <= limit };
};

const base = {
  exposuresPerUser: 5,
  gapHours: 12,
  ctr: 0.08,
  ctrConcentration: 20,
  errorRate: 0.01,
  dailyAmplitude: 0.6,
  clickLagHours: 0.5,
  hours: 168,
};

export const EXPERIMENT_SCENARIOS: readonly ExperimentScenario[] = [
  { ...base, id: "x-aa4-2k", title: "A/A/A/A, 2,000 new users/h, 5 visits each, hourly looks for 7 days", target: "family-wise false difference ≤ 5%", variants: names(4), newUsersPerHour: 2000, check: (r) => atMost(r, 0.05) },
  { ...base, id: "x-aa4-return20", title: "A/A/A/A, 200 new users/h returning 20 times", target: "family-wise false difference ≤ 5%", variants: names(4), newUsersPerHour: 200, exposuresPerUser: 20, gapHours: 4, check: (r) => atMost(r, 0.05) },
  { ...base, id: "x-aa8-low", title: "8 arms, A/…/A, low volume (50 new users/h)", target: "family-wise false difference ≤ 5%", variants: names(8), newUsersPerHour: 50, check: (r) => atMost(r, 0.05) },
  {
    ...base,
    id: "x-lift10-2k",
    title: "one of 3 treatments +10% click rate, 2,000 new users/h",
    target: "found better within 7 days in ≥ 80%, never worse; others ≤ 5% false",
    variants: names(4, 1.1),
    newUsersPerHour: 2000,
    check: (r) => {
      const found = share(r, (x) => x.foundAt !== null);
      const wrong = r.filter((x) => x.wrongWay).length;
      const hours = median(r.filter((x) => x.foundAt !== null).map((x) => x.foundAt ?? 0));
      const falseOthers = share(r, (x) => x.falseDifference);
      return {
        label: `found ${pct(found.p)} ± ${pct(found.se)} (median ${hours ?? "—"} h), worse ${wrong}, others false ${pct(falseOthers.p)}`,
        met: found.p + 2 * found.se >= 0.8 && wrong === 0 && falseOthers.p - 2 * falseOthers.se <= 0.05,
      };
    },
  },
];

export function runExperiments(scenario: ExperimentScenario, seed: number, runs: number): ExperimentRun[] {
  return Array.from({ length: runs }, (_, r) => runExperiment(scenario, runSeed(seed, scenario, r)));
}
