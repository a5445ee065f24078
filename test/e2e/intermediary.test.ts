/**
 * The proxy as an HTTP intermediary (RFC 9110 §7.6, RFC 9111), each case the
 * request from the security review: credentials never reach a shadow,
 * one user's cached answer never reaches another, hop-by-hop fields stop at
 * Rampart, the client cannot forge its forwarding chain, a hanging shadow
 * counts against the candidate, and a malformed sticky cookie is a new
 * visitor rather than a 500.
 */
import { createServer, request, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { candidateMetricWhen, startLocalWorker, type LocalWorker } from "../../scripts/lib/local-worker";

type Handler = (path: string, headers: IncomingHttpHeaders, res: ServerResponse) => void;

/** An origin that records what it received (plain requests and upgrade handshakes alike) and answers with `handler`. */
function origin(handler: Handler) {
  const seen: { path: string; headers: IncomingHttpHeaders; upgrade: boolean }[] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ path: req.url ?? "", headers: req.headers, upgrade: false });
    handler(req.url ?? "", req.headers, res);
  });
  // Node hands a request carrying Upgrade to this event, not to the request handler: record it, and refuse it.
  server.on("upgrade", (req, socket: Duplex) => {
    seen.push({ path: req.url ?? "", headers: req.headers, upgrade: true });
    socket.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  });
  return {
    seen,
    server,
    async listen() {
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
  };
}

const echoUser: Handler = (path, headers, res) => {
  const user = String(headers.authorization ?? "anonymous");
  if (path.startsWith("/private/")) res.writeHead(200, { "content-type": "application/json", "cache-control": "private, max-age=60" });
  else if (path.startsWith("/cookie/")) res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=60", "set-cookie": `session=${user}` });
  else if (path.startsWith("/big/")) {
    // 5 MiB in 64 KiB chunks: past the 1 MiB comparison cap.
    res.writeHead(200, { "content-type": "application/octet-stream" });
    const chunk = Buffer.alloc(65_536, 7);
    for (let i = 0; i < 80; i++) res.write(chunk);
    res.end();
    return;
  } else if (path.startsWith("/hop/")) res.writeHead(200, { "content-type": "application/json", connection: "x-internal-token", "x-internal-token": "secret", "keep-alive": "timeout=5" });
  else res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=60", vary: "Authorization, Cookie" });
  res.end(JSON.stringify({ user, path }));
};

let worker: LocalWorker;
const primary = origin(echoUser);
const shadow = origin(echoUser);
/** A shadow origin that never answers. */
const hanging = origin(() => undefined);
let urls: { primary: string; shadow: string; hanging: string };

/** A GET with exactly these headers (fetch refuses hop-by-hop fields such as Connection and Upgrade). */
function rawGet(path: string, headers: Record<string, string>): Promise<{ status: number; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = request(`${worker.baseUrl}${path}`, { method: "GET", headers }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function until(done: () => Promise<boolean>) {
  const deadline = Date.now() + 10_000;
  while (!(await done()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

async function routed(key: string, prefix: string, routeExtra: Record<string, unknown> = {}, stages: unknown[] = [{ weight: 100 }]) {
  const spec = { key, type: "string", variants: { baseline: "v1", candidate: "v2" }, rollout: { stages }, route: { pathPrefix: prefix, origins: { baseline: urls.primary, candidate: urls.primary }, ...routeExtra } };
  expect((await worker.admin("PUT", `/admin/flags/${key}`, spec)).status).toBe(201);
  await until(async () => (await fetch(`${worker.baseUrl}${prefix}probe`)).status === 200);
}

beforeAll(async () => {
  urls = { primary: await primary.listen(), shadow: await shadow.listen(), hanging: await hanging.listen() };
  worker = await startLocalWorker({ FLUSH_MS: "200" });
});
afterAll(async () => {
  await worker?.dispose();
  for (const o of [primary, shadow, hanging]) {
    o.server.closeAllConnections();
    o.server.close();
  }
});

describe("the proxy as an HTTP intermediary", () => {
  it("never serves one user's cached answer to another (Authorization, Vary, private, Set-Cookie)", async () => {
    await routed("cache-per-user", "/cache/");
    const as = (user: string, path: string) => fetch(`${worker.baseUrl}${path}`, { headers: { authorization: `Bearer ${user}` } });
    for (const path of ["/cache/vary", "/cache/private/x", "/cache/cookie/x"]) {
      const alice = await as("alice", path);
      expect(((await alice.json()) as { user: string }).user).toBe("Bearer alice");
      for (const user of ["bob", "carol"]) {
        const r = await as(user, path);
        expect(r.headers.get("x-rampart-cache")).toBeNull();
        expect(((await r.json()) as { user: string }).user).toBe(`Bearer ${user}`);
      }
    }
    // Without credentials, a private or cookie-setting answer is still never stored.
    for (const path of ["/cache/private/y", "/cache/cookie/y"]) {
      await fetch(`${worker.baseUrl}${path}`);
      expect((await fetch(`${worker.baseUrl}${path}`)).headers.get("x-rampart-cache")).toBeNull();
    }
  });

  it("drops hop-by-hop fields both ways and sets the forwarding fields itself", async () => {
    await routed("hops", "/hop/");
    const r = await rawGet("/hop/x", { "proxy-authorization": "Basic cHJveHk6cHc=", "proxy-connection": "keep-alive", "x-forwarded-for": "6.6.6.6", forwarded: "for=6.6.6.6" });
    expect(r.status).toBe(200);
    expect(r.headers["x-internal-token"]).toBeUndefined();
    expect(String(r.headers["via"])).toContain("1.1 rampart");
    const got = primary.seen.filter((s) => s.path === "/hop/x").at(-1)?.headers ?? {};
    expect(got["proxy-connection"]).toBeUndefined();
    expect(got["proxy-authorization"]).toBeUndefined();
    expect(got["x-forwarded-for"]).not.toBe("6.6.6.6");
    expect(String(got["forwarded"])).not.toContain("6.6.6.6");
    expect(String(got["via"])).toContain("1.1 rampart");
  });

  it("does not open a WebSocket or any upgrade to the origin: Upgrade and its handshake fields are not passed on", async () => {
    await routed("upgrade", "/ws/");
    const handshake = { "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13", "sec-websocket-protocol": "chat" };
    for (const [path, headers] of [
      ["/ws/socket", { upgrade: "websocket", connection: "Upgrade", ...handshake }],
      ["/ws/no-connection", { upgrade: "websocket", ...handshake }],
      ["/ws/h2c", { upgrade: "h2c", connection: "Upgrade, HTTP2-Settings", "http2-settings": "AAMAAABkAAQAAP__" }],
    ] as const) {
      const r = await rawGet(path, headers);
      expect(r.status).toBe(200);
      const received = primary.seen.filter((s) => s.path === path);
      // Exactly one plain request reached the origin, with nothing of a handshake in it.
      expect(received.map((s) => s.upgrade)).toEqual([false]);
      const got = received[0]?.headers ?? {};
      for (const name of ["upgrade", "connection", "sec-websocket-key", "sec-websocket-version", "sec-websocket-protocol", "http2-settings"]) expect(got[name], name).toBeUndefined();
    }
  });

  it("cannot withhold what a client's Connection field lists: the runtime consumes that field before the Worker (docs/design.md)", async () => {
    await routed("connection-listed", "/listed/");
    // Evidence for docs/design.md, "Hop-by-hop fields": with or without Upgrade, the names a client lists in
    // Connection never reach the Worker (it sees no Connection, or one rewritten to "Upgrade"), so x-secret-hop
    // reaches the origin as an end-to-end field. This fails, on purpose, once the runtime passes the client's
    // Connection on — Rampart then withholds the listed names (worker/intermediary.ts) and the section must change.
    for (const [path, headers] of [
      ["/listed/plain", { connection: "x-secret-hop", "x-secret-hop": "1" }],
      ["/listed/upgrade", { connection: "Upgrade, x-secret-hop", upgrade: "websocket", "x-secret-hop": "1" }],
    ] as const) {
      await rawGet(path, headers);
      const got = primary.seen.filter((s) => s.path === path).at(-1)?.headers ?? {};
      expect(got["connection"]).toBeUndefined();
      expect(got["x-secret-hop"], path).toBe("1");
    }
  });

  it("sends no credentials to a shadow origin unless the route asks for it", async () => {
    await routed("shadow-creds", "/shadow-creds/", { origins: { baseline: urls.primary, candidate: urls.shadow }, shadow: {} }, [{ weight: 0, shadow: true }, { weight: 100 }]);
    await fetch(`${worker.baseUrl}/shadow-creds/me`, { headers: { authorization: "Bearer alice", cookie: "session=alice" } });
    await until(async () => shadow.seen.some((s) => s.path === "/shadow-creds/me"));
    const got = shadow.seen.find((s) => s.path === "/shadow-creds/me")?.headers ?? {};
    expect(got.authorization).toBeUndefined();
    expect(got.cookie).toBeUndefined();
  });

  it("counts a shadow that never answers as a disagreement and an error of the candidate, after its timeout", async () => {
    await routed("shadow-hangs", "/shadow-hangs/", { origins: { baseline: urls.primary, candidate: urls.hanging }, shadow: { timeout: "1s" } }, [{ weight: 0, shadow: true }, { weight: 100 }]);
    for (let i = 0; i < 3; i++) expect((await fetch(`${worker.baseUrl}/shadow-hangs/${i}`)).status).toBe(200);
    const agreement = await candidateMetricWhen(worker, "shadow-hangs", "shadow_agreement", (m) => (m?.samples ?? 0) >= 3);
    expect(agreement?.value).toBe(0);
    expect(agreement?.samples).toBeGreaterThanOrEqual(3);
  });

  it("streams a body past the comparison cap to the user whole, and leaves that pair uncompared", async () => {
    await routed("shadow-big", "/big/", { origins: { baseline: urls.primary, candidate: urls.shadow }, shadow: {} }, [{ weight: 0, shadow: true }, { weight: 100 }]);
    const r = await fetch(`${worker.baseUrl}/big/file`);
    expect(r.status).toBe(200);
    expect((await r.arrayBuffer()).byteLength).toBe(80 * 65_536);
    await until(async () => shadow.seen.some((s) => s.path === "/big/file"));
    await new Promise((resolve) => setTimeout(resolve, 500));
    // The 5 MiB pairs (the probe's included) were not compared.
    const agreement = await candidateMetricWhen(worker, "shadow-big", "shadow_agreement", () => true);
    expect(agreement?.samples ?? 0).toBe(0);
  });

  it("treats a malformed sticky cookie as none: a new id, not a 500", async () => {
    await routed("bad-cookie", "/bad-cookie/");
    const r = await fetch(`${worker.baseUrl}/bad-cookie/x`, { headers: { cookie: "rampart_id=%E0%A4%A" } });
    expect(r.status).toBe(200);
    expect(r.headers.get("set-cookie")).toMatch(/^rampart_id=/);
  });
});
