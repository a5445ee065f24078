/** OFREP change events: one refetchEvaluation event per configuration change, with stable ids and replay from Last-Event-ID. */
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { booleanSpec, call, evaluateUntil, PROPAGATION_MS, putFlag, uniqueKey } from "./helpers";

/** Reads server-sent events until `done` says stop (bounded by `timeoutMs`). */
async function readEvents(response: Response, done: (events: { id: string; data: string }[]) => boolean, timeoutMs: number) {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = "";
  const events: { id: string; data: string }[] = [];
  const deadline = Date.now() + timeoutMs;
  // One read in flight at a time: a read that outlasts a poll is awaited again, not abandoned.
  let pending: Promise<ReadableStreamReadResult<Uint8Array>> | null = null;
  while (!done(events) && Date.now() < deadline) {
    pending ??= reader.read();
    const next = await Promise.race([pending, new Promise<null>((r) => setTimeout(() => r(null), 200))]);
    if (next === null) continue;
    pending = null;
    if (next.done) break;
    text += decoder.decode(next.value, { stream: true });
    let end: number;
    while ((end = text.indexOf("\n\n")) >= 0) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      const id = /^id: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (id !== undefined && data !== undefined) events.push({ id, data });
    }
  }
  await reader.cancel();
  return events;
}

describe("OFREP change stream", () => {
  it("is advertised in bulk responses, sends one event for a kill, and replays from Last-Event-ID", async () => {
    const key = uniqueKey("sse");
    await putFlag(booleanSpec(key));
    await evaluateUntil(key, { targetingKey: "u" }, (r) => r.status === 200);
    const bulk = (await call("POST", "/ofrep/v1/evaluate/flags", { body: { context: { targetingKey: "u" } }, headers: {} })).json;
    expect(bulk.eventStreams).toEqual([{ type: "sse", endpoint: { origin: "https://rampart.test", requestUri: "/ofrep/v1/flag-changes" }, inactivityDelaySec: 120 }]);

    const stream = await SELF.fetch("https://rampart.test/ofrep/v1/flag-changes");
    expect(stream.headers.get("content-type")).toContain("text/event-stream");
    const killedAt = Date.now();
    await call("POST", `/admin/flags/${key}/actions`, { body: { action: "kill" } });
    const events = await readEvents(stream, (e) => e.length >= 1, 2 * PROPAGATION_MS + 1000);
    expect(Date.now() - killedAt).toBeLessThan(2 * PROPAGATION_MS + 1000);
    expect(events).toHaveLength(1);
    expect(JSON.parse(events[0]?.data ?? "{}")).toMatchObject({ type: "refetchEvaluation", etag: expect.any(String) });
    const version = Number(events[0]?.id);
    // The event's id is the configuration version the bulk evaluation now serves.
    const after = await evaluateUntil(key, { targetingKey: "u" }, (r) => r.json.reason === "DISABLED");
    expect(after.json.metadata.configVersion).toBe(version);

    // A client that reconnects having seen an older version gets one event at once; one that is current gets none.
    const behind = await readEvents(await SELF.fetch("https://rampart.test/ofrep/v1/flag-changes", { headers: { "last-event-id": String(version - 1) } }), (e) => e.length >= 1, 1500);
    expect(behind.map((e) => Number(e.id))).toEqual([version]);
    const current = await readEvents(await SELF.fetch("https://rampart.test/ofrep/v1/flag-changes", { headers: { "last-event-id": String(version) } }), () => false, 800);
    expect(current).toEqual([]);
    // The same through `?lastEventId=` (clients that cannot set headers); a malformed id counts as none: no replay.
    const byQuery = await readEvents(await SELF.fetch(`https://rampart.test/ofrep/v1/flag-changes?lastEventId=${version - 1}`), (e) => e.length >= 1, 1500);
    expect(byQuery.map((e) => Number(e.id))).toEqual([version]);
    const malformed = await readEvents(await SELF.fetch("https://rampart.test/ofrep/v1/flag-changes", { headers: { "last-event-id": "1e3" } }), () => false, 800);
    expect(malformed).toEqual([]);
  });
});
