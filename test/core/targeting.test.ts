import { describe, expect, it } from "vitest";
import { assign, compileFlag, isRolloutExposure, type Served } from "../../core/assign";
import type { CLAUSE_OPS} from "../../core/condition";
import { compileCondition, type Clause } from "../../core/condition";
import { FlagSpecSchema, type FlagSpecInput } from "../../core/manifest";
import { snapshotFlagOf } from "../../core/snapshot";
import { compiled, specOf, stateOf } from "./fixtures";

const ramping = { status: "ramping" as const, stageIndex: 1 };

function served(flag: ReturnType<typeof compiled>, context: Record<string, unknown>): Served {
  const result = assign(flag, context);
  if (!result.ok) throw new Error(result.message);
  if (result.codeDefault) throw new Error(`code default (${result.reason})`);
  return result;
}

function refusal(input: Partial<FlagSpecInput>): { path: string; message: string }[] {
  const parsed = FlagSpecSchema.safeParse({ key: "f", type: "string", variants: { baseline: "a", candidate: "b" }, rollout: { stages: [{ weight: 100 }] }, ...input });
  if (parsed.success) throw new Error("accepted");
  return parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
}

describe("targeting rules", () => {
  // The issue's own example: beta testers get the new ranker, enterprise tenants keep the old one, everyone else a 10% gated rollout.
  const spec = specOf({
    rules: [
      { name: "beta", when: { attribute: "groups", op: "contains", value: "beta" }, serve: { variant: "candidate" } },
      { name: "enterprise", when: { attribute: "plan", op: "equals", value: "enterprise" }, serve: { variant: "baseline" } },
    ],
  });
  const flag = compiled(spec, ramping);

  it("serves the first matching rule's variant, and everyone else the rollout, whose exposures alone are counted", () => {
    const beta = served(flag, { targetingKey: "u1", groups: ["staff", "beta"], plan: "enterprise" });
    expect(beta).toMatchObject({ variant: "candidate", value: "v2", reason: "TARGETING_MATCH", rule: "beta" });
    expect(beta.metadata).toMatchObject({ rule: "beta", variant: "candidate" });
    expect(isRolloutExposure(flag, beta)).toBe(false);
    const enterprise = served(flag, { targetingKey: "u1", plan: "enterprise" });
    expect(enterprise).toMatchObject({ variant: "baseline", reason: "TARGETING_MATCH", rule: "enterprise" });
    let candidates = 0;
    for (let i = 0; i < 10_000; i++) {
      const s = served(flag, { targetingKey: `user-${i}`, plan: "free" });
      expect(s.rule).toBeNull();
      expect(isRolloutExposure(flag, s)).toBe(true);
      if (s.variant === "candidate") candidates++;
    }
    expect(candidates / 10_000).toBeGreaterThan(0.09);
    expect(candidates / 10_000).toBeLessThan(0.11);
  });

  it("keeps every rollout user's arm whatever the rules are (rules change no generation and no bucket)", () => {
    const plain = compiled(specOf(), ramping);
    for (let i = 0; i < 2_000; i++) {
      const context = { targetingKey: `user-${i}`, plan: "free" };
      expect(served(flag, context).arm).toBe(served(plain, context).arm);
    }
  });

  it("writes a two-arm flag's snapshot entry exactly as before rules existed", () => {
    const entry = snapshotFlagOf(specOf(), stateOf(specOf()), 1);
    expect(Object.keys(entry)).not.toContain("rules");
    expect(Object.keys(entry)).not.toContain("defaultVariant");
    expect(JSON.stringify(entry.variants)).toBe('{"baseline":"v1","candidate":"v2"}');
  });

  it("a kill serves the baseline to everyone, rules or not", () => {
    const killed = compiled(spec, { status: "killed" });
    expect(served(killed, { targetingKey: "u", groups: ["beta"] })).toMatchObject({ variant: "baseline", reason: "DISABLED" });
  });

  it("hands a rule's cohort to the rollout (serve: rollout), and sends the rest to the default out of scope", () => {
    const cohort = compiled(specOf({
      variants: { baseline: "v1", candidate: "v2", legacy: "v0" },
      defaultVariant: "legacy",
      rules: [{ when: { attribute: "country", op: "in", values: ["DE", "FR"] }, serve: "rollout" }, { serve: { variant: "legacy" } }],
    }), { status: "completed", stageIndex: 3 });
    expect(served(cohort, { targetingKey: "u", country: "DE" })).toMatchObject({ variant: "candidate", reason: "STATIC", rule: null });
    expect(served(cohort, { targetingKey: "u", country: "US" })).toMatchObject({ variant: "legacy", value: "v0", reason: "TARGETING_MATCH", rule: "rule-2" });
  });
});

describe("multi-variant flags", () => {
  const threeWay = FlagSpecSchema.parse({
    key: "layout",
    kind: "targeting",
    type: "string",
    variants: { control: "grid", list: "list", cards: "cards" },
    defaultVariant: "control",
    rules: [
      { name: "staff", when: { attribute: "email", op: "ends_with", value: "@example.com" }, serve: { variant: "cards" } },
      { name: "experiment", when: { attribute: "country", op: "not_in", values: ["CN"] }, serve: { split: [{ variant: "control", weight: 50 }, { variant: "list", weight: 30 }, { variant: "cards", weight: 20 }] } },
    ],
  });
  const flag = compileFlag(snapshotFlagOf(threeWay, stateOf(threeWay), 1), 1);

  it("splits by the weights, stickily, and serves the default to contexts no rule matches", () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      const s = served(flag, { targetingKey: `k${i}`, country: "DE" });
      expect(s.reason).toBe("SPLIT");
      expect(served(flag, { targetingKey: `k${i}`, country: "FR" }).variant).toBe(s.variant);
      counts.set(s.variant, (counts.get(s.variant) ?? 0) + 1);
    }
    // 20,000 draws: each share within 4 standard errors.
    for (const [variant, share] of [["control", 0.5], ["list", 0.3], ["cards", 0.2]] as const) {
      expect(Math.abs((counts.get(variant) ?? 0) / 20_000 - share)).toBeLessThan(4 * Math.sqrt((share * (1 - share)) / 20_000));
    }
    expect(served(flag, { targetingKey: "k", country: "CN" })).toMatchObject({ variant: "control", value: "grid", reason: "DEFAULT" });
    expect(served(flag, { targetingKey: "k", email: "a@example.com" })).toMatchObject({ variant: "cards", reason: "TARGETING_MATCH" });
  });

  it("a split needs the stickiness attribute, and says so", () => {
    const result = assign(flag, { country: "DE" });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errorCode).toBe("TARGETING_KEY_MISSING");
  });

  it("a kill serves the default variant", () => {
    const killed = compileFlag(snapshotFlagOf(threeWay, stateOf(threeWay, { status: "killed" }), 1), 1);
    expect(served(killed, { targetingKey: "k", email: "a@example.com" })).toMatchObject({ variant: "control", reason: "DISABLED" });
  });
});

describe("conditions", () => {
  const truth = (clause: Clause, context: Record<string, unknown>) => compileCondition(clause)(context);

  it("never matches a missing or mistyped attribute, negated or not, and never throws", () => {
    const cases: Record<Exclude<(typeof CLAUSE_OPS)[number], "exists">, { clause: Partial<Clause>; mistyped: unknown }> = {
      equals: { clause: { value: "a" }, mistyped: 5 }, not_equals: { clause: { value: "a" }, mistyped: 5 },
      in: { clause: { values: ["a", "b"] }, mistyped: 5 }, not_in: { clause: { values: ["a", "b"] }, mistyped: 5 },
      gt: { clause: { value: 1 }, mistyped: "5" }, gte: { clause: { value: 1 }, mistyped: "5" }, lt: { clause: { value: 1 }, mistyped: "0" }, lte: { clause: { value: 1 }, mistyped: "0" },
      before: { clause: { value: "2026-01-01" }, mistyped: "soon" }, after: { clause: { value: "2026-01-01" }, mistyped: "later" },
      contains: { clause: { value: "a" }, mistyped: 5 }, starts_with: { clause: { value: "a" }, mistyped: 5 }, ends_with: { clause: { value: "a" }, mistyped: 5 },
      semver_eq: { clause: { value: "1.0.0" }, mistyped: "v-one" }, semver_gt: { clause: { value: "1.0.0" }, mistyped: 2 }, semver_gte: { clause: { value: "1.0.0" }, mistyped: "2" },
      semver_lt: { clause: { value: "1.0.0" }, mistyped: "0.x" }, semver_lte: { clause: { value: "1.0.0" }, mistyped: false },
      // A segment the flag's entry does not carry decides nothing.
      in_segment: { clause: { value: "absent" }, mistyped: 5 }, not_in_segment: { clause: { value: "absent" }, mistyped: 5 },
    };
    for (const [op, { clause, mistyped }] of Object.entries(cases)) {
      const full = { attribute: "a", op, ...clause } as Clause;
      for (const context of [{}, { a: null }, { a: { nested: "a" } }, { a: mistyped }]) {
        for (const condition of [full, { not: full }, { any: [full] }, { all: [{ not: full }] }]) {
          if (compileCondition(condition)(context) === true) expect.fail(`${JSON.stringify(condition)} matched ${JSON.stringify(context)}`);
        }
      }
    }
    expect(truth({ attribute: "a", op: "exists" }, {})).toBe(false);
    expect(truth({ attribute: "toString", op: "exists" }, {})).toBe(false);
    expect(truth({ attribute: "a", op: "exists" }, { a: 0 })).toBe(true);
  });

  it("compares numbers, dates, text and semantic versions as their kinds order them", () => {
    expect(truth({ attribute: "v", op: "semver_gt", value: "1.9.0" }, { v: "1.10.0" })).toBe(true);
    expect(truth({ attribute: "v", op: "semver_lt", value: "2.0.0" }, { v: "2.0.0-rc.1" })).toBe(true);
    expect(truth({ attribute: "d", op: "after", value: "2026-06-01T00:00:00Z" }, { d: "2026-06-02" })).toBe(true);
    expect(truth({ attribute: "d", op: "before", value: "2026-06-01T00:00:00Z" }, { d: Date.parse("2026-05-01") })).toBe(true);
    expect(truth({ attribute: "n", op: "gte", value: 10 }, { n: 10 })).toBe(true);
    expect(truth({ attribute: "n", op: "gt", value: 10 }, { n: "11" })).toBeNull();
    expect(truth({ attribute: "s", op: "in", values: ["1"] }, { s: 1 })).toBeNull(); // a number against a list of text: mistyped
    expect(truth({ attribute: "s", op: "in", values: ["1", 2] }, { s: 1 })).toBe(false);
    expect(truth({ attribute: "s", op: "equals", value: "Beta" }, { s: "beta" })).toBe(false);
    expect(truth({ attribute: "s", op: "starts_with", value: "eu-" }, { s: "eu-west" })).toBe(true);
    const nested = compileCondition({ all: [{ any: [{ attribute: "a", op: "equals", value: 1 }, { attribute: "b", op: "equals", value: 2 }] }, { not: { attribute: "c", op: "exists" } }] });
    expect(nested({ b: 2 })).toBe(true);
    expect(nested({ b: 2, c: 0 })).toBe(false);
    expect(nested({ a: "1", b: 3 })).toBeNull();
  });
});

describe("refusals name the field", () => {
  it("refuses unknown variants, splits that do not sum to 100, and bad operands", () => {
    expect(refusal({ rules: [{ serve: { variant: "gamma" } }] })).toEqual([{ path: "rules.0.serve.variant", message: expect.stringContaining('unknown variant "gamma"') }]);
    expect(refusal({ rules: [{ serve: { split: [{ variant: "baseline", weight: 50 }, { variant: "candidate", weight: 40 }] } }] })).toEqual([{ path: "rules.0.serve.split", message: "weights sum to 90, not 100" }]);
    expect(refusal({ rules: [{ when: { attribute: "v", op: "semver_gt", value: "one" }, serve: { variant: "baseline" } }] })[0]?.path).toBe("rules.0.when.value");
    expect(refusal({ rules: [{ when: { attribute: "v", op: "in", value: "x" }, serve: { variant: "baseline" } }] })[0]?.path).toBe("rules.0.when.values");
    const deep = { not: { not: { not: { not: { not: { not: { attribute: "a", op: "exists" } } } } } } };
    expect(refusal({ rules: [{ when: deep, serve: { variant: "baseline" } }] })[0]?.message).toContain("at most 6 levels");
  });

  it("asks a rollout for both arms and a targeting flag for its default", () => {
    expect(refusal({ variants: { baseline: "a" } })).toEqual([{ path: "variants.candidate", message: expect.stringContaining("name both") }]);
    expect(refusal({ kind: "targeting", rollout: undefined, variants: { on: "a" } }).map((p) => p.path)).toEqual(["defaultVariant"]);
    expect(refusal({ variants: { baseline: "a", candidate: "b", __proto__x: "c" } }).map((p) => p.path)).toEqual(["variants.__proto__x"]);
    expect(refusal({ kind: "targeting", rollout: undefined, variants: { on: "a" }, defaultVariant: "on", rules: [{ serve: "rollout" }] }).map((p) => p.path)).toEqual(["rules.0.serve"]);
  });
});
