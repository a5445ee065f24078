/**
 * Event ingestion: each forwarded event is credited to the exposure that
 * caused it (`core/attribution.ts`) and added to its arm's counters, or
 * counted as unattributed with its reason; an event id already seen changes
 * nothing; a shadow comparison that disagreed is kept for the dashboard.
 */
import { attribute, attributeExperiment, type FlagHistory, type UnattributedReason } from "../../core/attribution";
import { parseExperimentToken, type ExperimentRef } from "../../core/experiment";
import { hourOf, type ExperimentCell } from "../../core/experiment-cell";
import { emptyCounts, minuteOf, recordEvent, REPLICATES, type CounterCell } from "../../core/counters";
import type { ForwardedEvent } from "../../core/events";
import type { CounterStore } from "./counter-store";
import type { DisagreementLog } from "./disagreements";
import type { ExperimentStore } from "./experiment-store";
import type { UnattributedCounts } from "./unattributed";

export interface IngestResult {
  accepted: number;
  duplicates: number;
  unattributed: number;
}

export class EventIngest {
  constructor(
    private readonly counters: CounterStore,
    private readonly disagreements: DisagreementLog,
    private readonly unattributed: UnattributedCounts,
    private readonly experiments: ExperimentStore,
  ) {}

  /** Counts `events` at `now` against the flag's history (call inside a transaction). */
  /** `current`: the experiments the flag serves now, by iteration (known before any exposure of theirs is counted). */
  ingest(events: readonly ForwardedEvent[], history: FlagHistory, now: number, current: ReadonlyMap<string, ExperimentRef> = new Map()): IngestResult {
    const fresh = this.counters.claimEventIds(events.map((e) => e.id), minuteOf(now));
    // Events of one cell add into one count: a cell per generation × stage × arm × replicate × minute, not one per event.
    const cells = new Map<string, CounterCell>();
    const experimentCells: ExperimentCell[] = [];
    const skipped = new Map<string, { generation: number; reason: UnattributedReason; n: number }>();
    const skip = (e: ForwardedEvent, reason: UnattributedReason) => {
      const generation = history.stateAt(e.at)?.generation ?? 0;
      const key = `${generation}|${reason}`;
      const entry = skipped.get(key) ?? { generation, reason, n: 0 };
      entry.n++;
      skipped.set(key, entry);
    };
    for (const e of events) {
      if (!fresh.has(e.id)) continue;
      // An experiment's event: to the variant its token names.
      const experimentToken = e.assignment === undefined ? null : parseExperimentToken(e.assignment);
      if (experimentToken !== null) {
        const counts = emptyCounts();
        recordEvent(counts, e.name, e.value);
        const credit = attributeExperiment(e, experimentToken, e.at, history, (iteration) => this.experiments.find(iteration) ?? current.get(iteration) ?? null);
        if (!credit.ok) skip(e, credit.reason);
        else experimentCells.push({ iteration: credit.iteration, rule: credit.rule, control: credit.control, variant: credit.variant, replicate: credit.replicate ?? fnvGroup(e.id), hour: hourOf(e.at), counts });
        continue;
      }
      const credit = attribute(e, e.at, history);
      if (!credit.ok) {
        skip(e, credit.reason);
        continue;
      }
      // Without a stickiness value any group will do: the event is its own unit.
      const replicate = credit.replicate ?? fnvGroup(e.id);
      const minute = minuteOf(e.at);
      const key = `${credit.generation}|${credit.stage}|${credit.arm}|${replicate}|${minute}`;
      let cell = cells.get(key);
      if (cell === undefined) cells.set(key, (cell = { generation: credit.generation, stage: credit.stage, arm: credit.arm, replicate, minute, counts: emptyCounts() }));
      recordEvent(cell.counts, e.name, e.value);
      if (e.name === "comparison" && e.value === 0) {
        this.disagreements.add({ eventId: e.id, at: e.at, targetingKey: e.targetingKey, arm: credit.arm, generation: credit.generation });
      }
    }
    this.counters.add([...cells.values()]);
    this.experiments.add(experimentCells);
    for (const { generation, reason, n } of skipped.values()) this.unattributed.add(generation, reason, n);
    this.disagreements.trim();
    const unattributed = [...skipped.values()].reduce((a, b) => a + b.n, 0);
    return { accepted: fresh.size, duplicates: events.length - fresh.size, unattributed };
  }
}

/** A replicate group for an event with no stickiness value: spread by its id (FNV-1a), stable across retries. */
function fnvGroup(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (h >>> 0) % REPLICATES;
}
