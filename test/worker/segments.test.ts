/** Segments: named audiences the rules of any flag refer to, republished through the delta path when they change. */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { registryStub } from "../../durable-objects/registry/stub";
import { call, evaluate, evaluateUntil, putFlag, uniqueKey } from "./helpers";

const flagUsing = (key: string, segment: string) => ({
  key,
  kind: "targeting",
  type: "boolean",
  variants: { on: true, off: false },
  defaultVariant: "off",
  rules: [{ name: "testers", when: { attribute: "targetingKey", op: "in_segment", value: segment }, serve: { variant: "on" } }],
});

describe("segments", () => {
  it("serves a 10,000-key segment's members, and a change reaches the edge republishing only the flags using it", async () => {
    const segment = uniqueKey("beta-testers");
    const keys = Array.from({ length: 10_000 }, (_, i) => `tester-${i}`);
    const created = await call("PUT", `/admin/segments/${segment}`, { body: { description: "closed beta", keys, excluded: ["tester-7"], when: { attribute: "email", op: "ends_with", value: "@qa.example" } } });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ name: segment, created: true, version: 1, republished: [] });

    const key = uniqueKey("beta-feature");
    const other = uniqueKey("unrelated");
    await putFlag(flagUsing(key, segment));
    await putFlag({ key: other, kind: "kill_switch", type: "boolean", variants: { baseline: false, candidate: true } });
    expect((await evaluateUntil(key, { targetingKey: "tester-9999" }, (r) => r.status === 200)).json).toMatchObject({ value: true, reason: "TARGETING_MATCH", metadata: { rule: "testers" } });
    expect((await evaluate(key, { targetingKey: "tester-7" })).json).toMatchObject({ value: false, reason: "DEFAULT" });
    expect((await evaluate(key, { targetingKey: "someone", email: "a@qa.example" })).json.value).toBe(true);
    expect((await evaluate(key, { targetingKey: "someone" })).json.value).toBe(false);

    const updated = await call("PUT", `/admin/segments/${segment}`, { body: { keys: ["someone"] } });
    expect(updated.json).toMatchObject({ created: false, version: 2, republished: [key] });
    const head = await registryStub(env).getHead();
    expect(head.changes?.find((c) => c.version === head.version)).toEqual({ version: head.version, set: [key], deleted: [] });
    expect((await evaluateUntil(key, { targetingKey: "someone" }, (r) => r.json.value === true)).json.reason).toBe("TARGETING_MATCH");
    expect((await evaluate(key, { targetingKey: "tester-1" })).json.value).toBe(false);

    const listed = (await call("GET", "/admin/segments")).json.segments.find((s: { segment: { name: string } }) => s.segment.name === segment);
    expect(listed).toMatchObject({ version: 2, flags: [key] });
    const audit = (await call("GET", "/admin/audit?limit=50")).json.entries.filter((e: { action: string; summary: string }) => e.action.startsWith("segment:") && e.summary.includes(segment));
    expect(audit.map((e: { action: string }) => e.action)).toEqual(["segment:update", "segment:create"]);
  });

  it("refuses a flag naming a segment that does not exist, and deleting one in use, each naming what is wrong", async () => {
    const key = uniqueKey("orphan");
    const missing = await call("PUT", `/admin/flags/${key}`, { body: flagUsing(key, "no-such-segment") });
    expect(missing.status).toBe(400);
    expect(missing.json.issues).toEqual([{ path: "rules[0].when.value", message: expect.stringContaining('unknown segment "no-such-segment"') }]);
    expect((await call("GET", `/admin/flags/${key}`)).status).toBe(404);
    // A manifest names the flag by its place in the list, and applies nothing.
    const manifest = await call("POST", "/admin/manifest", { body: { flags: [{ key: uniqueKey("fine"), kind: "kill_switch", type: "boolean", variants: { baseline: false, candidate: true } }, flagUsing(key, "no-such-segment")] } });
    expect(manifest.status).toBe(400);
    expect(manifest.json.issues).toEqual([{ path: "flags[1].rules[0].when.value", message: expect.stringContaining('unknown segment "no-such-segment"') }]);
    expect((await call("GET", `/admin/flags/${key}`)).status).toBe(404);

    const segment = uniqueKey("staff");
    await call("PUT", `/admin/segments/${segment}`, { body: { keys: ["a"] } });
    await putFlag(flagUsing(key, segment));
    const inUse = await call("DELETE", `/admin/segments/${segment}`);
    expect(inUse.status).toBe(409);
    expect(inUse.json.message).toContain(key);
    expect((await call("DELETE", `/admin/flags/${key}`)).status).toBe(200);
    expect((await call("DELETE", `/admin/segments/${segment}`)).status).toBe(200);
    expect((await call("GET", `/admin/segments/${segment}`)).status).toBe(404);
  });

  it("refuses bad segments naming the field", async () => {
    const name = uniqueKey("bad");
    const empty = await call("PUT", `/admin/segments/${name}`, { body: {} });
    expect(empty.status).toBe(400);
    expect(empty.json.issues[0].path).toBe("keys");
    const nested = await call("PUT", `/admin/segments/${name}`, { body: { when: { attribute: "x", op: "in_segment", value: "other" } } });
    expect(nested.json.issues[0]).toMatchObject({ path: "when.value", message: expect.stringContaining("cannot refer to a segment") });
    const tooMany = await call("PUT", `/admin/segments/${name}`, { body: { keys: Array.from({ length: 20_001 }, (_, i) => `k${i}`) } });
    expect(tooMany.status).toBe(400);
    expect(tooMany.json.issues[0].path).toBe("keys");
    expect((await call("PUT", "/admin/segments/1bad", { body: { keys: ["a"] } })).status).toBe(400);
    expect((await call("GET", `/admin/segments/${name}`)).status).toBe(404);
  });

  it("takes a manifest's segments with its flags: written first, unchanged ones left alone, duplicates refused naming the place", async () => {
    const key = uniqueKey("manifest-seg");
    const segment = uniqueKey("manifest-testers");
    const manifest = { segments: [{ name: segment, keys: ["tester-1", "tester-2"] }], flags: [flagUsing(key, segment)] };
    const applied = await call("POST", "/admin/manifest", { body: manifest });
    expect(applied.status, JSON.stringify(applied.json)).toBe(200);
    expect((await call("GET", `/admin/segments/${segment}`)).json).toMatchObject({ version: 1, flags: [key] });
    const again = await call("POST", "/admin/manifest", { body: manifest });
    expect(again.status).toBe(200);
    expect((await call("GET", `/admin/segments/${segment}`)).json.version).toBe(1);
    const duplicate = await call("POST", "/admin/manifest", { body: { ...manifest, segments: [manifest.segments[0], manifest.segments[0]] } });
    expect(duplicate.status).toBe(400);
    expect(duplicate.json.issues).toEqual([{ path: "segments[1].name", message: expect.stringContaining("duplicate segment") }]);
    // A bad segment is refused with its place, and the manifest's flags are not written either.
    const other = uniqueKey("manifest-seg-other");
    const bad = await call("POST", "/admin/manifest", { body: { segments: [{ name: "Bad Name!", keys: [] }], flags: [flagUsing(other, segment)] } });
    expect(bad.status).toBe(400);
    expect(bad.json.issues[0].path).toBe("segments[0].name");
    expect((await call("GET", `/admin/flags/${other}`)).status).toBe(404);
  });
});
