/**
 * Migration without reshuffling: each bucketing mode against the vendor's own
 * SDK from npm, over 100,000 keys at several weights, plus monotonic ramps.
 * A mismatch here would move users to the other arm when a rollout is moved
 * onto Rampart.
 */
import { GrowthBook } from "@growthbook/growthbook";
import { init, integrations, type LDClient } from "@launchdarkly/node-server-sdk";
import { createHash } from "node:crypto";
import type { Strategy } from "unleash-client";
import FlexibleRolloutStrategy from "unleash-client/lib/strategy/flexible-rollout-strategy";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BucketingSchema, candidateTest, type Bucketing } from "../../core/bucketing-modes";
import { sha1Hex } from "../../core/sha1";

const KEYS = Array.from({ length: 100_000 }, (_, i) => (i % 3 === 0 ? `user-${i}` : i % 3 === 1 ? `${(i * 2654435761) >>> 0}` : `u_${i.toString(36)}@example.com`));
const test = (flagKey: string, bucketing: Partial<Bucketing>) => {
  const fn = candidateTest(flagKey, BucketingSchema.parse(bucketing));
  if (!fn) throw new Error("expected a vendor mode");
  return fn;
};
const mismatches = (ours: (key: string) => boolean, theirs: (key: string) => boolean, keys: readonly string[] = KEYS) => keys.filter((k) => ours(k) !== theirs(k)).slice(0, 5);

describe("the synchronous SHA-1", () => {
  it("equals Node's over every length across block boundaries, non-ASCII text, and after a long input grows its buffer", () => {
    const text = (n: number) => Array.from({ length: n }, (_, i) => String.fromCharCode(32 + ((i * 7919 + n) % 90))).join("");
    const inputs = [...Array.from({ length: 200 }, (_, n) => text(n)), "héllo ✓ 🚀", "x".repeat(5000), "after-growth", ""];
    for (const input of inputs) expect(sha1Hex(input), `length ${input.length}`).toBe(createHash("sha1").update(input, "utf8").digest("hex"));
  });
});

describe("sha1 mode (int(sha1(id), 16) mod 100 < weight)", () => {
  it("matches the rule computed with Node's SHA-1 and BigInt", () => {
    expect(createHash("sha1").update("user-42").digest("hex")).toBe(sha1Hex("user-42"));
    const inCandidate = test("suggest-model", { mode: "sha1" });
    for (const weight of [1, 10, 25, 50]) {
      const reference = (k: string) => BigInt(`0x${createHash("sha1").update(k, "utf8").digest("hex")}`) % 100n < BigInt(weight);
      expect(mismatches((k) => inCandidate(k, weight * 100), reference), `at ${weight}%`).toEqual([]);
    }
  });
});

describe("growthbook mode (hash v2 rollout rule)", () => {
  it("includes exactly the users GrowthBook's SDK includes, at each coverage", () => {
    const inCandidate = test("checkout-v2", { mode: "growthbook", seed: "checkout-seed" });
    for (const weight of [5, 12.5, 50, 99.99]) {
      // Coverage as GrowthBook stores it (0.9999 for 99.99%; 99.99 / 100 would be 0.99989999…).
      const gb = new GrowthBook({
        features: { "checkout-v2": { defaultValue: "baseline", rules: [{ force: "candidate", coverage: Math.round(weight * 100) / 10_000, hashVersion: 2, seed: "checkout-seed", hashAttribute: "id" }] } },
      });
      const theirs = (k: string) => {
        void gb.setAttributes({ id: k });
        return gb.getFeatureValue("checkout-v2", "baseline") === "candidate";
      };
      expect(mismatches((k) => inCandidate(k, Math.round(weight * 100)), theirs), `at ${weight}%`).toEqual([]);
      gb.destroy();
    }
  });
});

describe("unleash mode (flexibleRollout)", () => {
  it("enables exactly the users unleash-client's strategy enables, at each percentage", () => {
    const inCandidate = test("search-v2", { mode: "unleash" });
    const strategy: Strategy = new FlexibleRolloutStrategy();
    for (const rollout of [1, 10, 33, 50, 100]) {
      const theirs = (k: string) => strategy.isEnabled({ rollout: String(rollout), stickiness: "userId", groupId: "search-v2" }, { userId: k });
      expect(mismatches((k) => inCandidate(k, rollout * 100), theirs), `at ${rollout}%`).toEqual([]);
    }
  });
});

describe("launchdarkly mode (percentage rollout on the fallthrough)", () => {
  let client: LDClient;
  const td = new integrations.TestData();
  const ldFlag = (key: string, weightBp: number, candidateFirst: boolean) => {
    const candidate = { variation: 1, weight: weightBp * 10 };
    const baseline = { variation: 0, weight: 100_000 - weightBp * 10 };
    return {
      key, version: 1, on: true, salt: "a1b2c3", variations: ["baseline", "candidate"], offVariation: 0,
      fallthrough: { rollout: { variations: candidateFirst ? [candidate, baseline] : [baseline, candidate] } },
      targets: [], contextTargets: [], rules: [], prerequisites: [],
    };
  };
  beforeAll(async () => {
    client = init("sdk-key-offline-test", { updateProcessor: td.getFactory(), sendEvents: false, diagnosticOptOut: true, logger: { debug() {}, info() {}, warn() {}, error() {} } });
    await client.waitForInitialization({ timeout: 10 });
  });
  afterAll(() => client?.close());

  it("serves each user the variation LaunchDarkly's SDK serves, either variation order", async () => {
    for (const [weight, candidateFirst] of [[5, true], [12.5, true], [50, false], [90, false]] as const) {
      const key = `ld-${weight}-${candidateFirst}`;
      await td.usePreconfiguredFlag(ldFlag(key, Math.round(weight * 100), candidateFirst));
      const inCandidate = test(key, { mode: "launchdarkly", seed: "a1b2c3", candidateFirst });
      // The SDK is asynchronous per call: 100,000 keys at the first weight, 20,000 at the others.
      const keys = weight === 5 ? KEYS : KEYS.slice(0, 20_000);
      const theirs = new Map<string, boolean>();
      for (const k of keys) theirs.set(k, (await client.variation(key, { kind: "user", key: k }, "baseline")) === "candidate");
      expect(mismatches((k) => inCandidate(k, Math.round(weight * 100)), (k) => theirs.get(k) ?? false, keys), `at ${weight}%, candidate first ${candidateFirst}`).toEqual([]);
    }
  }, 120_000);
});

describe("the vectors published in docs/bucketing.md", () => {
  it("put each id in the arm its number says", () => {
    // id → [sha1 p, launchdarkly b, growthbook n, unleash v], as printed in the docs.
    const vectors: [string, number, number, number, number][] = [
      ["user-1", 88, 0.007584, 0.4376, 62],
      ["user-42", 2, 0.862916, 0.0701, 16],
      ["alice@example.com", 47, 0.395419, 0.5051, 97],
      ["9001", 97, 0.076717, 0.8659, 61],
    ];
    const sha1 = test("demo-flag", { mode: "sha1" });
    const ld = test("demo-flag", { mode: "launchdarkly", seed: "a1b2c3" });
    const gb = test("demo-flag", { mode: "growthbook", seed: "checkout-seed" });
    const unleash = test("demo-flag", { mode: "unleash", seed: "search-v2" });
    for (const [id, p, b, n, v] of vectors) {
      for (const w of [1, 10, 25, 50, 75, 99]) {
        expect(sha1(id, w * 100), `sha1 ${id} ${w}`).toBe(p < w);
        expect(ld(id, w * 100), `launchdarkly ${id} ${w}`).toBe(b < w / 100);
        expect(gb(id, w * 100), `growthbook ${id} ${w}`).toBe(n <= w / 100);
        expect(unleash(id, w * 100), `unleash ${id} ${w}`).toBe(v <= w);
      }
    }
  });
});

describe("every mode ramps monotonically", () => {
  it("never takes a user out of the candidate when the weight rises", () => {
    const modes: Partial<Bucketing>[] = [{ mode: "sha1" }, { mode: "growthbook" }, { mode: "unleash" }, { mode: "launchdarkly", seed: "s" }, { mode: "launchdarkly", seed: "s", candidateFirst: false }];
    for (const bucketing of modes) {
      const inCandidate = test("ramp", bucketing);
      const ramp = [100, 1000, 2500, 5000, 10000];
      for (const k of KEYS.slice(0, 20_000)) {
        const steps = ramp.map((w) => inCandidate(k, w));
        const firstIn = steps.indexOf(true);
        expect(firstIn === -1 || steps.slice(firstIn).every(Boolean), `${bucketing.mode} ${k}`).toBe(true);
      }
      // And the candidate's share tracks the weight (±1.5 points over 20,000 keys).
      const share = KEYS.slice(0, 20_000).filter((k) => inCandidate(k, 2500)).length / 20_000;
      expect(Math.abs(share - 0.25), `${bucketing.mode}`).toBeLessThan(0.015);
    }
  });
});
