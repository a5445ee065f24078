import { describe, expect, it } from "vitest";
import feedRankerYaml from "../../examples/feed-ranker.yaml?raw";
import { booleanSpec, call, putFlag, READ_AUTH, uniqueKey } from "./helpers";

/** Everything an operator could observe about a flag, to check that a rejected request changed nothing. */
async function observe(key: string) {
  const flag = await call("GET", `/admin/flags/${key}`);
  const decisions = await call("GET", `/admin/flags/${key}/decisions`);
  const audit = await call("GET", "/admin/audit?limit=500");
  return { flag: flag.json, decisions: decisions.json, auditSize: (audit.json.entries as unknown[]).length };
}

describe("admin authentication", () => {
  it("rejects a missing or wrong token with 401 and a Bearer challenge", async () => {
    const none = await call("GET", "/admin/flags", { headers: { authorization: "" } });
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    expect(none.json).toMatchObject({ error: "unauthorized" });
    const wrong = await call("GET", "/admin/flags", { headers: { authorization: "Bearer not-the-token" } });
    expect(wrong.status).toBe(401);
  });

  it("lets a read-only token read but not write (403)", async () => {
    expect((await call("GET", "/admin/flags", { headers: READ_AUTH })).status).toBe(200);
    const key = uniqueKey("ro");
    const write = await call("PUT", `/admin/flags/${key}`, { body: booleanSpec(key), headers: READ_AUTH });
    expect(write.status).toBe(403);
    expect((await call("GET", `/admin/flags/${key}`)).status).toBe(404);
  });
});

describe("flags", () => {
  it("creates a flag from YAML, returns it as written, and lists it", async () => {
    const put = await call("PUT", "/admin/flags/feed-ranker", { raw: feedRankerYaml, type: "application/yaml" });
    expect(put.status).toBe(201);
    expect(put.json).toMatchObject({ key: "feed-ranker", created: true, state: { status: "ramping", stageIndex: 0, generation: 1 } });
    const got = await call("GET", "/admin/flags/feed-ranker");
    expect(got.json.spec.gates[0]).toEqual({ metric: "ctr", bad: "decrease", warn: "3%", rollback: "5%", severe: "10%" });
    expect(got.json.specHash).toMatch(/^[0-9a-f]{64}$/);
    const list = await call("GET", "/admin/flags");
    expect(list.json.flags).toContainEqual(expect.objectContaining({ key: "feed-ranker", status: "ramping", weight: 10 }));
  });

  it("answers 200 and changes nothing when the same spec is put again", async () => {
    const key = uniqueKey("same");
    await putFlag(booleanSpec(key));
    const again = await call("PUT", `/admin/flags/${key}`, { body: booleanSpec(key) });
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ created: false, changed: false, specVersion: 1 });
  });

  it("starts a new generation when the candidate changes, not when a threshold does", async () => {
    const key = uniqueKey("gen");
    const spec = { ...booleanSpec(key), type: "string", variants: { baseline: "v1", candidate: "v2" } };
    await putFlag(spec);
    const gated = await putFlag({ ...spec, gates: [{ metric: "error_rate", bad: "increase", compare: "absolute", rollback: "0.2pp" }] });
    expect(gated.state.generation).toBe(1);
    const next = await putFlag({ ...spec, variants: { baseline: "v1", candidate: "v3" } });
    expect(next.state).toMatchObject({ generation: 2, stageIndex: 0 });
    const decisions = await call("GET", `/admin/flags/${key}/decisions`);
    expect(decisions.json.decisions[0]).toMatchObject({ action: "new_generation", generation: 2, source: "config" });
  });

  it("deletes a flag; a second delete is 404", async () => {
    const key = uniqueKey("del");
    await putFlag(booleanSpec(key));
    expect((await call("DELETE", `/admin/flags/${key}`)).json).toEqual({ key, deleted: true });
    expect((await call("GET", `/admin/flags/${key}`)).status).toBe(404);
    expect((await call("DELETE", `/admin/flags/${key}`)).status).toBe(404);
  });
});

describe("actions", () => {
  it("promotes, kills and unkills, logging each decision newest first", async () => {
    const key = uniqueKey("act");
    await putFlag(booleanSpec(key, [{ weight: 0, shadow: true }, { weight: 10 }, { weight: 100 }]));
    const promote = await call("POST", `/admin/flags/${key}/actions`, { body: { action: "promote", reason: "shadow looked fine" } });
    expect(promote.status).toBe(200);
    expect(promote.json).toMatchObject({ published: true, state: { status: "ramping", stageIndex: 1 } });
    await call("POST", `/admin/flags/${key}/actions`, { body: { action: "kill" }, headers: { "x-rampart-actor": "alice" } });
    const unkill = await call("POST", `/admin/flags/${key}/actions`, { body: { action: "unkill" } });
    expect(unkill.json.state).toMatchObject({ status: "ramping", stageIndex: 1 });
    const log = await call("GET", `/admin/flags/${key}/decisions`);
    expect(log.json.decisions.map((d: { action: string }) => d.action)).toEqual(["unkill", "kill", "promote", "created"]);
    expect(log.json.decisions[1]).toMatchObject({ actor: "admin:alice", from: { status: "ramping" }, to: { status: "killed" } });
    expect(log.json.decisions[2]).toMatchObject({ reason: "shadow looked fine" });
  });
});

describe("bad input changes nothing", () => {
  const cases: [string, (key: string) => Parameters<typeof call>, number, string][] = [
    ["malformed JSON", (k) => ["PUT", `/admin/flags/${k}`, { raw: '{"key": ', type: "application/json" }], 400, "invalid_json"],
    ["malformed YAML", (k) => ["PUT", `/admin/flags/${k}`, { raw: "key: [unclosed", type: "application/yaml" }], 400, "invalid_yaml"],
    ["a wrong content type", (k) => ["PUT", `/admin/flags/${k}`, { raw: "key=x", type: "application/x-www-form-urlencoded" }], 415, "unsupported_media_type"],
    ["an oversized body", (k) => ["PUT", `/admin/flags/${k}`, { raw: JSON.stringify({ key: k, description: "x".repeat(1_100_000) }), type: "application/json" }], 413, "payload_too_large"],
    ["an invalid spec", (k) => ["PUT", `/admin/flags/${k}`, { body: { ...booleanSpec(k), rollout: { stages: [{ weight: 150 }] } } }], 400, "invalid_request"],
    ["an unknown field", (k) => ["PUT", `/admin/flags/${k}`, { body: { ...booleanSpec(k), colour: "red" } }], 400, "invalid_request"],
    ["a key that differs from the URL", (k) => ["PUT", `/admin/flags/${k}`, { body: booleanSpec("other") }], 400, "invalid_request"],
    ["an unknown action", (k) => ["POST", `/admin/flags/${k}/actions`, { body: { action: "launch" } }], 400, "invalid_request"],
    ["force without a variant", (k) => ["POST", `/admin/flags/${k}/actions`, { body: { action: "force" } }], 400, "invalid_request"],
    ["an action the state does not allow", (k) => ["POST", `/admin/flags/${k}/actions`, { body: { action: "unkill" } }], 409, "invalid_transition"],
    ["an action as YAML", (k) => ["POST", `/admin/flags/${k}/actions`, { raw: "action: kill", type: "application/yaml" }], 415, "unsupported_media_type"],
  ];

  for (const [what, request, status, code] of cases) {
    it(`answers ${status} ${code} to ${what}`, async () => {
      const key = uniqueKey("bad");
      await putFlag(booleanSpec(key));
      const before = await observe(key);
      const res = await call(...request(key));
      expect(res.status).toBe(status);
      expect(res.json.error).toBe(code);
      expect(typeof res.json.message).toBe("string");
      expect(res.headers.get("content-type")).toContain("application/json");
      expect(await observe(key)).toEqual(before);
    });
  }

  it("names the field in a spec error", async () => {
    const key = uniqueKey("path");
    const res = await call("PUT", `/admin/flags/${key}`, { body: { ...booleanSpec(key), rollout: { stages: [{ weight: 10 }, { weight: 250 }] } } });
    expect(res.json.issues).toContainEqual({ path: "rollout.stages[1].weight", message: "must be 0..100" });
    expect((await call("GET", `/admin/flags/${key}`)).status).toBe(404);
  });

  it("names a bad query parameter, and refuses to replay what has no inputs", async () => {
    const key = uniqueKey("query");
    await putFlag(booleanSpec(key));
    const limit = await call("GET", `/admin/flags/${key}/decisions?limit=0`);
    expect(limit.status).toBe(400);
    expect(limit.json.issues[0].path).toBe("limit");
    const [created] = (await call("GET", `/admin/flags/${key}/decisions`)).json.decisions;
    const replay = await call("GET", `/admin/flags/${key}/decisions/${created.id}/replay`);
    expect(replay.status).toBe(409);
    expect(replay.json).toMatchObject({ error: "not_replayable", message: expect.stringContaining("nothing to recompute") });
    expect((await call("GET", `/admin/flags/${key}/decisions/999999`)).status).toBe(404);
    expect((await call("GET", `/admin/flags/${key}/decisions/abc`)).json.issues[0].path).toBe("id");
  });

  it("answers 404 for actions on an unknown flag, and for unknown routes", async () => {
    const action = await call("POST", `/admin/flags/${uniqueKey("ghost")}/actions`, { body: { action: "kill" } });
    expect(action.status).toBe(404);
    expect(action.json.error).toBe("not_found");
    expect((await call("GET", "/admin/nothing-here")).status).toBe(404);
  });
});
