/** Prerequisites: a flag (or one of its rules) requires another flag's variant for the same context. */
import { describe, expect, it } from "vitest";
import { call, evaluate, evaluateUntil, putFlag, uniqueKey } from "./helpers";

const checkout = (key: string) => ({ key, kind: "kill_switch", type: "boolean", variants: { baseline: false, candidate: true } });
const banner = (key: string, requires: string, extra: Record<string, unknown> = {}) => ({
  key,
  kind: "targeting",
  type: "string",
  variants: { hidden: "", shown: "Try the new checkout" },
  defaultVariant: "hidden",
  prerequisites: [{ flag: requires, variants: ["candidate"] }],
  rules: [{ name: "everyone", serve: { variant: "shown" } }],
  ...extra,
});

describe("prerequisites", () => {
  it("serves a flag only while its prerequisite serves the variant it needs, and follows a kill of it at once", async () => {
    const parent = uniqueKey("new-checkout");
    const child = uniqueKey("checkout-banner");
    await putFlag(checkout(parent));
    await putFlag(banner(child, parent));
    expect((await evaluateUntil(child, { targetingKey: "u" }, (r) => r.status === 200)).json).toMatchObject({ value: "Try the new checkout", reason: "TARGETING_MATCH" });

    expect((await call("POST", `/admin/flags/${parent}/actions`, { body: { action: "kill", reason: "checkout errors" } })).status).toBe(200);
    const off = await evaluateUntil(child, { targetingKey: "u" }, (r) => r.json.value === "");
    expect(off.json).toMatchObject({ variant: "hidden", reason: "DEFAULT", metadata: { prerequisite: parent } });
    // Bulk evaluation answers the same.
    const bulk = await call("POST", "/ofrep/v1/evaluate/flags", { body: { context: { targetingKey: "u" } }, headers: {} });
    expect(bulk.json.flags.find((f: { key: string }) => f.key === child)).toMatchObject({ variant: "hidden", reason: "DEFAULT" });
  });

  it("takes a prerequisite as a rule's condition", async () => {
    const parent = uniqueKey("search-v2");
    const child = uniqueKey("search-tips");
    await putFlag({ key: parent, kind: "targeting", type: "string", variants: { v1: "v1", v2: "v2" }, defaultVariant: "v1", rules: [{ when: { attribute: "plan", op: "equals", value: "pro" }, serve: { variant: "v2" } }] });
    await putFlag({
      key: child, kind: "targeting", type: "boolean", variants: { on: true, off: false }, defaultVariant: "off",
      rules: [{ name: "on-v2", when: { prerequisite: { flag: parent, variants: ["v2"] } }, serve: { variant: "on" } }],
    });
    expect((await evaluateUntil(child, { targetingKey: "u", plan: "pro" }, (r) => r.status === 200)).json).toMatchObject({ value: true, metadata: { rule: "on-v2" } });
    expect((await evaluate(child, { targetingKey: "u", plan: "free" })).json).toMatchObject({ value: false, reason: "DEFAULT" });
  });

  it("refuses a missing flag, a variant it lacks, a cycle (naming the path), and deleting a flag others require", async () => {
    const parent = uniqueKey("p");
    const child = uniqueKey("c");
    await putFlag(checkout(parent));
    const missing = await call("PUT", `/admin/flags/${child}`, { body: banner(child, "no-such-flag") });
    expect(missing.status).toBe(400);
    expect(missing.json.issues).toEqual([{ path: "prerequisites[0].flag", message: 'unknown flag "no-such-flag": a prerequisite must exist' }]);
    const wrongVariant = await call("PUT", `/admin/flags/${child}`, { body: { ...banner(child, parent), prerequisites: [{ flag: parent, variants: ["on"] }] } });
    expect(wrongVariant.json.issues[0]).toMatchObject({ path: "prerequisites[0].variants[0]", message: expect.stringContaining(`has no variant "on"`) });
    expect((await call("GET", `/admin/flags/${child}`)).status).toBe(404);

    await putFlag(banner(child, parent));
    // The parent may not come to require its child.
    const cycle = await call("PUT", `/admin/flags/${parent}`, { body: { ...checkout(parent), prerequisites: [{ flag: child, variants: ["shown"] }] } });
    expect(cycle.status).toBe(400);
    expect(cycle.json.issues).toContainEqual({ path: "prerequisites[0].flag", message: `a cycle: ${parent} → ${child} → ${parent}` });
    expect((await call("GET", `/admin/flags/${parent}`)).json.spec.prerequisites).toBeUndefined();

    const required = await call("DELETE", `/admin/flags/${parent}`);
    expect(required.status).toBe(409);
    expect(required.json.message).toContain(child);
    expect((await call("DELETE", `/admin/flags/${child}`)).status).toBe(200);
    expect((await call("DELETE", `/admin/flags/${parent}`)).status).toBe(200);
  });
});
