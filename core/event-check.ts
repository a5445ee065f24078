/**
 * The checks one incoming event passes at the edge before it is forwarded
 * to the object that credits it: the flag exists in this isolate's
 * snapshot, the time is in range, the event kind fits the flag, and an
 * echoed assignment names a variant and wave the flag has. Each refusal is
 * a typed kind the events route renders once (`worker/routes/events.ts`).
 */
import { inWave, parseAssignmentToken, type CompiledFlag } from "./assign";
import { own, plainCopy } from "./dict";
import { parseExperimentToken } from "./experiment";
import type { Arm } from "./manifest";
import { eventTime, MAX_EVENT_AGE_MS, MAX_FUTURE_SKEW_MS, type ForwardedEvent, type IncomingEvent } from "./events";
import { waveObjectName, type EdgeSource } from "./waves";

export const EVENT_REFUSALS = ["invalid_event", "unknown_flag", "timestamp_out_of_range", "exposure_not_counted", "unknown_variant", "invalid_assignment", "unavailable"] as const;
export type EventRefusal = (typeof EVENT_REFUSALS)[number];

export type EventCheck =
  | { readonly ok: true; /** The object that credits it: the flag's own, or its region wave's. */ readonly target: string; readonly event: ForwardedEvent }
  | { readonly ok: false; readonly error: EventRefusal; readonly message: string };

/** A flag deleted in the registry, as its object reports it to an isolate that has not yet seen the delete. */
export function deletedFlag(key: string): Extract<EventCheck, { ok: false }> {
  return { ok: false, error: "unknown_flag", message: `flag "${key}" was deleted` };
}

/** Checks one event against the flag it names (undefined: not in the snapshot); `edge` places it in a region wave. */
export function checkEvent(event: IncomingEvent, flag: CompiledFlag | undefined, now: number, edge: EdgeSource): EventCheck {
  const refuse = (error: EventRefusal, message: string): EventCheck => ({ ok: false, error, message });
  // 1. The flag, as this isolate knows it (its object refuses it too once deleted: `deletedFlag`).
  if (!flag) return refuse("unknown_flag", `flag "${event.flag}" does not exist`);
  // 2. The time, within what event-id deduplication remembers.
  const at = eventTime(event, now);
  if (at === null) return refuse("timestamp_out_of_range", `timestamp must be within ${MAX_EVENT_AGE_MS / 86_400_000} days before and ${MAX_FUTURE_SKEW_MS / 60_000} minutes after now`);
  // 3. The kind: exposure events only where the flag counts them from events.
  if (event.name === "exposure" && flag.source.exposures === "served") return refuse("exposure_not_counted", `flag "${event.flag}" counts served exposures; exposure events would count twice`);
  // 4. An experiment's token names a variant of the flag; its events go to the flag's own object.
  const experiment = event.assignment === undefined ? null : parseExperimentToken(event.assignment);
  if (experiment !== null) {
    if (own(flag.source.variants, experiment.variant) === undefined) return refuse("invalid_assignment", `assignment names variant "${experiment.variant}"; flag "${event.flag}" has ${Object.keys(flag.source.variants).join(", ")}`);
    if (event.variant !== undefined && event.variant !== experiment.variant) return refuse("unknown_variant", `variant "${event.variant}" is not the one the assignment names ("${experiment.variant}")`);
    return { ok: true, target: event.flag, event: forwarded(event, at, undefined) };
  }
  // 5. The variant and the echoed assignment name what the flag has.
  if (event.variant !== undefined && event.variant !== "baseline" && event.variant !== "candidate") return refuse("unknown_variant", `variant must be "baseline" or "candidate" (got "${event.variant}")`);
  const token = event.assignment === undefined ? null : parseAssignmentToken(event.assignment);
  if (event.assignment !== undefined && token === null) return refuse("invalid_assignment", `assignment must be the token evaluation metadata carries, like "3.1.c", or an experiment's like "x.1a2b3c4d.cards" (got "${event.assignment}")`);
  const waves = flag.waves?.flags.length ?? 1;
  if (token !== null && token.wave > waves) return refuse("invalid_assignment", `assignment names wave ${token.wave}; flag "${event.flag}" has ${waves}`);
  // 6. The object that credits it: the wave the assignment names, else the one the context (or the edge) places it in.
  const target = token !== null ? waveObjectName(event.flag, token.wave) : inWave(flag, event.context ?? {}, edge).counterKey;
  return { ok: true, target, event: forwarded(event, at, event.variant) };
}

/** The event as its object takes it; `variant` an arm (checked), or none for an experiment's event (its token names it). */
function forwarded(event: IncomingEvent, at: number, variant: Arm | undefined): ForwardedEvent {
  return {
      id: event.eventId,
      name: event.name,
      ...(event.value !== undefined ? { value: event.value } : {}),
      ...(variant !== undefined ? { variant } : {}),
      ...(event.assignment !== undefined ? { assignment: event.assignment } : {}),
      targetingKey: event.targetingKey,
      // A plain copy: the dictionary has no prototype, which RPC cannot clone.
      ...(event.context !== undefined ? { context: plainCopy(event.context) } : {}),
      at,
  };
}
