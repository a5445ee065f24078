/**
 * Cost per call of assign() against peers evaluating the same 50/50 flag
 * locally, and against bare murmur3 (the floor). Contenders run interleaved,
 * round after round, over the same distinct keys; we quote medians and ratios.
 *
 *   npm run bench:core -- [--keys 1000000] [--rounds 5]
 */
import { GrowthBookClient } from "@growthbook/growthbook";
import { FlagdCore } from "@openfeature/flagd-core";
import type { EvaluationContext } from "@openfeature/core";
import { InMemStorageProvider, Unleash } from "unleash-client";
import { assign } from "../core/assign";
import { compileSnapshot } from "../core/compile";
import { FlagSpecSchema } from "../core/manifest";
import { SegmentSchema } from "../core/segment";
import { TARGETED_SEGMENT_KEYS, TARGETED_SPLIT, targetedSpec } from "./lib/targeted-flag";
import { hashFrom, murmur3, prepareHash } from "../core/murmur3";
import { initialState } from "../core/rollout";
import { snapshotFlagOf } from "../core/snapshot";
import { scriptArgs } from "./lib/script-args";

const args = scriptArgs({ command: "npm run bench:core", about: "Rampart's assignment against flagd-core, GrowthBook and Unleash on the same keys, interleaved" }, {
  keys: { type: "int", default: 1_000_000, min: 1000, help: "distinct targeting keys" },
  rounds: { type: "int", default: 5, min: 1, help: "interleaved rounds (medians are quoted)" },
});
const KEYS = args.keys;
const ROUNDS = args.rounds;

const FLAG = "bench-ramp";
// Keys arrive parsed from JSON request bodies, i.e. as flat strings; build them the same way
// (template literals would give rope strings, which cost every contender extra to read).
const keys = JSON.parse(JSON.stringify(Array.from({ length: KEYS }, (_, i) => `user-${i}-${(i * 2654435761) % 4294967291}`))) as string[];

type Contender = { name: string; run: (key: string) => number };

/** assign() on the same 50/50 flag, with Rampart's rule or a migration mode (`bucketing:`). */
function rampartContender(bucketing?: Record<string, unknown>): Contender {
  const spec = FlagSpecSchema.parse({
    key: FLAG,
    type: "boolean",
    variants: { baseline: false, candidate: true },
    rollout: { stages: [{ weight: 50 }, { weight: 100 }] },
    ...(bucketing ? { bucketing } : {}),
  });
  const snapshot = compileSnapshot({
    version: 1,
    etag: '"1"',
    publishedAt: 0,
    flags: [snapshotFlagOf(spec, { ...initialState(spec.rollout.stages, 1, 1, 0) }, 1)],
  });
  const flag = snapshot.flags.get(FLAG);
  if (!flag) throw new Error("bench flag missing");
  return {
    name: bucketing ? `rampart assign(), bucketing ${String(bucketing["mode"])}` : "rampart assign()",
    run: (key) => {
      const a = assign(flag, { targetingKey: key });
      return a.ok && !a.codeDefault && a.arm === "candidate" ? 1 : 0;
    },
  };
}

function flagdContender(): Contender {
  const core = new FlagdCore();
  core.setConfigurations(
    JSON.stringify({
      flags: {
        [FLAG]: {
          state: "ENABLED",
          defaultVariant: "off",
          variants: { on: true, off: false },
          targeting: { fractional: [["on", 50], ["off", 50]] },
        },
      },
    }),
  );
  return { name: "@openfeature/flagd-core", run: (key) => (core.resolveBooleanEvaluation(FLAG, false, { targetingKey: key }).value ? 1 : 0) };
}

async function unleashContender(): Promise<{ contender: Contender; close: () => void }> {
  const unleash = new Unleash({
    appName: "rampart-bench",
    url: "http://127.0.0.1:9/unused/", // never reached: the toggle comes from the bootstrap
    disableMetrics: true,
    refreshInterval: 0,
    skipInstanceCountWarning: true,
    storageProvider: new InMemStorageProvider(),
    bootstrap: {
      data: [
        {
          name: FLAG,
          enabled: true,
          strategies: [{ name: "flexibleRollout", parameters: { rollout: "50", stickiness: "userId", groupId: FLAG }, constraints: [] }],
        },
      ],
    },
  });
  unleash.on("error", () => undefined);
  await new Promise<void>((resolve) => unleash.once("ready", () => resolve()));
  return {
    contender: { name: "unleash-client (offline)", run: (key) => (unleash.isEnabled(FLAG, { userId: key }) ? 1 : 0) },
    close: () => unleash.destroy(),
  };
}

function growthbookContender(): Contender {
  // The multi-user server client: one instance, the user passed per call.
  const gb = new GrowthBookClient().initSync({
    payload: {
      features: {
        [FLAG]: { defaultValue: false, rules: [{ key: FLAG, variations: [false, true], weights: [0.5, 0.5], hashAttribute: "id" }] },
      },
    },
  });
  return { name: "@growthbook/growthbook", run: (key) => (gb.isOn(FLAG, { attributes: { id: key } }) ? 1 : 0) };
}

function murmurContenders(): Contender[] {
  const prepared = prepareHash(FLAG);
  return [
    { name: "murmur3(salt + key)", run: (key) => murmur3(FLAG + key) & 1 },
    { name: "murmur3, salt precomputed (floor)", run: (key) => hashFrom(prepared, key) & 1 },
  ];
}

function timeOnce(contender: Contender): number {
  let sink = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < keys.length; i++) sink += contender.run(keys[i] as string);
  const ns = Number(process.hrtime.bigint() - start) / keys.length;
  if (sink < 0) console.log(sink); // keeps the loop observable
  return ns;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/** Warm-up round, then `ROUNDS` rounds alternating the order; the median ns/call of each contender. */
function interleaved(contenders: Contender[], label: string): Map<string, number> {
  for (const c of contenders) timeOnce(c); // warm-up round (JIT), not counted
  const samples = new Map(contenders.map((c) => [c.name, [] as number[]]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? contenders : [...contenders].reverse();
    for (const c of order) samples.get(c.name)?.push(timeOnce(c));
    process.stderr.write(`${label}: round ${round + 1}/${ROUNDS} done\n`);
  }
  return new Map([...samples].map(([name, xs]) => [name, median(xs)]));
}

/** Contenders that take the index of a prepared context (so building contexts is not timed). */
type IndexedContender = { name: string; run: (i: number) => string };

function interleavedOver(contenders: IndexedContender[], count: number, label: string): Map<string, number> {
  const once = (c: IndexedContender) => {
    let sink = 0;
    const start = process.hrtime.bigint();
    for (let i = 0; i < count; i++) sink += c.run(i).length;
    const ns = Number(process.hrtime.bigint() - start) / count;
    if (sink < 0) console.log(sink);
    return ns;
  };
  for (const c of contenders) once(c);
  const samples = new Map(contenders.map((c) => [c.name, [] as number[]]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of round % 2 === 0 ? contenders : [...contenders].reverse()) samples.get(c.name)?.push(once(c));
    process.stderr.write(`${label}: round ${round + 1}/${ROUNDS} done\n`);
  }
  return new Map([...samples].map(([name, xs]) => [name, median(xs)]));
}

/**
 * The same targeted flag written for Rampart (rules, a segment) and for
 * flagd (an `if` chain in JsonLogic, the segment an `in` list), and contexts
 * that carry every attribute (so the two agree on what a missing one means).
 */
function targetedContenders(): { contexts: EvaluationContext[]; rampart: IndexedContender; flagd: IndexedContender } {
  const key = "bench-targeted";
  const segmentKeys = TARGETED_SEGMENT_KEYS;
  const split = TARGETED_SPLIT;
  const spec = FlagSpecSchema.parse(targetedSpec(key, "testers"));
  const segments = new Map([["testers", SegmentSchema.parse({ name: "testers", keys: segmentKeys })]]);
  const snapshot = compileSnapshot({ version: 1, etag: '"1"', publishedAt: 0, flags: [snapshotFlagOf(spec, initialState(spec.rollout.stages, 1, 1, 0), 1, [], 1, segments)] });
  const flag = snapshot.flags.get(key);
  if (!flag) throw new Error("targeted bench flag missing");
  const v = (name: string) => ({ var: name });
  const core = new FlagdCore();
  core.setConfigurations(JSON.stringify({
    flags: {
      [key]: {
        state: "ENABLED", defaultVariant: "control", variants: { control: "control", list: "list", cards: "cards" },
        targeting: {
          if: [
            { ends_with: [v("email"), "@example.com"] }, "cards",
            { in: ["staff", v("groups")] }, "cards",
            { in: [v("targetingKey"), segmentKeys] }, "list",
            { "===": [v("plan"), "enterprise"] }, "control",
            { sem_ver: [v("appVersion"), "<", "2.0.0"] }, "control",
            { in: [v("country"), ["CN", "RU"]] }, "control",
            { ">=": [v("age"), 65] }, "list",
            { and: [{ starts_with: [v("region"), "eu-"] }, { "!==": [v("plan"), "free"] }] }, "list",
            { "===": [v("beta"), true] }, "cards",
            { fractional: split.map(([variant, weight]) => [variant, weight]) },
          ],
        },
      },
    },
  }));
  // Mostly contexts that reach the split (the common case), some matching each rule; built once, as JSON bodies arrive.
  const pick = <T>(i: number, xs: readonly T[]): T => xs[i % xs.length] as T;
  const contexts = JSON.parse(JSON.stringify(Array.from({ length: Math.min(KEYS, 200_000) }, (_, i): EvaluationContext => ({
    targetingKey: i % 50 === 0 ? pick(i, segmentKeys) : `user-${i}-${(i * 2654435761) % 4294967291}`,
    email: i % 40 === 1 ? `u${i}@example.com` : `u${i}@mail.test`,
    groups: i % 45 === 2 ? ["staff"] : ["users"],
    plan: pick(i >> 3, ["free", "pro", "free", "enterprise", "free", "free", "pro", "free", "free", "free", "free", "free"]),
    appVersion: i % 30 === 3 ? "1.9.0" : "2.4.1",
    country: pick(i >> 2, ["DE", "US", "FR", "BR", "JP", "IN", "CN", "GB", "US", "US", "US", "US", "US", "US", "US", "US", "US", "US", "US", "US"]),
    age: 18 + (i % 60),
    region: pick(i >> 4, ["us-east", "eu-west", "ap-south", "us-west"]),
    beta: i % 70 === 5,
  })))) as EvaluationContext[];
  return {
    contexts,
    rampart: { name: "rampart assign() (targeted)", run: (i) => { const a = assign(flag, contexts[i] as EvaluationContext); return a.ok && !a.codeDefault ? a.variant : "error"; } },
    flagd: { name: "@openfeature/flagd-core (targeted)", run: (i) => core.resolveStringEvaluation(key, "error", contexts[i]).value },
  };
}

async function main() {
  const unleash = await unleashContender();
  const contenders = [rampartContender(), flagdContender(), unleash.contender, growthbookContender(), ...murmurContenders()];
  // Agreement check: rampart and flagd-core bucket identically (same published rule).
  const [ours, flagd] = contenders;
  const disagree = keys.slice(0, 10_000).filter((k) => ours?.run(k) !== flagd?.run(k)).length;
  console.log(`node ${process.version}, ${KEYS.toLocaleString()} distinct keys, ${ROUNDS} interleaved rounds; rampart vs flagd-core disagreements on 10,000 keys: ${disagree}`);
  const medians = interleaved(contenders, "peers");
  unleash.close();
  const assignNs = medians.get("rampart assign()") ?? NaN;
  const floorNs = medians.get("murmur3, salt precomputed (floor)") ?? NaN;
  const peers = ["@openfeature/flagd-core", "unleash-client (offline)", "@growthbook/growthbook"];
  const fastestPeer = Math.min(...peers.map((p) => medians.get(p) ?? Infinity));
  console.log("");
  console.log("| contender | median ns/call | × assign() |");
  console.log("|---|---:|---:|");
  for (const [name, ns] of medians) console.log(`| ${name} | ${ns.toFixed(1)} | ${(ns / assignNs).toFixed(2)} |`);
  console.log("");
  const speedup = fastestPeer / assignNs;
  const overFloor = assignNs / floorNs;
  console.log(`assign() is ${speedup.toFixed(1)}× faster than the fastest peer (target ≥ 6×): ${speedup >= 6 ? "met" : "NOT met"}`);
  console.log(`assign() costs ${overFloor.toFixed(2)}× the precomputed-salt floor (target ≤ 3×): ${overFloor <= 3 ? "met" : "NOT met"}`);

  // Phase 2, after the peers are measured (more closures through the timing loop would change
  // its inlining for everyone): the migration modes beside the default they are not meant to replace.
  const modes = [rampartContender(), ...["growthbook", "unleash", "sha1", "launchdarkly"].map((mode) => rampartContender({ mode, ...(mode === "launchdarkly" ? { seed: "bench-salt" } : {}) }))];
  const modeMedians = interleaved(modes, "bucketing modes");
  const defaultNs = modeMedians.get("rampart assign()") ?? NaN;
  console.log("");
  console.log("| bucketing mode | median ns/call | × default |");
  console.log("|---|---:|---:|");
  for (const [name, ns] of modeMedians) console.log(`| ${name} | ${ns.toFixed(1)} | ${(ns / defaultNs).toFixed(2)} |`);

  // Phase 3: a targeted flag — 10 rules of mixed operators, a 1,000-key segment, a 3-way split —
  // evaluated by Rampart and by flagd-core on the same definition, over the same contexts.
  const targeted = targetedContenders();
  const disagreements = targeted.contexts.slice(0, 10_000).filter((_, i) => targeted.rampart.run(i) !== targeted.flagd.run(i)).length;
  const targetedMedians = interleavedOver([targeted.rampart, targeted.flagd], targeted.contexts.length, "targeted flag");
  const ruledNs = targetedMedians.get(targeted.rampart.name) ?? NaN;
  const flagdNs = targetedMedians.get(targeted.flagd.name) ?? NaN;
  console.log("");
  console.log(`targeted flag (10 rules, a 1,000-key segment, a 3-way split), ${targeted.contexts.length.toLocaleString()} contexts; variant disagreements with flagd-core on 10,000: ${disagreements}`);
  console.log("| contender | median ns/call | × rampart |");
  console.log("|---|---:|---:|");
  for (const [name, ns] of targetedMedians) console.log(`| ${name} | ${ns.toFixed(1)} | ${(ns / ruledNs).toFixed(2)} |`);
  const targetedSpeedup = flagdNs / ruledNs;
  console.log(`Rampart evaluates the targeted flag ${targetedSpeedup.toFixed(1)}× faster than flagd-core (target ≥ 5×): ${targetedSpeedup >= 5 ? "met" : "NOT met"}`);
  process.exit(0);
}

await main();
