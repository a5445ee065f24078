/**
 * flagd definitions as they are: Rampart (import → spec → snapshot entry →
 * compiled flag → assign) against @openfeature/flagd-core evaluating the
 * same document, on generated contexts. Every flagd operation, nested
 * conditions, `$evaluators`, `fractional` with several buckets and a custom
 * bucketing expression, `sem_ver`, disabled flags, a missing default,
 * missing and mistyped attributes, `$flagd.flagKey` and `$flagd.timestamp`.
 * The answer compared is what a caller sees: value, variant, reason and
 * error code.
 */
import { describe, expect, it } from "vitest";
import { FlagdCore } from "@openfeature/flagd-core";
import { assign, type Assignment } from "../../core/assign";
import { compileEntry } from "../../core/compile";
import { importFlagd } from "../../core/flagd/import";
import type { FlagSpec } from "../../core/manifest";
import { initialState } from "../../core/rollout";
import { snapshotFlagOf } from "../../core/snapshot";
import { AFFIX_IN_ITERATOR_DOCUMENT, FLAGD_DOCUMENT, generatedContext } from "../fixtures/flagd-document";
import { seededRandom } from "../../core/random";

const CALLER_DEFAULT = { boolean: false, string: "caller-default", number: -1, object: { caller: true } } as const;

interface Answer {
  value: unknown;
  variant?: string | undefined;
  reason: string | undefined;
  errorCode?: string | undefined;
}

function rampartAnswer(a: Assignment, type: FlagSpec["type"]): Answer {
  if (!a.ok) return { value: CALLER_DEFAULT[type], reason: "ERROR", errorCode: a.errorCode };
  if (a.codeDefault) return { value: CALLER_DEFAULT[type], reason: a.reason };
  return { value: a.value, variant: a.variant, reason: a.reason };
}

function compiledFlags(document: unknown) {
  const imported = importFlagd(document);
  if (!imported.ok) throw new Error(`the document did not import: ${JSON.stringify(imported.problems)}`);
  return imported.flags.map(({ spec }) => {
    // Through the snapshot entry as an edge reads it: JSON, then validated and compiled.
    const entry = JSON.parse(JSON.stringify(snapshotFlagOf(spec, initialState(spec.rollout.stages, 1, 1, 0), 1)));
    const compiled = compileEntry(spec.key, entry, 3);
    if (compiled === null) throw new Error(`${spec.key}: the entry did not compile`);
    return { spec, compiled };
  });
}

function flagdCores(document: unknown) {
  // flagd-core's interpreter is its mode for edge runtimes (no code generation), as Rampart runs; its compiler is its default.
  const interpreted = new FlagdCore(undefined, undefined, { disableDynamicCodeGeneration: true });
  interpreted.setConfigurations(JSON.stringify(document));
  const generated = new FlagdCore();
  generated.setConfigurations(JSON.stringify(document));
  return { interpreted, generated };
}

function resolve(engine: FlagdCore, spec: FlagSpec, context: Record<string, unknown>): Answer {
  const ctx = context as Parameters<FlagdCore["resolveBooleanEvaluation"]>[2];
  const r =
    spec.type === "boolean" ? engine.resolveBooleanEvaluation(spec.key, CALLER_DEFAULT.boolean, ctx)
    : spec.type === "string" ? engine.resolveStringEvaluation(spec.key, CALLER_DEFAULT.string, ctx)
    : spec.type === "number" ? engine.resolveNumberEvaluation(spec.key, CALLER_DEFAULT.number, ctx)
    : engine.resolveObjectEvaluation(spec.key, CALLER_DEFAULT.object, ctx);
  return { value: r.value, ...(r.variant !== undefined ? { variant: r.variant } : {}), reason: r.reason, ...(r.errorCode !== undefined ? { errorCode: r.errorCode } : {}) };
}

describe("flagd definitions: Rampart answers what @openfeature/flagd-core answers", () => {
  const flags = compiledFlags(FLAGD_DOCUMENT);
  const { interpreted, generated } = flagdCores(FLAGD_DOCUMENT);

  it("imports every flag of the document", () => {
    expect(flags.map((f) => f.spec.key).sort()).toEqual(Object.keys(FLAGD_DOCUMENT.flags).sort());
  });

  it("0 differences in value, variant, reason and error code on 12,000 generated contexts × every flag", () => {
    const random = seededRandom(20261206);
    const differences: string[] = [];
    // Where flagd-core's compiled mode answers otherwise, its interpreter does too: json-logic-engine's two modes differ there, not Rampart.
    const compiledOnly = new Map<string, number>();
    const reasons = new Map<string, number>();
    let compared = 0;
    for (let i = 0; i < 12_000; i++) {
      const context = generatedContext(random, i);
      const now = Date.now();
      for (const { spec, compiled } of flags) {
        const ours = JSON.stringify(rampartAnswer(assign(compiled, context, undefined, now), spec.type));
        const reference = resolve(interpreted, spec, context);
        const theirs = JSON.stringify(reference);
        compared++;
        const tally = `${spec.key}:${reference.reason}${reference.variant !== undefined ? `:${reference.variant}` : ""}`;
        reasons.set(tally, (reasons.get(tally) ?? 0) + 1);
        if (ours !== theirs && differences.length < 10) differences.push(`${spec.key} ${JSON.stringify(context)}: rampart ${ours}, flagd-core ${theirs}`);
        const viaCompiler = JSON.stringify(resolve(generated, spec, context));
        if (viaCompiler !== ours) {
          if (viaCompiler === theirs) differences.push(`${spec.key} ${JSON.stringify(context)}: rampart ${ours}, flagd-core (both modes) ${theirs}`);
          compiledOnly.set(spec.key, (compiledOnly.get(spec.key) ?? 0) + 1);
        }
      }
    }
    expect(differences).toEqual([]);
    expect(compared).toBe(12_000 * flags.length);
    // The engine's compiled mode reads a missing array in `all` as true and a missing attribute in `cat` as text; JsonLogic (and its interpreter) do not.
    expect([...compiledOnly.keys()].sort()).toEqual(["arrays", "split-custom"]);
    // The contexts reach every branch that matters: each split bucket, each version rule, the errors, the code defaults.
    for (const seen of [
      "split-three:TARGETING_MATCH:control", "split-three:TARGETING_MATCH:alpha", "split-three:TARGETING_MATCH:beta", "split-three:DEFAULT:control",
      "split-custom:TARGETING_MATCH:one", "split-custom:TARGETING_MATCH:three", "split-custom:TARGETING_MATCH:four",
      "split-shorthand:TARGETING_MATCH:b", "split-shorthand:TARGETING_MATCH:c", "split-shorthand:TARGETING_MATCH:a",
      "app-version:TARGETING_MATCH:exact", "app-version:TARGETING_MATCH:latest", "app-version:TARGETING_MATCH:patchline", "app-version:TARGETING_MATCH:legacy", "app-version:DEFAULT:old",
      "header-color:TARGETING_MATCH:red", "header-color:TARGETING_MATCH:blue", "header-color:TARGETING_MATCH:yellow", "header-color:DEFAULT:green",
      "arithmetic:TARGETING_MATCH:odd", "arithmetic:TARGETING_MATCH:large", "arithmetic:TARGETING_MATCH:medium",
      "arrays:TARGETING_MATCH:all", "arrays:TARGETING_MATCH:tagged", "arrays:TARGETING_MATCH:counted", "arrays:TARGETING_MATCH:merged",
      "missing-attrs:TARGETING_MATCH:complete", "missing-attrs:TARGETING_MATCH:partial", "missing-attrs:DEFAULT:absent",
      "no-default:TARGETING_MATCH:gold", "no-default:DEFAULT", "no-default-static:DEFAULT", "disabled-flag:DISABLED", "static-bool:STATIC:on",
      "flag-key:TARGETING_MATCH:self", "flag-key:TARGETING_MATCH:other", "timestamp:TARGETING_MATCH:window",
      "boolean-result:TARGETING_MATCH:true", "boolean-result:TARGETING_MATCH:false", "numbered-variants:TARGETING_MATCH:3",
      "unknown-variant:ERROR", "unknown-variant:TARGETING_MATCH:b", "strings:TARGETING_MATCH:short", "strings:TARGETING_MATCH:domain",
    ]) expect(reasons.get(seen) ?? 0, seen).toBeGreaterThan(0);
  });

  it("answers flagd's own operations inside an iteration, where flagd-core 4.0.1 throws (a known difference)", () => {
    const [only] = compiledFlags(AFFIX_IN_ITERATOR_DOCUMENT);
    const cores = flagdCores(AFFIX_IN_ITERATOR_DOCUMENT);
    const context = { targetingKey: "u1", tags: ["vip", "trial"] };
    expect(rampartAnswer(assign(only!.compiled, context, undefined, 0), "boolean")).toEqual({ value: true, variant: "yes", reason: "TARGETING_MATCH" });
    for (const core of [cores.interpreted, cores.generated]) expect(resolve(core, only!.spec, context)).toMatchObject({ reason: "ERROR", errorCode: "GENERAL" });
    expect(rampartAnswer(assign(only!.compiled, { tags: ["vip"] }, undefined, 0), "boolean")).toEqual({ value: false, variant: "no", reason: "TARGETING_MATCH" });
  });
});
