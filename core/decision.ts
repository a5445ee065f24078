/** A decision in a flag's log: who or what changed the rollout, from what to what, and why. */
import { z } from "zod";
import { RolloutStatusSchema } from "./rollout";

const PositionSchema = z.strictObject({ status: RolloutStatusSchema, stage: z.int() });

export const DecisionSchema = z.strictObject({
  id: z.int(),
  at: z.number(),
  generation: z.int(),
  action: z.string(),
  source: z.enum(["operator", "cron", "config"]),
  actor: z.string(),
  reason: z.string().nullable(),
  from: PositionSchema,
  to: PositionSchema,
  stateVersion: z.int(),
  /** The rule that decided, for cron decisions ("gate:ctr:rollback", "promote", "srm", …). */
  rule: z.string().nullable(),
  /** JSON text: every gate's verdict, abort rules, SRM and the α split (cron decisions). */
  verdicts: z.string().nullable(),
  /** What the decision was computed from (JSON text, kept verbatim for replay); null for operator actions. */
  inputs: z.string().nullable(),
});
export type Decision = z.infer<typeof DecisionSchema>;
