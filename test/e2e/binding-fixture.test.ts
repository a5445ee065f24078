/**
 * Another Worker evaluates Rampart's flags over a real service binding to
 * the `RampartFlags` entrypoint — no HTTP hop — both directly and through
 * the OpenFeature server SDK with RampartBindingProvider. Both bundles are
 * built as `wrangler deploy` would build them and run side by side on
 * Miniflare (test/fixtures/flag-consumer).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const TOKEN = "fixture-admin-token";
// Inside the project: workerd resolves the bundle's modules relative to it and may not climb out of the working directory.
mkdirSync(".wrangler", { recursive: true });
const out = resolve(mkdtempSync(join(".wrangler", "binding-fixture-")));
let mf: Miniflare;
let rampartUrl: string;

function bundle(config: string, dir: string): string {
  execFileSync("node_modules/.bin/wrangler", ["deploy", "--dry-run", "--config", config, "--outdir", dir], { stdio: "ignore" });
  return join(dir, "index.js");
}

beforeAll(async () => {
  const rampartBundle = bundle("wrangler.toml", join(out, "rampart"));
  const consumerBundle = bundle("test/fixtures/flag-consumer/wrangler.toml", join(out, "consumer"));
  const { workerOptions } = unstable_getMiniflareWorkerOptions("wrangler.toml");
  mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    defaultPersistRoot: join(out, "state"),
    workers: [
      {
        ...workerOptions,
        name: "rampart",
        modules: true,
        scriptPath: rampartBundle,
        bindings: { ...((workerOptions.bindings ?? {}) as Record<string, unknown>), ADMIN_TOKEN: TOKEN, HEAD_TTL_MS: "100", REFRESH_MS: "50", MAX_STALE_MS: "150", FLUSH_MS: "200" },
      },
      {
        name: "flag-consumer",
        routes: ["consumer.test/*"],
        modules: true,
        scriptPath: consumerBundle,
        compatibilityDate: "2026-04-20",
        compatibilityFlags: ["nodejs_compat"],
        serviceBindings: { FLAGS: { name: "rampart", entrypoint: "RampartFlags" } },
      },
    ],
  } as ConstructorParameters<typeof Miniflare>[0]);
  rampartUrl = (await mf.ready).toString().replace(/\/$/, "");
}, 120_000);

afterAll(async () => {
  await mf?.dispose();
  rmSync(out, { recursive: true, force: true });
});

const admin = (method: string, path: string, body?: unknown) =>
  fetch(`${rampartUrl}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });

describe("a Worker bound to Rampart", () => {
  it("evaluates through the binding and through OpenFeature exactly as OFREP answers, and its evaluations count as exposures", async () => {
    const key = "bound-checkout";
    expect((await admin("PUT", `/admin/flags/${key}`, { key, type: "string", variants: { baseline: "v1", candidate: "v2" }, rollout: { stages: [{ weight: 50 }, { weight: 100 }] } })).status).toBe(201);
    const ask = async (user: string | null) => (await (await mf.dispatchFetch(`http://consumer.test/?flag=${key}${user === null ? "" : `&user=${user}`}`)).json()) as { direct: { value: string; variant?: string; reason?: string; errorCode?: string }; openFeature: { value: string; variant: string | null; reason: string | null; errorCode: string | null } };
    // Until the binding's isolate has the flag, it answers not found with the default.
    for (let i = 0; i < 100 && (await ask("warm-up")).direct.errorCode !== undefined; i++) await new Promise((r) => setTimeout(r, 50));

    const served = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const user = `user-${i}`;
      const ofrep = (await (await fetch(`${rampartUrl}/ofrep/v1/evaluate/flags/${key}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ context: { targetingKey: user } }) })).json()) as { value: string; variant: string; reason: string };
      const { direct, openFeature } = await ask(user);
      expect(direct).toEqual({ flagKey: key, value: ofrep.value, variant: ofrep.variant, reason: "SPLIT" });
      expect(openFeature).toEqual({ value: ofrep.value, variant: ofrep.variant, reason: "SPLIT", errorCode: null });
      served.add(direct.value);
    }
    expect(served).toEqual(new Set(["v1", "v2"]));

    // Errors come back as defaults with OpenFeature's codes, through both.
    const missing = await ask(null);
    expect(missing.direct).toMatchObject({ value: "default", errorCode: "TARGETING_KEY_MISSING" });
    expect(missing.openFeature).toMatchObject({ value: "default", errorCode: "TARGETING_KEY_MISSING" });

    // Exposures: the 30 OFREP evaluations, and the consumer's 60 (direct and OpenFeature) plus its warm-up, reach the counters.
    let exposures = 0;
    for (let i = 0; i < 100 && exposures < 90; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const report = (await (await admin("GET", `/admin/flags/${key}/report?from=0`)).json()) as { arms: { baseline: { exposures: number }; candidate: { exposures: number } } };
      exposures = report.arms.baseline.exposures + report.arms.candidate.exposures;
    }
    expect(exposures).toBeGreaterThanOrEqual(90);
  }, 60_000);
});
