/**
 * A flagd document imported with the CLI (`rampart import flagd FILE`) into
 * a running worker, then evaluated over OFREP for generated contexts: every
 * answer is the one @openfeature/flagd-core gives for the same document
 * (its interpreter: the mode for runtimes without code generation).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FlagdCore } from "@openfeature/flagd-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededRandom } from "../../core/random";
import { runCliAgainst } from "./cli-harness";
import { startLocalWorker, type LocalWorker } from "../../scripts/lib/local-worker";
import { FLAGD_DOCUMENT, generatedContext } from "../fixtures/flagd-document";

let worker: LocalWorker;
const dir = mkdtempSync(join(tmpdir(), "rampart-flagd-"));

beforeAll(async () => {
  worker = await startLocalWorker();
});
afterAll(async () => {
  await worker?.dispose();
});

const cli = (...argv: string[]) => runCliAgainst(worker, {}, ...argv);

const CALLER_DEFAULT = { boolean: false, string: "caller-default", number: -1, object: { caller: true } } as const;
type FlagType = keyof typeof CALLER_DEFAULT;

/** What an OFREP answer for this flag must be, from flagd-core's resolution: an error, a code default (no value), or a value. */
function expectedEntry(core: FlagdCore, key: string, type: FlagType, context: Record<string, unknown>): Record<string, unknown> {
  const ctx = context as Parameters<FlagdCore["resolveBooleanEvaluation"]>[2];
  const r =
    type === "boolean" ? core.resolveBooleanEvaluation(key, CALLER_DEFAULT.boolean, ctx)
    : type === "string" ? core.resolveStringEvaluation(key, CALLER_DEFAULT.string, ctx)
    : type === "number" ? core.resolveNumberEvaluation(key, CALLER_DEFAULT.number, ctx)
    : core.resolveObjectEvaluation(key, CALLER_DEFAULT.object, ctx);
  if (r.reason === "ERROR") return { key, errorCode: r.errorCode };
  if (r.variant === undefined) return { key, reason: r.reason };
  return { key, value: r.value, variant: r.variant, reason: r.reason };
}

describe("rampart import flagd, then OFREP", () => {
  it("refuses a document naming an operation flagd does not define, with the path, and stores nothing", async () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ flags: { "flagd-bad": { state: "ENABLED", variants: { on: true, off: false }, defaultVariant: "off", targeting: { if: [{ regex: [{ var: "email" }, ".*"] }, "on", "off"] } } } }));
    const refused = await cli("import", "flagd", bad);
    expect(refused.status).toBe(1);
    expect(refused.err).toContain("400 invalid_request");
    expect(refused.err).toContain('flags.flagd-bad.targeting.if[0].regex: unknown operation "regex"');
    expect((await worker.admin("GET", "/admin/flags/flagd-bad")).status).toBe(404);
    expect((await cli("import", "yaml", bad)).err).toContain('unknown import format "yaml"');
  });

  it("imports every flag (dry run first), and OFREP answers flagd-core's value, variant, reason and error for 200 contexts", async () => {
    const file = join(dir, "flags.flagd.json");
    writeFileSync(file, JSON.stringify(FLAGD_DOCUMENT, null, 2));
    const keys = Object.keys(FLAGD_DOCUMENT.flags);
    const dry = await cli("import", "flagd", file, "--dry-run");
    expect(dry.status, dry.err).toBe(0);
    expect(dry.out).toContain("dry run: nothing changed");
    expect((await worker.admin("GET", `/admin/flags/${keys[0]}`)).status).toBe(404);
    const done = await cli("import", "flagd", file);
    expect(done.status, done.err).toBe(0);
    for (const key of keys) expect(done.out).toContain(key);

    const core = new FlagdCore(undefined, undefined, { disableDynamicCodeGeneration: true });
    core.setConfigurations(JSON.stringify(FLAGD_DOCUMENT));
    const types = new Map<string, FlagType>();
    for (const [key, flag] of Object.entries(FLAGD_DOCUMENT.flags)) {
      const first = Object.values(flag.variants)[0];
      types.set(key, first !== null && typeof first === "object" ? "object" : (typeof first as FlagType));
    }
    // Wait (bounded) until the edge serves the import.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const probe = await fetch(`${worker.baseUrl}/ofrep/v1/evaluate/flags/static-bool`, { method: "POST", body: "{}" });
      if (probe.status === 200) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const random = seededRandom(7);
    const differences: string[] = [];
    for (let i = 0; i < 200; i++) {
      const context = generatedContext(random, i);
      const bulk = await fetch(`${worker.baseUrl}/ofrep/v1/evaluate/flags`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ context }) });
      expect(bulk.status).toBe(200);
      const answers = new Map((await bulk.json() as { flags: Record<string, unknown>[] }).flags.map((f) => [f["key"] as string, f]));
      for (const key of keys) {
        const expected = expectedEntry(core, key, types.get(key) as FlagType, context);
        const { key: k, value, variant, reason, errorCode } = answers.get(key) ?? {};
        const got = Object.fromEntries(Object.entries({ key: k, value, variant, reason, errorCode }).filter(([, v]) => v !== undefined));
        if (JSON.stringify(got) !== JSON.stringify(expected) && differences.length < 10) differences.push(`${key} ${JSON.stringify(context)}: OFREP ${JSON.stringify(got)}, flagd-core ${JSON.stringify(expected)}`);
      }
    }
    expect(differences).toEqual([]);

    // A single evaluation answers the same: a code default is a 200 without value; a failed targeting is OFREP's 400 GENERAL.
    const single = async (key: string, context: Record<string, unknown>) => {
      const r = await fetch(`${worker.baseUrl}/ofrep/v1/evaluate/flags/${key}`, { method: "POST", body: JSON.stringify({ context }) });
      return { status: r.status, json: (await r.json()) as Record<string, unknown> };
    };
    const disabled = await single("disabled-flag", { targetingKey: "u1" });
    expect(disabled.status).toBe(200);
    expect(disabled.json).toMatchObject({ key: "disabled-flag", reason: "DISABLED", metadata: { flagSetId: "differential" } });
    expect(disabled.json).not.toHaveProperty("value");
    expect(await single("unknown-variant", { country: "xx" })).toMatchObject({ status: 400, json: { errorCode: "GENERAL", errorDetails: "Variant 'zzz' not found in flag with key 'unknown-variant'" } });
    expect(await single("header-color", { email: "ana@internal.example" })).toMatchObject({ status: 200, json: { value: "#f00", variant: "red", reason: "TARGETING_MATCH", metadata: { owner: "web", flagSetId: "differential" } } });

    // `rampart show` prints the stored definition; a kill serves flagd's DISABLED.
    expect((await cli("show", "header-color")).out).toContain("flagd:");
    expect((await worker.admin("POST", "/admin/flags/header-color/actions", { action: "kill", reason: "e2e" })).status).toBe(200);
    const killDeadline = Date.now() + 10_000;
    let killed = await single("header-color", { email: "ana@internal.example" });
    while (killed.json["reason"] !== "DISABLED" && Date.now() < killDeadline) {
      await new Promise((r) => setTimeout(r, 100));
      killed = await single("header-color", { email: "ana@internal.example" });
    }
    expect(killed).toMatchObject({ status: 200, json: { key: "header-color", reason: "DISABLED" } });
    expect(killed.json).not.toHaveProperty("value");
  });
});
