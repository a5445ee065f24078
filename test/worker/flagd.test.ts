/** flagd definitions over OFREP single evaluation, answer after answer, as an application calls them. */
import { describe, expect, it } from "vitest";
import { call, evaluate, evaluateUntil, uniqueKey } from "./helpers";

describe("flagd definitions over OFREP", () => {
  it("answers each context its own variant, one single evaluation after another, and a kill with the definition's metadata", async () => {
    const key = uniqueKey("flagd-single");
    const imported = await call("POST", "/admin/import/flagd", {
      body: {
        metadata: { owner: "web" },
        flags: { [key]: { state: "ENABLED", variants: { red: "#f00", blue: "#00f", green: "#0f0" }, defaultVariant: "green", targeting: { if: [{ "==": [{ var: "tier" }, "gold"] }, "red", { "==": [{ var: "tier" }, "silver"] }, "blue", null] } } },
      },
    });
    expect(imported.status, JSON.stringify(imported.json)).toBe(200);
    await evaluateUntil(key, { tier: "gold" }, (r) => r.status === 200);
    for (let i = 0; i < 3; i++) {
      expect((await evaluate(key, { tier: "gold" })).json).toMatchObject({ value: "#f00", variant: "red", reason: "TARGETING_MATCH", metadata: { owner: "web" } });
      expect((await evaluate(key, { tier: "silver" })).json).toMatchObject({ value: "#00f", variant: "blue", reason: "TARGETING_MATCH" });
      expect((await evaluate(key, { tier: "bronze" })).json).toMatchObject({ value: "#0f0", variant: "green", reason: "DEFAULT" });
    }
    expect((await call("POST", `/admin/flags/${key}/actions`, { body: { action: "kill", reason: "incident" } })).status).toBe(200);
    const killed = await evaluateUntil(key, { tier: "gold" }, (r) => r.json.reason === "DISABLED");
    expect(killed.status).toBe(200);
    expect(killed.json).toEqual({ key, reason: "DISABLED", metadata: expect.objectContaining({ owner: "web" }) });
  });

  it("refuses a document with JsonLogic flagd does not define, naming the path, and stores nothing", async () => {
    const key = uniqueKey("flagd-bad");
    const refused = await call("POST", "/admin/import/flagd", { body: { flags: { [key]: { state: "ENABLED", variants: { on: true, off: false }, defaultVariant: "off", targeting: { if: [{ regex: [{ var: "email" }, ".*"] }, "on", "off"] } } } } });
    expect(refused.status).toBe(400);
    expect(refused.json.issues).toEqual([{ path: `flags.${key}.targeting.if[0].regex`, message: expect.stringContaining('unknown operation "regex"') }]);
    expect((await call("GET", `/admin/flags/${key}`)).status).toBe(404);
  });
});
