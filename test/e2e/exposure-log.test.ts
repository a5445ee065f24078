/** End to end over HTTP: the exposures a client caused come back, exactly, from the exposures endpoint. */
import { createHmac } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { processIo, runCli, type CliIo } from "../../scripts/lib/cli";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_ADMIN_TOKEN, E2E_PROPAGATION_MS, startLocalWorker, type LocalWorker } from "../../scripts/lib/local-worker";

let worker: LocalWorker;
const ID_KEY = "e2e-exposure-id-key";
/** What the log writes for a sticky id: HMAC-SHA256 under the deployment's key, hex. */
const pseudonym = (id: string) => createHmac("sha256", ID_KEY).update(id).digest("hex");

beforeAll(async () => {
  worker = await startLocalWorker({ FLUSH_MS: "200", EXPOSURE_ID_KEY: ID_KEY });
});
afterAll(async () => {
  await worker?.dispose();
});

async function put(key: string, rate: number | null) {
  const res = await worker.admin("PUT", `/admin/flags/${key}`, {
    key, type: "string", variants: { baseline: "v1", candidate: "v2" },
    pins: { candidate: { MODEL_REV: "2026-11-01" } },
    rollout: { stages: [{ weight: 50 }, { weight: 100 }] },
    ...(rate === null ? {} : { exposureLog: { rate } }),
  });
  expect(res.status).toBe(201);
}

async function evaluate(key: string, user: string) {
  const r = await fetch(`${worker.baseUrl}/ofrep/v1/evaluate/flags/${key}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ context: { targetingKey: user } }) });
  expect(r.status).toBe(200);
  return (await r.json()) as { variant: string; value: string };
}

async function exposures(key: string, from: number): Promise<{ id: string; arm: string; value: string; generation: number; stage: number; pins: Record<string, string>; at: number }[]> {
  const r = await worker.admin("GET", `/admin/flags/${key}/exposures?from=${from}`);
  expect(r.status).toBe(200);
  expect(r.headers.get("content-type")).toContain("application/x-ndjson");
  const text = await r.text();
  return text.trim() === "" ? [] : text.trim().split("\n").map((l) => JSON.parse(l) as never);
}

describe("exposure log", () => {
  it("reads back exactly the exposures a client caused (ids pseudonymised), with arm, value, generation, stage and pins", async () => {
    const from = Date.now() - 1000;
    await put("logged", 1);
    await put("unlogged", null);
    await new Promise((r) => setTimeout(r, E2E_PROPAGATION_MS + 100));
    const served = new Map<string, { variant: string; value: string }>();
    for (let i = 0; i < 40; i++) {
      served.set(pseudonym(`user-${i}`), await evaluate("logged", `user-${i}`));
      await evaluate("unlogged", `user-${i}`);
    }
    // Written after the response, in the background: wait for the flush (bounded), never race it blindly.
    let rows: Awaited<ReturnType<typeof exposures>> = [];
    for (let attempt = 0; attempt < 50 && rows.length < served.size; attempt++) {
      await new Promise((r) => setTimeout(r, 200));
      rows = await exposures("logged", from);
    }
    expect(rows).toHaveLength(40);
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(served.keys()));
    for (const row of rows) {
      expect(row.arm).toBe(served.get(row.id)?.variant);
      expect(row.value).toBe(served.get(row.id)?.value);
      expect(row).toMatchObject({ generation: 1, stage: 0 });
      expect(row.pins).toEqual(row.arm === "candidate" ? { MODEL_REV: "2026-11-01" } : {});
    }
    expect(await exposures("unlogged", from)).toEqual([]);
    // The CLI exports the same records to a file.
    const out = join(mkdtempSync(join(tmpdir(), "rampart-exposures-")), "logged.ndjson");
    const io: CliIo = { ...processIo, out: () => undefined, err: () => undefined, env: { RAMPART_URL: worker.baseUrl, RAMPART_TOKEN: E2E_ADMIN_TOKEN } };
    expect(await runCli(["exposures", "logged", "--from", String(from), "--out", out], io)).toBe(0);
    expect(readFileSync(out, "utf8").trim().split("\n")).toHaveLength(40);
    // A span past a week is refused, naming the parameter.
    const wide = await worker.admin("GET", `/admin/flags/logged/exposures?from=0`);
    expect(wide.status).toBe(400);
    expect(await wide.text()).toContain('"path":"from"');
    const backwards = await worker.admin("GET", `/admin/flags/logged/exposures?from=${from + 1000}&to=${from}`);
    expect(backwards.status).toBe(400);
    expect(await backwards.text()).toContain("from must be before to");
    expect((await worker.admin("GET", "/admin/flags/no-such-flag/exposures")).status).toBe(404);
  });
});
