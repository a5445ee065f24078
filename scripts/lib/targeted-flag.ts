/**
 * The targeted flag both benchmarks time (bench:core against flagd-core,
 * bench:edge over OFREP against the two-arm flag): 10 rules of mixed
 * operators — a 1,000-key segment among them — before a 3-way split.
 */
import type { FlagSpecInput } from "../../core/manifest";

/** The segment's members: one context in 50 is one of them. */
export const TARGETED_SEGMENT_KEYS: readonly string[] = Array.from({ length: 1000 }, (_, i) => `user-${i * 7}-seg`);

/** The split's variants and weights, in order (flagd's `fractional` takes the same list). */
export const TARGETED_SPLIT = [["control", 34], ["list", 33], ["cards", 33]] as const;

/** The spec, its segment named `segment`. */
export function targetedSpec(key: string, segment: string): FlagSpecInput {
  return {
    key, kind: "targeting", type: "string", variants: { control: "control", list: "list", cards: "cards" }, defaultVariant: "control",
    rules: [
      { when: { attribute: "email", op: "ends_with", value: "@example.com" }, serve: { variant: "cards" } },
      { when: { attribute: "groups", op: "contains", value: "staff" }, serve: { variant: "cards" } },
      { when: { attribute: "targetingKey", op: "in_segment", value: segment }, serve: { variant: "list" } },
      { when: { attribute: "plan", op: "equals", value: "enterprise" }, serve: { variant: "control" } },
      { when: { attribute: "appVersion", op: "semver_lt", value: "2.0.0" }, serve: { variant: "control" } },
      { when: { attribute: "country", op: "in", values: ["CN", "RU"] }, serve: { variant: "control" } },
      { when: { attribute: "age", op: "gte", value: 65 }, serve: { variant: "list" } },
      { when: { all: [{ attribute: "region", op: "starts_with", value: "eu-" }, { attribute: "plan", op: "not_equals", value: "free" }] }, serve: { variant: "list" } },
      { when: { attribute: "beta", op: "equals", value: true }, serve: { variant: "cards" } },
      { serve: { split: TARGETED_SPLIT.map(([variant, weight]) => ({ variant, weight })) } },
    ],
  };
}
