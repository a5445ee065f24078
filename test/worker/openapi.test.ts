import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../../worker/app";

function refs(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => refs(v, out));
  else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if (k === "$ref" && typeof v === "string") out.push(v);
      else refs(v, out);
    }
  }
  return out;
}

describe("GET /openapi.json", () => {
  it("describes every route, with request schemas generated from the validating zod schemas, and no dangling refs", async () => {
    const res = await SELF.fetch("https://rampart.test/openapi.json");
    expect(res.status).toBe(200);
    const doc = await res.json<{ openapi: string; paths: Record<string, unknown>; components: { schemas: Record<string, Record<string, any>> } }>();
    expect(doc.openapi).toBe("3.1.0");
    for (const path of ["/ofrep/v1/evaluate/flags/{key}", "/ofrep/v1/evaluate/flags", "/v1/events", "/admin/flags/{key}", "/admin/flags/{key}/actions", "/admin/manifest", "/admin/flags/{key}/report", "/admin/flags/{key}/decisions/{id}/replay"]) {
      expect(doc.paths).toHaveProperty([path]);
    }
    const spec = doc.components.schemas["FlagSpec"]!;
    expect(spec["additionalProperties"]).toBe(false);
    expect(spec["required"]).toEqual(expect.arrayContaining(["key", "type", "variants"]));
    expect(spec["properties"].kind.enum).toEqual(["rollout", "kill_switch", "guard", "targeting"]);
    expect(spec["properties"].variants.propertyNames.pattern).toBe("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");
    expect(doc.components.schemas["ActionRequest"]!["properties"].action.enum).toContain("rollback");
    const dangling = refs(doc).filter((r) => !(r.replace("#/components/schemas/", "") in doc.components.schemas));
    expect(dangling).toEqual([]);
  });

  it("documents every route the app serves, each operation with an id, its security and a typed answer", async () => {
    const doc = await (await SELF.fetch("https://rampart.test/openapi.json")).json<{ paths: Record<string, Record<string, any>> }>();
    // Every method + path Hono routes (middleware, CORS preflights and the intermediary's catch-all aside).
    const served = createApp().routes
      .filter((r) => r.method !== "ALL" && r.method !== "OPTIONS" && r.path !== "/*")
      .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, "{$1}")}`);
    const documented = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).filter((k) => k !== "parameters").map((method) => `${method} ${path}`));
    expect(served).toContain("get /admin/flags/{key}/series");
    expect(served.filter((r) => !documented.includes(r))).toEqual([]);
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        if (method === "parameters") continue;
        expect(operation.operationId, `${method} ${path}`).toMatch(/^[a-zA-Z]+$/);
        ids.add(operation.operationId);
        expect(Array.isArray(operation.security), `${method} ${path} states its security`).toBe(true);
        const success = Object.entries(operation.responses as Record<string, any>).find(([code]) => code.startsWith("2"));
        // A method the route answers only to refuse (MCP's GET and DELETE: 405) says so, and has no success to type.
        if (operation["x-not-offered"] === true) expect(success, `${method} ${path} is not offered`).toBeUndefined();
        else expect(success?.[1].content, `${method} ${path} types its answer`).toBeDefined();
        if (path.startsWith("/admin")) expect(operation.responses).toHaveProperty(["401"]);
      }
    }
    expect(ids.size).toBe(documented.length);
  });
});

describe("GET /dashboard", () => {
  it("serves a page that holds no data and reads the admin API with the operator's token", async () => {
    const res = await SELF.fetch("https://rampart.test/dashboard");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(res.headers.get("cache-control")).toBe("no-store");
    // It cannot be framed by another site (clickjacking) or sniffed into another type.
    expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    // No inline script or style: everything comes from the Worker's own versioned files.
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(res.headers.get("content-security-policy")).not.toContain("unsafe-inline");
    const html = await res.text();
    expect(html).toContain("Rampart</a> — rollouts");
    expect(html).not.toContain("test-admin-token");
    expect(html).not.toMatch(/<script>|<style>| style=/);
    const assets = [...html.matchAll(/(?:src|href)="(\/dashboard\/assets\/[^"]+)"/g)].map((m) => m[1] ?? "");
    expect(assets).toHaveLength(4);
    for (const path of assets) {
      const asset = await SELF.fetch(`https://rampart.test${path}`);
      expect(asset.status, path).toBe(200);
      expect(asset.headers.get("cache-control")).toContain("immutable");
      expect(asset.headers.get("content-type")).toMatch(path.endsWith(".js") ? /^text\/javascript/ : /^text\/css/);
      const body = await asset.text();
      if (path.includes("dashboard-") && path.endsWith(".js")) {
        // The token travels as a bearer header, never in a URL; spec text is put in the page as text only.
        expect(body).toContain("authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)");
        expect(body).not.toContain("innerHTML");
      }
      if (path.includes("uplot-") && path.endsWith(".js")) expect(body).toContain("uPlot");
    }
    expect((await SELF.fetch("https://rampart.test/dashboard/assets/nope.js")).status).toBe(404);
  });

  it("sends a browser at the base URL to the dashboard", async () => {
    const res = await SELF.fetch("https://rampart.test/", { redirect: "manual" });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/dashboard");
  });
});
