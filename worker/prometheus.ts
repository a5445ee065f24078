/**
 * Prometheus text exposition of the registry's metrics snapshot (per flag ×
 * arm, as of the last cron tick) and of this isolate's snapshot.
 */
import type { ArmCounts } from "../core/counters";
import { valueAtRank } from "../core/histogram";
import type { FlagMetrics, MetricsSnapshot } from "../durable-objects/registry/flag-metrics";

/** Latency bucket bounds (ms; exposed in seconds) for the exposition; our histogram is finer and is folded into them. */
const LE_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];

const escape = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
const labels = (l: Record<string, string | number>) => `{${Object.entries(l).map(([k, v]) => `${k}="${escape(String(v))}"`).join(",")}}`;

class Exposition {
  private lines: string[] = [];
  metric(name: string, type: "counter" | "gauge" | "histogram", help: string): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  }
  sample(name: string, l: Record<string, string | number>, value: number): void {
    this.lines.push(`${name}${labels(l)} ${Number.isFinite(value) ? value : 0}`);
  }
  text(): string {
    return this.lines.join("\n") + "\n";
  }
}

/** Cumulative counts per `le` bound from a log-bucketed histogram. */
function foldLatency(counts: ArmCounts): { le: string; count: number }[] {
  const entries = Object.entries(counts.latency);
  const total = entries.reduce((s, [, c]) => s + c, 0);
  return [
    ...LE_MS.map((le) => {
      let n = 0;
      for (const [key, c] of entries) {
        const value = valueAtRank({ [key]: c }, 0) ?? 0;
        if (value <= le) n += c;
      }
      return { le: String(le / 1000), count: n };
    }),
    { le: "+Inf", count: total },
  ];
}

export function renderMetrics(snapshot: MetricsSnapshot, isolate: { configVersion: number | null; snapshotAgeMs: number | null; exposureLog?: { written: number; dropped: number } }): string {
  const out = new Exposition();
  const arms = (f: MetricsSnapshot["flags"][number]) => [["baseline", f.baseline], ["candidate", f.candidate]] as const;

  out.metric("rampart_exposures_total", "counter", "Exposures per flag and arm in the current generation, as of the last cron tick.");
  for (const f of snapshot.flags) for (const [arm, c] of arms(f)) out.sample("rampart_exposures_total", { ...flagLabels(f), arm, generation: f.generation }, c.exposures);
  out.metric("rampart_errors_total", "counter", "Error events per flag and arm in the current generation.");
  for (const f of snapshot.flags) for (const [arm, c] of arms(f)) out.sample("rampart_errors_total", { ...flagLabels(f), arm, generation: f.generation }, c.errors);
  out.metric("rampart_comparisons_total", "counter", "Shadow comparisons per flag and arm, by agreement.");
  for (const f of snapshot.flags) {
    for (const [arm, c] of arms(f)) {
      out.sample("rampart_comparisons_total", { ...flagLabels(f), arm, generation: f.generation, agree: "true" }, c.agree);
      out.sample("rampart_comparisons_total", { ...flagLabels(f), arm, generation: f.generation, agree: "false" }, c.disagree);
    }
  }
  // Prometheus names carry the base unit (seconds), not an abbreviation: latency_ms events are converted.
  out.metric("rampart_latency_seconds", "histogram", "Latency (latency_ms events and routed requests) per flag and arm, in seconds.");
  for (const f of snapshot.flags) {
    for (const [arm, c] of arms(f)) {
      const base = { ...flagLabels(f), arm, generation: f.generation };
      for (const b of foldLatency(c)) out.sample("rampart_latency_seconds_bucket", { ...base, le: b.le }, b.count);
      out.sample("rampart_latency_seconds_sum", base, (c.events["latency_ms"]?.sum ?? 0) / 1000);
      out.sample("rampart_latency_seconds_count", base, c.events["latency_ms"]?.count ?? 0);
    }
  }
  out.metric("rampart_unattributed_events_total", "counter", "Events of the current generation that could not be credited to an arm (GET /admin/flags/{key}/stats says why).");
  for (const f of snapshot.flags) out.sample("rampart_unattributed_events_total", { ...flagLabels(f), generation: f.generation }, f.unattributed ?? 0);
  out.metric("rampart_rollout_weight_percent", "gauge", "Share of in-scope traffic served the candidate.");
  for (const f of snapshot.flags) out.sample("rampart_rollout_weight_percent", { ...flagLabels(f), status: f.status, generation: f.generation }, f.weight);
  out.metric("rampart_decisions_total", "counter", "Decisions that changed a rollout, by action and source; soft_abort counts soft abort rules that fired (they change nothing served).");
  for (const d of snapshot.decisions) out.sample("rampart_decisions_total", { action: d.action, source: d.source }, d.count);
  out.metric("rampart_schedules_pending", "gauge", "Scheduled changes waiting for the cron, per flag (rampart schedules <key> lists them).");
  for (const p of snapshot.schedules ?? []) out.sample("rampart_schedules_pending", { flag: p.flag }, p.count);
  out.metric("rampart_schedule_next_timestamp_seconds", "gauge", "When the flag's soonest scheduled change is due (Unix seconds).");
  for (const p of snapshot.schedules ?? []) out.sample("rampart_schedule_next_timestamp_seconds", { flag: p.flag }, p.next / 1000);
  out.metric("rampart_snapshot_version", "gauge", "Config version this isolate serves.");
  out.sample("rampart_snapshot_version", {}, isolate.configVersion ?? 0);
  out.metric("rampart_snapshot_age_seconds", "gauge", "Seconds since this isolate confirmed its snapshot current.");
  out.sample("rampart_snapshot_age_seconds", {}, isolate.snapshotAgeMs === null ? -1 : isolate.snapshotAgeMs / 1000);
  out.metric("rampart_exposure_log_records_total", "counter", "Sampled exposures this isolate wrote to the exposure log (R2), or dropped when its buffer was full during an outage.");
  out.sample("rampart_exposure_log_records_total", { outcome: "written" }, isolate.exposureLog?.written ?? 0);
  out.sample("rampart_exposure_log_records_total", { outcome: "dropped" }, isolate.exposureLog?.dropped ?? 0);
  return out.text();
}

/** A flag's labels: its key, and with region waves the wave (so each wave is its own series). */
function flagLabels(f: FlagMetrics): { flag: string; wave?: number } {
  return f.wave === undefined ? { flag: f.flag ?? f.key } : { flag: f.flag ?? f.key, wave: f.wave };
}
