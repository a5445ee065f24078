/**
 * Evaluating a flagd definition as flagd does (flagd-core's `FeatureFlag.evaluate`
 * and the flagd specification's evaluation order): the same JsonLogic engine
 * (json-logic-engine, in its interpreter — Workers forbid the compiler's
 * `eval`), flagd's operations from `operations.ts`, and flagd's ladder of
 * outcomes. `test/core/flagd-differential.test.ts` holds this to
 * `@openfeature/flagd-core` on generated contexts.
 */
import { LogicEngine } from "json-logic-engine";
import type { Dict } from "../dict";
import type { FlagValue } from "../manifest";
import type { Assignment, CodeDefault, EvaluationContext, Metadata, NotServed, Reason, Served } from "../assign";
import { isEmptyTargeting } from "./json-logic";
import { endsWith, fractional, semVer, startsWith } from "./operations";
import type { FlagdBlock } from "./definition";

/** One engine for every flag: it holds no per-flag state but its cache of optimised expressions (a WeakMap on each expression). */
const engine = new LogicEngine();
engine.addMethod("fractional", (args: unknown, data: unknown) => fractional(args, data as Record<string, unknown>));
engine.addMethod("sem_ver", (args: unknown) => semVer(args));
engine.addMethod("starts_with", (args: unknown) => startsWith(args));
engine.addMethod("ends_with", (args: unknown) => endsWith(args));

/** What `assign` calls for a flag stored from a flagd definition. */
export type FlagdEvaluator = (context: EvaluationContext, nowMs: number) => Assignment;

export interface CompiledFlagd {
  readonly evaluate: FlagdEvaluator;
  /** What a kill serves: flagd's DISABLED, the caller's default. */
  readonly disabled: CodeDefault;
}

/** The `rule` of outcomes chosen by a flagd definition: never a rollout exposure. */
export const FLAGD_RULE = "flagd";

type Outcomes = ReadonlyMap<string, Readonly<Record<"STATIC" | "DEFAULT" | "TARGETING_MATCH", Served>>>;

/**
 * The evaluator of one flagd definition, its outcomes precomputed:
 * 1. disabled → the caller's default, DISABLED;
 * 2. no targeting → the default variant, STATIC;
 * 3. targeting → its result: an error → GENERAL; null → the default
 *    variant, DEFAULT; else the variant named by its text, TARGETING_MATCH;
 * 4. no variant chosen and no default → the caller's default, DEFAULT;
 *    a variant the flag lacks → GENERAL.
 */
export function compileFlagd(key: string, block: FlagdBlock, variants: Readonly<Dict<FlagValue>>, defaultVariant: string | undefined, configVersion: number): CompiledFlagd {
  // One metadata object per outcome: OFREP caches each outcome's answer text by its metadata (`successText`).
  const metadata = (): Metadata => Object.freeze({ ...block.metadata, configVersion });
  const codeDefault = (reason: CodeDefault["reason"]): CodeDefault => Object.freeze({ ok: true as const, codeDefault: true as const, key, reason, metadata: metadata() });
  const general = (message: string): NotServed => Object.freeze({ ok: false as const, key, errorCode: "GENERAL" as const, message });
  const outcomes: Outcomes = new Map(
    Object.entries(variants).map(([variant, value]) => {
      const served = (reason: Reason): Served =>
        Object.freeze({ ok: true as const, key, arm: "baseline" as const, variant, rule: FLAGD_RULE, value, reason, bucket: null, replicate: null, metadata: metadata() });
      return [variant, Object.freeze({ STATIC: served("STATIC"), DEFAULT: served("DEFAULT"), TARGETING_MATCH: served("TARGETING_MATCH") })] as const;
    }),
  );
  const disabled = codeDefault("DISABLED");
  const noDefault = codeDefault("DEFAULT");
  const failed = general(`Error evaluating targeting rule for flag '${key}'`);
  const pick = (variant: string | undefined, reason: "STATIC" | "DEFAULT" | "TARGETING_MATCH"): Assignment => {
    if (variant === undefined) return noDefault;
    const chosen = outcomes.get(variant);
    return chosen === undefined ? general(`Variant '${variant}' not found in flag with key '${key}'`) : chosen[reason];
  };

  if (block.state === "DISABLED") return { evaluate: () => disabled, disabled };
  if (isEmptyTargeting(block.targeting)) {
    const fixed = pick(defaultVariant, "STATIC");
    return { evaluate: () => fixed, disabled };
  }
  const logic = block.targeting;
  const evaluate: FlagdEvaluator = (context, nowMs) => {
    let result: unknown;
    try {
      // Without a prototype, a computed `var` ("__pro" + "to__", "constructor") finds nothing instead of Object.prototype.
      const data = Object.assign(Object.create(null) as Record<string, unknown>, context, { $flagd: { flagKey: key, timestamp: Math.floor(nowMs / 1000) } });
      result = engine.run(logic, data);
    } catch {
      return failed;
    }
    if (result === null || result === undefined) return pick(defaultVariant, "DEFAULT");
    // flagd takes the result's text (`toString()`): `true` names variant "true", 3 names "3".
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- flagd's own rule, objects included
    return pick(String(result), "TARGETING_MATCH");
  };
  return { evaluate, disabled };
}
