/**
 * Prints the /metrics exposition for a sample registry snapshot (two flags,
 * both arms, latency, comparisons, decisions), through the same renderer the
 * Worker uses — for `promtool check metrics` in CI:
 *
 *   npx tsx scripts/metrics-sample.ts | promtool check metrics
 */
import { emptyCounts, recordEvent } from "../core/counters";
import { renderMetrics } from "../worker/prometheus";

function arm(exposures: number, errors: number, latencies: number[]) {
  const counts = emptyCounts();
  for (let i = 0; i < exposures; i++) recordEvent(counts, "exposure", undefined);
  for (let i = 0; i < errors; i++) recordEvent(counts, "error", undefined);
  for (const ms of latencies) recordEvent(counts, "latency_ms", ms);
  recordEvent(counts, "comparison", 1);
  recordEvent(counts, "comparison", 0);
  return counts;
}

const at = Date.UTC(2026, 10, 23);
process.stdout.write(
  renderMetrics(
    {
      flags: [
        { key: "feed-ranker", generation: 2, status: "ramping", weight: 10, baseline: arm(900, 4, [12, 40, 250]), candidate: arm(100, 1, [15, 3000]), unattributed: 3, at },
        { key: "prompt-pack", generation: 1, status: "shadow", weight: 0, baseline: arm(50, 0, []), candidate: arm(0, 0, []), at },
      ],
      decisions: [
        { action: "promote", source: "cron", count: 4 },
        { action: "kill", source: "operator", count: 1 },
      ],
    },
    { configVersion: 17, snapshotAgeMs: 1250, exposureLog: { written: 420, dropped: 3 } },
  ),
);
