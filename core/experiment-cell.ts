/**
 * An experiment's counter cell, as the edge flushes it and the flag's object
 * stores it (`experiment.ts`). Its own file: the counters module depends on
 * the flag spec, which depends on `experiment.ts`.
 */
import { z } from "zod";
import { ArmCountsSchema, REPLICATES, type ArmCounts } from "./counters";
import { IterationSchema } from "./experiment";
import { VariantNameSchema } from "./variant-name";

export const HOUR_MS = 3_600_000;
export const hourOf = (ms: number): number => Math.floor(ms / HOUR_MS);

/** One experiment counter cell: an iteration's variant, replicate group and hour (hours since the epoch). */
export const ExperimentCellSchema = z.strictObject({
  iteration: IterationSchema,
  rule: z.string().min(1).max(64),
  control: VariantNameSchema,
  variant: VariantNameSchema,
  replicate: z.int().min(0).max(REPLICATES - 1),
  hour: z.int(),
  counts: ArmCountsSchema,
});
export interface ExperimentCell extends Omit<z.infer<typeof ExperimentCellSchema>, "counts"> {
  counts: ArmCounts;
}
