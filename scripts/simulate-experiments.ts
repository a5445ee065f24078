/**
 * The experiment simulation suite: seeded k-variant experiments on
 * realistic traffic (returning users with their own click propensity, a
 * daily cycle, late clicks, low volume, 4 and 8 arms), the compare report
 * read every simulated hour for a week by the real core, printed as a
 * Markdown table with Monte Carlo standard errors against each target
 * (`docs/gates.md`, "Experiments").
 *
 *   npm run simulate:experiments -- [--runs 200] [--seed 1] [--only x-aa4-2k] [--list]
 */
import { EXPERIMENT_SCENARIOS, runExperiments } from "./lib/experiment-simulation";
import { scriptArgs } from "./lib/script-args";

const args = scriptArgs({ command: "npm run simulate:experiments", about: "experiments' family-wise error and power by seeded simulation, with Monte Carlo standard errors" }, {
  runs: { type: "int", default: 200, min: 1, help: "seeded runs per scenario" },
  seed: { type: "int", default: 1, help: "base seed" },
  only: { type: "list", default: [], choices: EXPERIMENT_SCENARIOS.map((s) => s.id), help: "scenario ids (--list shows them)" },
  list: { type: "boolean", help: "list the scenarios and stop" },
});
if (args.list) {
  for (const s of EXPERIMENT_SCENARIOS) console.log(`${s.id.padEnd(16)} ${s.title} — target: ${s.target}`);
} else {
  const selected = args.only.length > 0 ? EXPERIMENT_SCENARIOS.filter((s) => args.only.includes(s.id)) : EXPERIMENT_SCENARIOS;
  console.log(`${args.runs} seeded runs per scenario (seed ${args.seed}), the report read every simulated hour for 7 days; ± is the Monte Carlo standard error`);
  console.log("");
  console.log("| scenario | result against target | target |");
  console.log("|---|---|---|");
  let failed = 0;
  for (const scenario of selected) {
    const started = performance.now();
    const verdict = scenario.check(runExperiments(scenario, args.seed, args.runs));
    if (!verdict.met) failed++;
    console.log(`| ${scenario.title} | ${verdict.label}: **${verdict.met ? "met" : "NOT met"}** | ${scenario.target} |`);
    process.stderr.write(`(${scenario.id}: ${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
  }
  console.log("");
  console.log(failed === 0 ? `all ${selected.length} targets met` : `${failed} of ${selected.length} targets NOT met`);
  process.exitCode = failed === 0 ? 0 : 1;
}
