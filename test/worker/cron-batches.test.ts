import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { registryStub } from "../../durable-objects/registry/stub";
import { TICK_BATCH } from "../../durable-objects/registry/tick";
import { booleanSpec, call, sleep } from "./helpers";

describe("cron fan-out", () => {
  // Creating 205 flags takes a few seconds on two cores.
  it("judges more flags than one invocation may call, in batches continued by the registry's alarm", { timeout: 30_000 }, async () => {
    const count = TICK_BATCH + 5;
    const flags = Array.from({ length: count }, (_, i) => booleanSpec(`batch-${String(i).padStart(3, "0")}`));
    expect((await call("POST", "/admin/manifest", { body: { flags } })).status).toBe(200);

    const time = Date.now() + 120_000;
    const first = await registryStub(env).tick(time);
    expect(first).toMatchObject({ evaluated: TICK_BATCH, failed: 0, remaining: 5 });

    // The registry's alarm takes the rest (bounded wait).
    let status = (await call("GET", "/admin/cron")).json;
    for (let i = 0; i < 100 && status.pending !== null; i++) {
      await sleep(50);
      status = (await call("GET", "/admin/cron")).json;
    }
    expect(status.pending).toBeNull();
    expect(status.last).toMatchObject({ now: time, evaluated: count, failed: 0, batches: 2 });

    // The same minute again changes nothing; every flag says it was already judged this minute, which counts as judged.
    const again = await registryStub(env).tick(time);
    expect(again).toMatchObject({ evaluated: TICK_BATCH, changed: 0, failed: 0 });
  });
});
