import { OFREPProvider } from "@openfeature/ofrep-provider";
import { ErrorCode, OpenFeature, type Client } from "@openfeature/server-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_PROPAGATION_MS, startLocalWorker, type LocalWorker } from "../../scripts/lib/local-worker";

const stages = (weights: number[]) => ({ stages: weights.map((weight) => ({ weight })) });
const FLAGS = [
  { key: "e2e-bool", type: "boolean", variants: { baseline: false, candidate: true }, rollout: stages([100]) },
  { key: "e2e-string", type: "string", variants: { baseline: "rules", candidate: "lgbm" }, rollout: stages([50, 100]), pins: { candidate: { MODEL_VER: "lgbm-3" } } },
  { key: "e2e-number", type: "number", variants: { baseline: 8, candidate: 16 }, rollout: stages([100]) },
  { key: "e2e-object", type: "object", variants: { baseline: { impl: "gru" }, candidate: { impl: "amn", nprobe: 8 } }, rollout: stages([100]) },
];

let worker: LocalWorker;
let client: Client;

beforeAll(async () => {
  worker = await startLocalWorker();
  for (const flag of FLAGS) {
    const res = await worker.admin("PUT", `/admin/flags/${flag.key}`, flag);
    expect(res.status, await res.text()).toBe(201);
  }
  // Wait (bounded) until the edge serves the new configuration.
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const probe = await fetch(`${worker.baseUrl}/ofrep/v1/evaluate/flags/e2e-bool`, { method: "POST", body: "{}" });
    if (probe.status === 200) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await OpenFeature.setProviderAndWait(new OFREPProvider({ baseUrl: worker.baseUrl }));
  client = OpenFeature.getClient();
});

afterAll(async () => {
  await OpenFeature.close();
  await worker?.dispose();
});

describe("OpenFeature server SDK with the OFREP provider, over HTTP", () => {
  it("evaluates boolean, string, number and object flags", async () => {
    const bool = await client.getBooleanDetails("e2e-bool", false, { targetingKey: "u1" });
    expect(bool).toMatchObject({ value: true, reason: "STATIC", variant: "candidate" });
    expect(bool.errorCode).toBeUndefined();
    expect(await client.getNumberValue("e2e-number", 0, { targetingKey: "u1" })).toBe(16);
    expect(await client.getObjectValue("e2e-object", {}, { targetingKey: "u1" })).toEqual({ impl: "amn", nprobe: 8 });
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const s = await client.getStringDetails("e2e-string", "fallback", { targetingKey: `user-${i}` });
      expect(s.reason).toBe("SPLIT");
      expect(["rules", "lgbm"]).toContain(s.value);
      expect(s.flagMetadata["arm"]).toBe(s.variant);
      if (s.variant === "candidate") expect(s.flagMetadata["pin.MODEL_VER"]).toBe("lgbm-3");
      seen.add(s.value);
    }
    expect(seen.size).toBe(2);
  });

  it("falls back to the code default for a missing flag, with FLAG_NOT_FOUND", async () => {
    const details = await client.getBooleanDetails("e2e-missing", false, { targetingKey: "u1" });
    expect(details).toMatchObject({ value: false, errorCode: ErrorCode.FLAG_NOT_FOUND, reason: "ERROR" });
  });

  it("reports a type mismatch when the code asks for the wrong type", async () => {
    const details = await client.getNumberDetails("e2e-bool", 7, { targetingKey: "u1" });
    expect(details).toMatchObject({ value: 7, errorCode: ErrorCode.TYPE_MISMATCH });
  });

  it("reports a missing targeting key when the stage splits traffic", async () => {
    const details = await client.getStringDetails("e2e-string", "fallback", {});
    expect(details).toMatchObject({ value: "fallback", errorCode: ErrorCode.TARGETING_KEY_MISSING });
  });

  it("serves the baseline with DISABLED after a kill, once the propagation bound has passed", async () => {
    const kill = await worker.admin("POST", "/admin/flags/e2e-string/actions", { action: "kill", reason: "e2e" });
    expect(kill.status).toBe(200);
    await new Promise((r) => setTimeout(r, E2E_PROPAGATION_MS + 200));
    for (let i = 0; i < 20; i++) {
      const s = await client.getStringDetails("e2e-string", "fallback", { targetingKey: `user-${i}` });
      expect(s).toMatchObject({ value: "rules", variant: "baseline", reason: "DISABLED" });
    }
  });
});
