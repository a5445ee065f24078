/** The exposure log's buffer: nothing lost through a short R2 outage, a bounded buffer through a long one, ids pseudonymised. */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ExposureLog, exposurePrefix, readExposures, type ExposureRecord } from "../../worker/exposure-log";

const noSleep = () => Promise.resolve();
const hold = (work: Promise<unknown>) => void work.catch(() => undefined);
const record = (i: number, at = Date.UTC(2026, 10, 23, 10, 30)): ExposureRecord => ({ flag: "log-flag", id: `user-${i}`, arm: i % 2 ? "candidate" : "baseline", value: i % 2 === 1, generation: 1, stage: 0, wave: null, pins: {}, at });

describe("exposure log buffer", () => {
  it("retries a write R2 refused and loses nothing when it comes back", async () => {
    const written = new Map<string, string>();
    let failures = 5;
    const log = new ExposureLog(async (key, body) => {
      if (failures-- > 0) throw new Error("R2 unavailable");
      written.set(key, body);
    }, { flushMs: 0, maxPending: 1000, idKey: null, retryDelaysMs: [1, 1, 1] }, noSleep);
    for (let i = 0; i < 50; i++) log.add(record(i), hold);
    await log.flush(); // four attempts fail: the records are kept
    expect(log.held).toBe(50);
    expect(written.size).toBe(0);
    await log.flush(); // the fifth fails, the sixth is taken
    expect(log.held).toBe(0);
    const lines = [...written.values()].join("").trim().split("\n");
    expect(lines.map((l) => (JSON.parse(l) as ExposureRecord).id).sort()).toEqual(Array.from({ length: 50 }, (_, i) => `user-${i}`).sort());
    expect([...written.keys()][0]).toMatch(/^exposures\/log-flag\/2026\/11\/23\/10\/\d+-[0-9a-f-]+\.ndjson$/);
    expect({ written: log.written, dropped: log.dropped }).toEqual({ written: 50, dropped: 0 });
  });

  it("holds at most maxPending records through a long outage and counts what it drops", async () => {
    const log = new ExposureLog(() => Promise.reject(new Error("R2 down")), { flushMs: 0, maxPending: 100, idKey: null, retryDelaysMs: [] }, noSleep);
    for (let i = 0; i < 150; i++) log.add(record(i), hold);
    expect(log.held).toBe(100);
    await log.flush();
    for (let i = 0; i < 30; i++) log.add(record(i), hold);
    expect(log.held).toBe(100);
    expect(log.dropped).toBe(80);
  });

  it("writes HMAC-SHA256 pseudonyms of sticky ids when a key is set", async () => {
    let body = "";
    const log = new ExposureLog(async (_key, b) => {
      body = b;
    }, { flushMs: 0, maxPending: 10, idKey: "deployment-key" }, noSleep);
    log.add(record(7), hold);
    await log.flush();
    const key = await crypto.subtle.importKey("raw", new TextEncoder().encode("deployment-key"), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const expected = [...new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode("user-7")))].map((b) => b.toString(16).padStart(2, "0")).join("");
    expect((JSON.parse(body) as ExposureRecord).id).toBe(expected);
    expect(body).not.toContain("user-7");
  });

  it("reads back one flag's records in [from, to) across hour partitions, from real R2", async () => {
    const base = Date.UTC(2026, 10, 23, 9, 0);
    const inside = [record(1, base + 30 * 60_000), record(2, base + 70 * 60_000)];
    const outside = [record(3, base - 1), record(4, base + 2 * 3_600_000)];
    for (const r of [...inside, ...outside]) await env.EXPOSURES.put(`${exposurePrefix(r.flag, r.at)}${r.at}-x.ndjson`, `${JSON.stringify(r)}\n`);
    await env.EXPOSURES.put(`${exposurePrefix("other-flag", base)}${base}-x.ndjson`, `${JSON.stringify({ ...record(5, base), flag: "other-flag" })}\n`);
    // A damaged object in the partition: its bad line is skipped, its good one kept.
    await env.EXPOSURES.put(`${exposurePrefix("log-flag", base)}${base}-damaged.ndjson`, `{"flag":"log-flag","id":"trunc\n${JSON.stringify(record(6, base + 5 * 60_000))}\n`);
    const text = await new Response(readExposures(env.EXPOSURES, "log-flag", base, base + 2 * 3_600_000)).text();
    expect(text.trim().split("\n").map((l) => (JSON.parse(l) as ExposureRecord).id).sort()).toEqual(["user-1", "user-2", "user-6"]);
  });
});
