/**
 * A flag's `flagd` block: the parts of a flagd flag definition
 * (flagd.dev/reference/flag-definitions) that Rampart stores as they are
 * and evaluates as flagd does (`evaluate.ts`) — its state, its JsonLogic
 * targeting with `$ref`s resolved, and its metadata. Variants and the
 * default variant are the flag's own fields.
 */
import { z } from "zod";
import { dictSchema } from "../dict";
import { isEmptyTargeting, jsonLogicProblems, JsonLogicSchema } from "./json-logic";

export const FLAGD_STATES = ["ENABLED", "DISABLED"] as const;

export const FlagdMetadataSchema = dictSchema(z.union([z.string(), z.number(), z.boolean()]));

export const FlagdBlockSchema = z
  .strictObject({
    /** DISABLED: every evaluation answers the caller's default, reason DISABLED (flagd's behaviour). */
    state: z.enum(FLAGD_STATES, { error: "must be ENABLED or DISABLED" }).default("ENABLED"),
    /** JsonLogic; absent or `{}`: the default variant, reason STATIC. */
    targeting: JsonLogicSchema.optional(),
    /** Returned as evaluation metadata (flag-set metadata already merged under the flag's own by the import). */
    metadata: FlagdMetadataSchema.optional(),
  })
  .superRefine((block, ctx) => {
    if (isEmptyTargeting(block.targeting)) return;
    for (const problem of jsonLogicProblems(block.targeting)) ctx.addIssue({ code: "custom", path: ["targeting", ...problem.path], message: problem.message });
  });
export type FlagdBlock = z.infer<typeof FlagdBlockSchema>;
