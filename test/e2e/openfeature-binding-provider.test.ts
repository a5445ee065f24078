/**
 * The OpenFeature server provider over the Worker binding, driven by the
 * real OpenFeature server SDK. The binding here is a double that answers in
 * RampartFlags' detail shape (the binding itself is tested in workerd:
 * test/worker/binding.test.ts); what is checked is the provider's mapping.
 */
import { OpenFeature } from "@openfeature/server-sdk";
import { describe, expect, it } from "vitest";
import type { EvaluationDetails } from "../../core/flag-details";
import { RampartBindingProvider, type RampartFlagsBinding } from "../../sdk/openfeature-provider";

/** Answers like RampartFlags: `checkout` is a string flag split on targetingKey; anything else is not found. */
function bindingDouble(calls: { flagKey: string; context: unknown }[]): RampartFlagsBinding {
  const answer = <T>(flagKey: string, defaultValue: T, context: Record<string, string | number | boolean> | undefined, kind: string): EvaluationDetails<T> => {
    calls.push({ flagKey, context });
    if (flagKey !== "checkout") return { flagKey, value: defaultValue, reason: "ERROR", errorCode: "FLAG_NOT_FOUND", errorMessage: `flag "${flagKey}" does not exist` };
    if (kind !== "string") return { flagKey, value: defaultValue, reason: "ERROR", errorCode: "TYPE_MISMATCH", errorMessage: `flag "${flagKey}" is not a ${kind}` };
    const arm = String(context?.["targetingKey"] ?? "").length % 2 ? "candidate" : "baseline";
    return { flagKey, value: (arm === "candidate" ? "v2" : "v1") as T, variant: arm, reason: "SPLIT" };
  };
  return {
    getBooleanDetails: async (k, d, c) => answer(k, d, c, "boolean"),
    getStringDetails: async (k, d, c) => answer(k, d, c, "string"),
    getNumberDetails: async (k, d, c) => answer(k, d, c, "number"),
    getObjectDetails: async (k, d, c) => answer(k, d, c, "object"),
  };
}

describe("OpenFeature provider over the Worker binding", () => {
  it("passes value, variant and reason through, maps errors to OpenFeature's, and flattens the context", async () => {
    const calls: { flagKey: string; context: unknown }[] = [];
    await OpenFeature.setProviderAndWait("rampart-binding-test", new RampartBindingProvider(bindingDouble(calls)));
    const client = OpenFeature.getClient("rampart-binding-test");

    const details = await client.getStringDetails("checkout", "default", { targetingKey: "abc", plan: "pro", nested: { ignored: true } });
    expect(details).toMatchObject({ flagKey: "checkout", value: "v2", variant: "candidate", reason: "SPLIT" });
    expect(calls.at(-1)?.context).toEqual({ targetingKey: "abc", plan: "pro" });

    const missing = await client.getBooleanDetails("nope", true, { targetingKey: "abc" });
    expect(missing).toMatchObject({ value: true, errorCode: "FLAG_NOT_FOUND", reason: "ERROR" });
    const mismatch = await client.getNumberDetails("checkout", 3, { targetingKey: "abc" });
    expect(mismatch).toMatchObject({ value: 3, errorCode: "TYPE_MISMATCH" });
    expect(await client.getStringValue("checkout", "default", { targetingKey: "ab" })).toBe("v1");
    await OpenFeature.clearProviders();
  });
});
