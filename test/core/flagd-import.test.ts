/** What a flagd document import refuses, each with the document path that needs fixing. */
import { describe, expect, it } from "vitest";
import { importFlagd } from "../../core/flagd/import";
import { MAX_LOGIC_DEPTH } from "../../core/flagd/json-logic";
import { FlagSpecSchema } from "../../core/manifest";

const flag = (extra: Record<string, unknown> = {}) => ({ state: "ENABLED", variants: { on: true, off: false }, defaultVariant: "off", ...extra });

function problems(document: unknown): string[] {
  const result = importFlagd(document);
  if (result.ok) return [];
  return result.problems.map((p) => `${p.path.join("/")}: ${p.message}`);
}

describe("importFlagd", () => {
  it("turns each flag into a targeting flag with its flagd block, $refs resolved and flag-set metadata merged under the flag's", () => {
    const result = importFlagd({
      metadata: { team: "web", version: 1 },
      $evaluators: { staff: { ends_with: [{ var: "email" }, "@example.com"] }, either: { or: [{ $ref: "staff" }, false] } },
      flags: { "new-nav": flag({ metadata: { version: 2 }, targeting: { if: [{ $ref: "either" }, "on", null] } }), plain: { state: "DISABLED", variants: { a: "A" }, defaultVariant: null } },
    });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const inputs = result.flags.map((f) => f.input);
    expect(inputs[0]).toEqual({
      key: "new-nav", kind: "targeting", type: "boolean", variants: { on: true, off: false }, defaultVariant: "off",
      flagd: { state: "ENABLED", targeting: { if: [{ or: [{ ends_with: [{ var: "email" }, "@example.com"] }, false] }, "on", null] }, metadata: { team: "web", version: 2 } },
    });
    expect(inputs[1]).toEqual({ key: "plain", kind: "targeting", type: "string", variants: { a: "A" }, flagd: { state: "DISABLED", metadata: { team: "web", version: 1 } } });
    expect(result.flags.map((f) => f.spec.flagd?.state)).toEqual(["ENABLED", "DISABLED"]);
  });

  it("refuses what it cannot evaluate as flagd does, naming the flag and the path", () => {
    const deep: Record<string, unknown> = { var: "x" };
    let nested: Record<string, unknown> = deep;
    for (let i = 0; i < MAX_LOGIC_DEPTH + 2; i++) nested = { "!": nested };
    expect(problems({
      $evaluators: { a: { $ref: "b" }, b: { $ref: "a" } },
      flags: {
        unknownOp: flag({ targeting: { if: [{ regex: [{ var: "email" }, ".*"] }, "on", "off"] } }),
        cycle: flag({ targeting: { $ref: "a" } }),
        missingRef: flag({ targeting: { and: [{ $ref: "nope" }] } }),
        mixed: { state: "ENABLED", variants: { a: "x", b: 2 }, defaultVariant: "a" },
        badState: flag({ state: "ON" }),
        badDefault: flag({ defaultVariant: "maybe" }),
        proto: flag({ targeting: { "==": [{ var: "__proto__.polluted" }, 1] } }),
        twoKeys: flag({ targeting: { "==": [1, 1], "!=": [1, 2] } }),
        semverOp: flag({ targeting: { sem_ver: [{ var: "v" }, "=>", "1.0.0"] } }),
        deep: flag({ targeting: nested }),
        "bad key": flag(),
        badVariant: { state: "ENABLED", variants: { "my variant": true }, defaultVariant: "my variant" },
        extra: flag({ owner: "me" }),
      },
      extraTop: 1,
    })).toEqual(expect.arrayContaining([
      "extraTop: unknown field: a flagd document has $schema, flags, $evaluators, metadata",
      expect.stringMatching(/^flags\/unknownOp\/targeting\/if\/0\/regex: unknown operation "regex"/),
      "flags/cycle/targeting/$ref/$ref/$ref: evaluator cycle: a → b → a",
      expect.stringMatching(/^flags\/missingRef\/targeting\/and\/0\/\$ref: unknown evaluator "nope"/),
      "flags/mixed/variants: variants must all be booleans, all strings, all numbers or all objects",
      "flags/badState/state: required: ENABLED or DISABLED",
      'flags/badDefault/defaultVariant: unknown variant "maybe": it must be one of the flag\'s `variants`',
      expect.stringMatching(/^flags\/proto\/targeting\/==\/0\/var: "__proto__.polluted" reads the prototype chain/),
      expect.stringMatching(/^flags\/twoKeys\/targeting: an operation is an object with one key; this one has 2/),
      expect.stringMatching(/^flags\/semverOp\/targeting\/sem_ver\/1: unknown sem_ver operator "=>"/),
      expect.stringMatching(/^flags\/deep\/targeting\/.*: nested deeper than 32 levels/),
      expect.stringMatching(/^flags\/bad key: flag keys use only/),
      expect.stringMatching(/^flags\/badVariant\/variants\/my variant: variant names start with a letter or digit/),
      expect.stringMatching(/^flags\/extra\/owner: unknown field/),
    ]));
    expect(problems({ flags: {} })).toEqual(["flags: defines no flag"]);
    expect(problems([])).toEqual([': a flagd document is a JSON object: {"flags": {...}, "$evaluators": {...}}']);
  });

  it("keeps a flagd block to targeting flags without rules of their own", () => {
    const spec = { key: "f", kind: "targeting", type: "boolean", variants: { on: true, off: false }, defaultVariant: "off", flagd: { targeting: { if: [true, "on", "off"] } } };
    expect(FlagSpecSchema.safeParse(spec).success).toBe(true);
    const onRollout = FlagSpecSchema.safeParse({ ...spec, kind: "rollout", variants: { baseline: false, candidate: true }, defaultVariant: undefined, rollout: { stages: [{ weight: 100 }] } });
    expect(onRollout.error?.issues.map((i) => i.path.join("."))).toContain("flagd");
    const withRules = FlagSpecSchema.safeParse({ ...spec, rules: [{ serve: { variant: "on" } }] });
    expect(withRules.error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`)).toEqual([expect.stringMatching(/^rules: a flagd definition's targeting decides alone/)]);
    const badLogic = FlagSpecSchema.safeParse({ ...spec, flagd: { targeting: { fractional_v2: [] } } });
    expect(badLogic.error?.issues.map((i) => i.path.join("."))).toEqual(["flagd.targeting.fractional_v2"]);
  });
});

describe("a flagd definition's data", () => {
  it("holds no prototype: a computed var naming __proto__ or constructor finds nothing", async () => {
    const { compileFlagd } = await import("../../core/flagd/evaluate");
    const { evaluate } = compileFlagd("proto", { state: "ENABLED", targeting: { if: [{ var: { cat: ["__pro", "to__"] } }, "on", { var: { cat: ["constr", "uctor"] } }, "on", "off"] } }, { on: true, off: false }, "off", 1);
    expect(evaluate({ targetingKey: "u1" }, 0)).toMatchObject({ variant: "off", reason: "TARGETING_MATCH" });
  });
});
