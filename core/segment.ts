/**
 * Segments: named, reusable audiences (LaunchDarkly's segments) that any
 * flag's rules refer to with `in_segment` / `not_in_segment`. A context is
 * in a segment when its key (the segment's `attribute`) is not `excluded`
 * and is listed in `keys` or satisfies `when`. The registry copies each
 * segment a flag uses into that flag's snapshot entry, so the edge needs
 * nothing else, and a segment change republishes only the flags using it.
 */
import { z } from "zod";
import { compileCondition, conditionProblems, ConditionSchema, SEGMENT_NAME_PATTERN, segmentReferences, type Predicate } from "./condition";
import { own } from "./dict";

export const MAX_SEGMENT_KEYS = 20_000;
export const SegmentNameSchema = z.string().regex(SEGMENT_NAME_PATTERN, "segment names start with a letter and use only A-Z a-z 0-9 . _ - (1–128 characters)");

const KeyListSchema = z.array(z.string().min(1).max(256)).max(MAX_SEGMENT_KEYS);

export const SegmentSchema = z
  .strictObject({
    name: SegmentNameSchema,
    description: z.string().max(2000).optional(),
    attribute: z.string().min(1).max(128).default("targetingKey").describe("The context attribute `keys` and `excluded` list"),
    keys: KeyListSchema.default([]).describe(`Members by key (up to ${MAX_SEGMENT_KEYS.toLocaleString("en")})`),
    excluded: KeyListSchema.default([]).describe("Never members, whatever `when` says"),
    when: ConditionSchema.optional().describe("Members by rule: contexts for which it is true"),
  })
  .superRefine((segment, ctx) => {
    if (segment.when === undefined && segment.keys.length === 0) ctx.addIssue({ code: "custom", path: ["keys"], message: "a segment needs `keys`, `when`, or both" });
    if (segment.when) {
      for (const p of conditionProblems(segment.when)) ctx.addIssue({ code: "custom", path: ["when", ...p.path], message: p.message });
      // One level: a segment is built from attributes, so membership never recurses or cycles.
      for (const ref of segmentReferences(segment.when)) ctx.addIssue({ code: "custom", path: ["when", ...ref.path], message: "a segment's rule cannot refer to a segment: list its conditions here" });
    }
  });
export type Segment = z.infer<typeof SegmentSchema>;
export type SegmentInput = z.input<typeof SegmentSchema>;

/** A segment as the registry keeps and the API answers it: with its version, who changed it last, and (when listed) the flags using it. */
export const StoredSegmentSchema = z.strictObject({ segment: SegmentSchema, version: z.int().min(1), updatedBy: z.string(), updatedAt: z.number() });
export type StoredSegment = z.infer<typeof StoredSegmentSchema>;
export const ListedSegmentSchema = StoredSegmentSchema.extend({ flags: z.array(z.string()).describe("Flags whose rules use it") });

/** The membership test: true, false, or null (unknown) when the context lacks the key and the rule cannot decide. */
export function compileSegment(segment: Segment): Predicate {
  const keys = new Set(segment.keys);
  const excluded = new Set(segment.excluded);
  const rule = segment.when ? compileCondition(segment.when) : null;
  return (context) => {
    const raw = own(context, segment.attribute);
    const key = typeof raw === "string" ? raw : typeof raw === "number" && Number.isFinite(raw) ? String(raw) : null;
    if (key !== null && excluded.has(key)) return false;
    if (key !== null && keys.has(key)) return true;
    if (rule !== null) return rule(context);
    return key === null ? null : false;
  };
}
