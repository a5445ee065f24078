import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { candidateMetricWhen, E2E_PROPAGATION_MS, startLocalWorker, type LocalWorker } from "../../scripts/lib/local-worker";

/** A tiny origin: answers with its name and counts hits per path. */
function origin(name: string, options: { cacheSeconds?: number; body?: (path: string) => string } = {}) {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (options.cacheSeconds) headers["cache-control"] = `public, max-age=${options.cacheSeconds}`;
    res.writeHead(200, headers);
    res.end(options.body ? options.body(req.url ?? "") : JSON.stringify({ served: name, path: req.url }));
  });
  return {
    hits,
    server,
    async listen() {
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
  };
}

let worker: LocalWorker;
const baseline = origin("baseline", { cacheSeconds: 60 });
const candidate = origin("candidate", { cacheSeconds: 60 });
const agreeing = origin("agreeing", { body: (path) => JSON.stringify({ served: "baseline", path }) });
let urls: { baseline: string; candidate: string; agreeing: string };

const route = (key: string, extra: Record<string, unknown> = {}) => ({
  key,
  type: "string",
  variants: { baseline: "v1", candidate: "v2" },
  pins: { candidate: { MODEL_VER: "m2" } },
  ...extra,
});

async function get(path: string, cookie?: string) {
  const r = await fetch(`${worker.baseUrl}${path}`, { headers: cookie ? { cookie } : {}, redirect: "manual" });
  return { status: r.status, headers: r.headers, json: (await r.json()) as Record<string, unknown> };
}

async function until(done: () => Promise<boolean>) {
  const deadline = Date.now() + 10_000;
  while (!(await done()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

beforeAll(async () => {
  urls = { baseline: await baseline.listen(), candidate: await candidate.listen(), agreeing: await agreeing.listen() };
  worker = await startLocalWorker({ FLUSH_MS: "200" });
});
afterAll(async () => {
  await worker?.dispose();
  for (const o of [baseline, candidate, agreeing]) o.server.close();
});

describe("edge routing", () => {
  it("proxies to the assigned arm's origin, sticky by cookie, with variant, generation and pin headers", async () => {
    const spec = route("routed", { rollout: { stages: [{ weight: 50 }, { weight: 100 }] }, route: { pathPrefix: "/api/", origins: { baseline: urls.baseline, candidate: urls.candidate } } });
    expect((await worker.admin("PUT", "/admin/flags/routed", spec)).status).toBe(201);
    await until(async () => (await fetch(`${worker.baseUrl}/api/probe`)).status === 200);

    const first = await get("/api/items?q=1");
    expect(first.status).toBe(200);
    const setCookie = first.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(/^rampart_id=[^;]+; Path=\/; Max-Age=31536000; SameSite=Lax; HttpOnly/);
    const variant = first.headers.get("x-rampart-variant");
    expect(first.json).toEqual({ served: variant, path: "/api/items?q=1" });
    expect(first.headers.get("x-rampart-generation")).toBe("1");
    if (variant === "candidate") expect(first.headers.get("x-rampart-pin-model-ver")).toBe("m2");

    const cookie = setCookie.split(";")[0] ?? "";
    for (let i = 0; i < 5; i++) {
      const again = await get(`/api/items?q=${i + 2}`, cookie);
      expect(again.headers.get("x-rampart-variant")).toBe(variant);
      expect(again.headers.get("set-cookie")).toBeNull();
    }
    const seen = new Set<string | null>();
    for (let i = 0; i < 30; i++) seen.add((await get(`/api/spread-${i}`)).headers.get("x-rampart-variant"));
    expect(seen).toEqual(new Set(["baseline", "candidate"]));
  });

  it("caches per variant and generation, so a new candidate never gets the old one's answers", async () => {
    const spec = route("cached", { rollout: { stages: [{ weight: 100 }] }, route: { pathPrefix: "/cached/", origins: { baseline: urls.baseline, candidate: urls.candidate } } });
    await worker.admin("PUT", "/admin/flags/cached", spec);
    await until(async () => (await fetch(`${worker.baseUrl}/cached/probe`)).status === 200);
    const a = await get("/cached/page");
    const b = await get("/cached/page");
    expect(b.headers.get("x-rampart-cache")).toBe("hit");
    expect(candidate.hits.filter((h) => h === "GET /cached/page")).toHaveLength(1);
    expect(a.json).toEqual(b.json);

    // A new candidate (new value) is a new generation: the cached answer is not reused.
    await worker.admin("PUT", "/admin/flags/cached", { ...spec, variants: { baseline: "v1", candidate: "v3" } });
    await until(async () => (await get("/cached/probe-2")).headers.get("x-rampart-generation") === "2");
    const c = await get("/cached/page");
    expect(c.headers.get("x-rampart-cache")).toBeNull();
    expect(candidate.hits.filter((h) => h === "GET /cached/page")).toHaveLength(2);
  });

  it("in the shadow stage serves the baseline, mirrors GETs to the candidate, and counts agreement", async () => {
    const spec = route("shadowed", {
      rollout: { stages: [{ weight: 0, shadow: true }, { weight: 100 }] },
      route: { pathPrefix: "/shadow/", origins: { baseline: urls.baseline, candidate: urls.agreeing }, shadow: {} },
    });
    await worker.admin("PUT", "/admin/flags/shadowed", spec);
    await until(async () => (await fetch(`${worker.baseUrl}/shadow/probe`)).status === 200);
    for (let i = 0; i < 10; i++) {
      const r = await get(`/shadow/q-${i}`);
      expect(r.headers.get("x-rampart-variant")).toBe("baseline");
      expect(r.json["served"]).toBe("baseline");
    }
    const post = await fetch(`${worker.baseUrl}/shadow/write`, { method: "POST", body: "{}" });
    expect(post.status).toBe(200);
    await until(async () => agreeing.hits.filter((h) => h.startsWith("GET /shadow/q-")).length >= 10);
    expect(agreeing.hits.some((h) => h.startsWith("POST"))).toBe(false); // side effects never run twice
    const agreement = await candidateMetricWhen(worker, "shadowed", "shadow_agreement", (m) => (m?.samples ?? 0) >= 10);
    expect(agreement?.samples).toBeGreaterThanOrEqual(10);
    expect(agreement?.value).toBe(1);
  });

  it("keeps serving when the shadow origin is down, and serves the baseline once killed", async () => {
    const spec = route("fragile", {
      rollout: { stages: [{ weight: 0, shadow: true }, { weight: 100 }] },
      route: { pathPrefix: "/fragile/", origins: { baseline: urls.baseline, candidate: "http://127.0.0.1:9" }, shadow: {} },
    });
    await worker.admin("PUT", "/admin/flags/fragile", spec);
    await until(async () => (await fetch(`${worker.baseUrl}/fragile/probe`)).status === 200);
    for (let i = 0; i < 5; i++) expect((await get(`/fragile/${i}`)).json["served"]).toBe("baseline");

    await worker.admin("PUT", "/admin/flags/routed-kill", route("routed-kill", { rollout: { stages: [{ weight: 100 }] }, route: { pathPrefix: "/kill/", origins: { baseline: urls.baseline, candidate: urls.candidate } } }));
    await until(async () => (await get("/kill/probe")).headers.get("x-rampart-variant") === "candidate");
    await worker.admin("POST", "/admin/flags/routed-kill/actions", { action: "kill" });
    await new Promise((r) => setTimeout(r, E2E_PROPAGATION_MS + 200));
    for (let i = 0; i < 5; i++) expect((await get(`/kill/after-${i}`)).headers.get("x-rampart-variant")).toBe("baseline");
  });

  it("answers 502 when the assigned origin is down, and counts it as that arm's error", async () => {
    const spec = route("down", { rollout: { stages: [{ weight: 100 }] }, route: { pathPrefix: "/down/", origins: { baseline: urls.baseline, candidate: "http://127.0.0.1:9" } } });
    await worker.admin("PUT", "/admin/flags/down", spec);
    await until(async () => (await fetch(`${worker.baseUrl}/down/probe`)).status !== 404);
    const r = await get("/down/x");
    expect(r.status).toBe(502);
    expect(r.json).toMatchObject({ error: "bad_gateway", message: "the candidate origin did not answer" });
    const errors = await candidateMetricWhen(worker, "down", "error_rate", (m) => (m?.value ?? 0) > 0);
    expect(errors?.value).toBe(1);
  });

  it("answers 404 for a path no route claims", async () => {
    const r = await get("/nothing/here");
    expect(r.status).toBe(404);
    expect(r.json["error"]).toBe("not_found");
  });
});
