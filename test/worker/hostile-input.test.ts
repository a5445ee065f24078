/**
 * Bad input gets a clear 4xx naming the problem and changes nothing (the
 * security review's requests): boolean parameters that are not booleans,
 * bodies nested deeper than the documented limit, invalid UTF-8, duplicate
 * JSON keys, unknown YAML tags, `__proto__` keys in specs.
 */
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { jsonShapeProblem } from "../../core/json-shape";
import { forwardedHeaders, forwardResponse, incomingFields } from "../../worker/intermediary";
import { requestTarget } from "../../worker/request-url";
import { ADMIN_AUTH, booleanSpec, call, uniqueKey } from "./helpers";

const deep = (n: number) => "[".repeat(n) + "]".repeat(n);

describe("hostile input", () => {
  it("refuses an unknown boolean value for dryRun or prune, and applies nothing", async () => {
    const key = uniqueKey("dry");
    for (const query of ["dryRun=yes", "dryRun=TRUE", "prune=1&dryRun=maybe", "prune=on"]) {
      const r = await call("POST", `/admin/manifest?${query}`, { body: { flags: [booleanSpec(key)] } });
      expect(r.status).toBe(400);
      expect(r.json.issues[0].path).toMatch(/^(dryRun|prune)$/);
    }
    expect((await call("GET", `/admin/flags/${key}`)).status).toBe(404);
    expect((await call("POST", "/admin/manifest?dryRun=true", { body: { flags: [booleanSpec(key)] } })).json.dryRun).toBe(true);
  });

  it("answers 400 to JSON nested deeper than 64 levels, on OFREP and admin routes", async () => {
    const bulk = await call("POST", "/ofrep/v1/evaluate/flags", { raw: `{"context":{"targetingKey":"u","a":${deep(20_000)}}}`, type: "application/json", headers: {} });
    expect(bulk.status).toBe(400);
    expect(bulk.json.errorCode).toBe("PARSE_ERROR");
    const key = uniqueKey("deep");
    let variant = "true";
    for (let i = 0; i < 3000; i++) variant = `{"a":${variant}}`;
    const put = await call("PUT", `/admin/flags/${key}`, { raw: `{"type":"object","variants":{"baseline":{},"candidate":${variant}},"rollout":{"stages":[{"weight":100}]}}`, type: "application/json" });
    expect(put.status).toBe(400);
    expect(put.json.error).toBe("too_deep");
    expect((await call("GET", `/admin/flags/${key}`)).status).toBe(404);
  });

  it("refuses invalid UTF-8, duplicate JSON keys, unknown YAML tags and __proto__ keys in a spec", async () => {
    const key = uniqueKey("odd");
    const spec = JSON.stringify(booleanSpec(key));
    const bytes = new Uint8Array([...new TextEncoder().encode(spec.slice(0, -1)), ...new TextEncoder().encode(',"description":"'), 0xe0, 0xa4, ...new TextEncoder().encode('"}')]);
    const badUtf8 = await SELF.fetch(`https://rampart.test/admin/flags/${key}`, { method: "PUT", headers: { ...ADMIN_AUTH, "content-type": "application/json" }, body: bytes });
    expect(badUtf8.status).toBe(400);
    expect((await badUtf8.json<{ error: string }>()).error).toBe("invalid_encoding");
    const dup = await call("PUT", `/admin/flags/${key}`, { raw: spec.replace('"type":"boolean"', '"type":"boolean","type":"string"'), type: "application/json" });
    expect(dup.json).toMatchObject({ error: "duplicate_key" });
    const tagged = await call("PUT", `/admin/flags/${key}`, { raw: `type: boolean\ndescription: !!js/function "function () {}"\nvariants: { baseline: false, candidate: true }\nrollout: { stages: [{ weight: 100 }] }\n`, type: "application/yaml" });
    expect(tagged.status).toBe(400);
    expect(tagged.json.error).toBe("invalid_yaml");
    const proto = await call("PUT", `/admin/flags/${key}`, { raw: `{"type":"object","variants":{"baseline":{},"candidate":{"__proto__":{"x":1}}},"rollout":{"stages":[{"weight":100}]}}`, type: "application/json" });
    expect(proto.json).toMatchObject({ error: "forbidden_key" });
    expect((await call("GET", `/admin/flags/${key}`)).status).toBe(404);
  });

  it("says where a body could not be read: byte offset, line and column, for UTF-8, JSON and YAML alike", async () => {
    const key = uniqueKey("where");
    const put = (raw: string | Uint8Array, type: string) => SELF.fetch(`https://rampart.test/admin/flags/${key}`, { method: "PUT", headers: { ...ADMIN_AUTH, "content-type": type }, body: raw }).then(async (r) => ({ status: r.status, json: await r.json<Record<string, unknown>>() }));
    // Invalid UTF-8 on line 3 after a two-byte character: the offset counts bytes, the column characters.
    const head = new TextEncoder().encode('{\n"key": "x",\n"description": "é');
    const bad = await put(new Uint8Array([...head, 0xe0, 0xa4, 0x22, 0x7d]), "application/json");
    expect(bad).toMatchObject({ status: 400, json: { error: "invalid_encoding", offset: head.length, line: 3, column: 18 } });
    expect(bad.json["message"]).toContain("line 3, column 18");
    // JSON: a syntax error, a duplicate key, nesting too deep.
    expect(await put('{\n  "type": "boolean",\n  "variants": }', "application/json")).toMatchObject({ status: 400, json: { error: "invalid_json", line: 3, column: 15, offset: 37 } });
    expect(await put('{"type": "boolean",\n "type": "string"}', "application/json")).toMatchObject({ json: { error: "duplicate_key", line: 2, column: 2 } });
    expect(await put(`{"type":"object","variants":{"baseline":${deep(70)}}}`, "application/json")).toMatchObject({ json: { error: "too_deep", line: 1, column: 41 + 62 } });
    // YAML: a duplicate key, an unknown tag, nesting too deep, a forbidden key.
    expect(await put("type: boolean\nvariants: { baseline: false, candidate: true }\ntype: string\n", "application/yaml")).toMatchObject({ json: { error: "invalid_yaml", line: 3, column: 1 } });
    expect(await put('type: boolean\ndescription: !!js/function "f"\n', "application/yaml")).toMatchObject({ json: { error: "invalid_yaml", line: 2, column: 14 } });
    const nested = Array.from({ length: 70 }, (_, i) => `${"  ".repeat(i)}a:`).join("\n") + " 1\n";
    expect(await put(`type: object\nvariants:\n  baseline:\n${nested.replace(/^/gm, "    ")}`, "application/yaml")).toMatchObject({ json: { error: "too_deep", line: 3 + 63 } });
    expect(await put("type: object\nvariants:\n  baseline:\n    __proto__: 1\n", "application/yaml")).toMatchObject({ json: { error: "forbidden_key", line: 4, column: 5 } });
    expect((await call("GET", `/admin/flags/${key}`)).status).toBe(404);
  });

  it("shape checks: depth, duplicate keys at any level, escapes in keys", () => {
    expect(jsonShapeProblem(deep(64))).toBeNull();
    expect(jsonShapeProblem(deep(65))).toMatchObject({ kind: "too_deep", depth: 65 });
    expect(jsonShapeProblem('{"a":{"b":1,"c":2},"d":[{"b":1},{"b":2}]}')).toBeNull();
    expect(jsonShapeProblem('{"a":{"b":1,"b":2}}')).toEqual({ kind: "duplicate_key", key: "b", at: 12 });
    expect(jsonShapeProblem('{"a":1,"\\u0061":2}')).toMatchObject({ kind: "duplicate_key", key: "a" });
    expect(jsonShapeProblem('{"s":"{[\\"x\\""}')).toBeNull();
    // Many keys in one object (past the list, into a set), a duplicate among them, and a forbidden key spelled with an escape.
    const wide = Array.from({ length: 40 }, (_, i) => `"k${i}":${i}`);
    expect(jsonShapeProblem(`{${wide.join(",")}}`)).toBeNull();
    expect(jsonShapeProblem(`{${wide.join(",")},"k3":0}`)).toMatchObject({ kind: "duplicate_key", key: "k3" });
    expect(jsonShapeProblem('{"a":1,"\\u005f_proto__":{}}', { forbiddenKeys: ["__proto__"] })).toMatchObject({ kind: "forbidden_key", key: "__proto__" });
    expect(jsonShapeProblem('{"context":{"targetingKey":"u","targetingKey":"v"}}')).toMatchObject({ kind: "duplicate_key", key: "targetingKey" });
  });

  it("splits a request URL as the URL parser would, without one (IPv6, ports, no path, a query without a path)", () => {
    for (const href of ["https://example.com/a/b?x=1&y=%20", "http://127.0.0.1:8787/routed/item", "http://[::1]:8080/p?q", "http://[::1]/", "https://example.com", "https://example.com?only=query", "http://h:1/?"]) {
      const url = new URL(href);
      expect(requestTarget(url.href), href).toEqual({ proto: url.protocol.slice(0, -1), host: url.host, hostname: url.hostname, pathname: url.pathname, search: url.search === "" && url.href.endsWith("?") ? "?" : url.search });
    }
  });

  it("reads a request's fields in one pass: forwardable ones without hop-by-hop, upgrade-handshake or client-claimed forwarding fields", () => {
    const request = new Request("https://edge.example/routed", {
      headers: { connection: "x-secret", "x-secret": "1", te: "trailers", upgrade: "websocket", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13", host: "spoof", "x-forwarded-for": "6.6.6.6", forwarded: "for=6.6.6.6", "x-rampart-id": "u-1", accept: "application/json", via: "1.1 cdn" },
    });
    const incoming = incomingFields(request);
    expect(incoming.get("x-rampart-id")).toBe("u-1");
    const sent = forwardedHeaders(request, incoming, requestTarget(request.url));
    expect([...sent.keys()].filter((name) => !name.startsWith("x-forwarded") && name !== "forwarded" && name !== "via").sort()).toEqual(["accept", "x-rampart-id"]);
    expect(sent.get("x-forwarded-for")).toBeNull(); // no cf-connecting-ip here: nothing the client claimed
    expect(sent.get("forwarded")).toBe("for=unknown;host=edge.example;proto=https");
    expect(sent.get("via")).toBe("1.1 cdn, 1.1 rampart");
  });

  it("drops hop-by-hop fields, including those the Connection field names", () => {
    const origin = new Response(null, { headers: { connection: "close, X-Secret", "x-secret": "1", "keep-alive": "5", te: "trailers", "proxy-authorization": "x", "x-kept": "yes", via: "1.1 origin-lb" } });
    const answer = forwardResponse(origin, origin.body);
    const h = answer.headers;
    expect([...h.keys()].sort()).toEqual(["via", "x-kept"]);
    expect(h.get("via")).toBe("1.1 origin-lb, 1.1 rampart");
    // Without a Connection field only the standard hop-by-hop fields go; Set-Cookie fields stay apart.
    const plain = new Headers([["keep-alive", "5"], ["set-cookie", "a=1"], ["set-cookie", "b=2"], ["x-kept", "yes"]]);
    const answer2 = forwardResponse(new Response("body", { status: 418, statusText: "Short", headers: plain }), null);
    expect([answer2.status, answer2.statusText]).toEqual([418, "Short"]);
    const kept = answer2.headers;
    expect(kept.getSetCookie()).toEqual(["a=1", "b=2"]);
    expect(kept.has("keep-alive")).toBe(false);
    // Connection listing only standard hop-by-hop names (the usual keep-alive): those go, nothing else does.
    const usual = forwardResponse(new Response(null, { headers: { connection: "Keep-Alive", "keep-alive": "timeout=5", "x-kept": "yes", te: "trailers" } }), null);
    expect([...usual.headers.keys()].sort()).toEqual(["via", "x-kept"]);
  });
});
