/**
 * A guard flag's spec (`kind: guard`): the bound, the window and the return
 * rule. Apart from `guard.ts` so the flag schema can use it without the
 * statistics (and their imports of the schema).
 */
import { z } from "zod";
import { AbortRuleSchema, DurationSchema } from "./gate-spec";
import type { Rollout } from "./manifest";

export const GuardSpecSchema = z.strictObject({
  /** The bound: `{ metric, above | below, sustained? }`, written like an abort rule. */
  when: AbortRuleSchema,
  /** Length of a window judged for the return. */
  window: DurationSchema.default(600_000),
  /** Consecutive healthy windows before the primary is served again. */
  recoverAfter: z.int().min(1).max(1000).default(3),
  /** Percent of traffic kept on the primary while fallen back (0 < probe ≤ 50). */
  probe: z.number().gt(0, "must be above 0: without a probe the primary's recovery cannot be seen").max(50, "must be at most 50").default(5),
  /** Fewest samples a window needs to count as healthy. */
  minSamples: z.int().min(1).default(100),
});
export type GuardSpec = z.infer<typeof GuardSpecSchema>;

/** What a guard's decision log and replay keep (parsed units). */
export const JudgedGuardSchema = z.strictObject({
  when: z.strictObject({ metric: z.string(), direction: z.enum(["above", "below"]), level: z.number(), sustained: z.number().optional(), soft: z.boolean().optional() }).transform((w) => ({ ...w, sustained: w.sustained, soft: false })),
  window: z.number().positive(),
  recoverAfter: z.int().min(1),
  probe: z.number(),
  minSamples: z.int().min(1),
});


/** The rollout a guard runs on: primary at stage 0, fallback with its probe at stage 1. */
export function guardRollout(guard: GuardSpec): Rollout {
  return {
    window: guard.window,
    healthyWindowsToPromote: guard.recoverAfter,
    promote: "evidence",
    stages: [
      { weight: 100, shadow: false },
      { weight: guard.probe, shadow: false },
    ],
  };
}

