/**
 * Team access against the worker on workerd: a JWKS server on 127.0.0.1
 * serving keys made here (RS256 and ES256, rotated by `kid`), Cloudflare
 * Access tokens in `Cf-Access-Jwt-Assertion` and OIDC tokens as bearer.
 * Grants give roles; every route needs one permission; hostile tokens and
 * headers are refused with what was wrong, and change nothing.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_PROPAGATION_MS, startLocalWorker, type LocalWorker } from "../../scripts/lib/local-worker";

const TEAM = "rampart-test.cloudflareaccess.com";
const AUD = "rampart-app-aud";
const OIDC_ISSUER = "https://idp.example.test";
let worker: LocalWorker;
let jwks: Server;
let keys: JWK[] = [];
let jwksAnswers: "keys" | "garbage" = "keys";
let rsa: { privateKey: CryptoKey; publicKey: CryptoKey };
let ec: { privateKey: CryptoKey; publicKey: CryptoKey };
let stranger: { privateKey: CryptoKey; publicKey: CryptoKey };

beforeAll(async () => {
  [rsa, ec, stranger] = await Promise.all([generateKeyPair("RS256"), generateKeyPair("ES256"), generateKeyPair("RS256")]);
  keys = [{ ...(await exportJWK(rsa.publicKey)), kid: "rsa-1", alg: "RS256", use: "sig" }, { ...(await exportJWK(ec.publicKey)), kid: "ec-1", alg: "ES256", use: "sig" }];
  jwks = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(jwksAnswers === "keys" ? JSON.stringify({ keys }) : "<html>not keys</html>");
  });
  await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/certs`;
  worker = await startLocalWorker({ ACCESS_TEAM_DOMAIN: TEAM, ACCESS_AUD: AUD, ACCESS_JWKS_URL: url, OIDC_ISSUER, OIDC_AUDIENCE: "rampart-cli", OIDC_JWKS_URL: url });
  const put = await worker.admin("PUT", "/admin/flags/search-ranker", { key: "search-ranker", type: "string", variants: { baseline: "v1", candidate: "v2" }, rollout: { stages: [{ weight: 10 }, { weight: 100 }] } });
  expect(put.status).toBe(201);
  expect((await worker.admin("PUT", "/admin/flags/feed-ranker", { key: "feed-ranker", type: "string", variants: { baseline: "v1", candidate: "v2" }, rollout: { stages: [{ weight: 10 }, { weight: 100 }] } })).status).toBe(201);
  await new Promise((r) => setTimeout(r, E2E_PROPAGATION_MS + 100));
}, 120_000);

afterAll(async () => {
  jwks?.close();
  await worker?.dispose();
});

interface Claims { email?: string; sub?: string; groups?: string[]; aud?: string; iss?: string; exp?: number; nbf?: number }
async function sign(claims: Claims, key: CryptoKey = rsa.privateKey, kid = "rsa-1", alg = "RS256"): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const { aud = AUD, iss = `https://${TEAM}`, exp = now + 300, nbf, ...rest } = claims;
  const jwt = new SignJWT(rest).setProtectedHeader({ alg, kid }).setIssuedAt(now - 5).setAudience(aud).setIssuer(iss).setExpirationTime(exp);
  if (nbf !== undefined) jwt.setNotBefore(nbf);
  if (rest.sub) jwt.setSubject(rest.sub);
  return jwt.sign(key);
}

async function as(headers: Record<string, string>, method: string, path: string, body?: unknown) {
  const r = await fetch(`${worker.baseUrl}${path}`, { method, headers: { "content-type": "application/json", ...headers }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await r.text();
  return { status: r.status, json: (text ? JSON.parse(text) : null) as Record<string, any> };
}
const access = async (claims: Claims) => ({ "cf-access-jwt-assertion": await sign(claims) });

describe("team access", () => {
  it("knows a person from Access, gives them what their grants allow, and names the missing permission otherwise", async () => {
    const ana = await access({ email: "ana@example.com", groups: ["release-eng"] });
    // No grant yet: a verified identity, and nothing it may do.
    const nobody = await as(ana, "GET", "/admin/flags");
    expect(nobody.status).toBe(403);
    expect(nobody.json.message).toBe('this needs the "read" permission; it was asked by ana@example.com, who has no grant');
    // Grants by the bootstrap admin, audited: a group of operators, and ana as approver on search-* only.
    expect((await worker.admin("PUT", "/admin/grants/group/release-eng", { role: "operator" })).status).toBe(201);
    expect((await worker.admin("PUT", "/admin/grants/user/ana@example.com", { role: "approver", prefixes: ["search-*"] })).status).toBe(201);
    const who = await as(ana, "GET", "/admin/whoami");
    expect(who.json).toMatchObject({ identity: { kind: "access", subject: "ana@example.com", groups: ["release-eng"] }, permissions: ["read", "act"], actor: "ana@example.com" });
    // An operator acts, audited with the verified identity (the header is only a claim).
    const paused = await as({ ...ana, "x-rampart-actor": "somebody-else" }, "POST", "/admin/flags/feed-ranker/actions", { action: "pause", reason: "checking" });
    expect(paused.status).toBe(200);
    const audit = (await (await worker.admin("GET", "/admin/audit?flag=feed-ranker&limit=1")).json()) as { entries: { actor: string }[] };
    expect(audit.entries[0]?.actor).toBe("ana@example.com (claims somebody-else)");
    // …but writes no spec, and grants nothing to herself.
    const write = await as(ana, "PUT", "/admin/flags/feed-ranker", { key: "feed-ranker", type: "string", variants: { baseline: "v1", candidate: "v3" }, rollout: { stages: [{ weight: 100 }] } });
    expect(write.status).toBe(403);
    expect(write.json.message).toMatch(/^this needs the "write" permission on flag "feed-ranker"; it was asked by ana@example.com \(operator; approver on search-\*\)$/);
    const escalate = await as(ana, "PUT", "/admin/grants/user/ana@example.com", { role: "admin" });
    expect(escalate.status).toBe(403);
    expect(escalate.json.message).toContain('this needs the "grant" permission');
    expect(((await (await worker.admin("GET", "/admin/grants")).json()) as { grants: { subject: string; role: string }[] }).grants.find((g) => g.subject === "ana@example.com")?.role).toBe("approver");
    // The prefix-limited approver role applies to search-* only.
    const approveFeed = await as(await access({ email: "ana@example.com" }), "POST", "/admin/flags/feed-ranker/approve", { generation: 1, stage: 0 });
    expect(approveFeed.status).toBe(403);
    expect(approveFeed.json.message).toContain('"approve" permission on flag "feed-ranker"');
    const approveSearch = await as(await access({ email: "ana@example.com" }), "POST", "/admin/flags/search-ranker/approve", { generation: 1, stage: 0 });
    expect(approveSearch.status).not.toBe(403);
    // Removing the grant removes the access.
    expect((await worker.admin("DELETE", "/admin/grants/group/release-eng")).status).toBe(200);
    expect((await as(await access({ email: "ana@example.com", groups: ["release-eng"] }), "POST", "/admin/flags/feed-ranker/actions", { action: "resume" })).status).toBe(403);
  });

  it("takes OIDC tokens as bearer, ES256 keys and a second kid", async () => {
    expect((await worker.admin("PUT", "/admin/grants/user/ci-bot", { role: "viewer" })).status).toBe(201);
    const token = await sign({ sub: "ci-bot", aud: "rampart-cli", iss: OIDC_ISSUER }, ec.privateKey, "ec-1", "ES256");
    const read = await as({ authorization: `Bearer ${token}` }, "GET", "/admin/flags");
    expect(read.status).toBe(200);
    expect((await as({ authorization: `Bearer ${token}` }, "GET", "/admin/whoami")).json.identity).toMatchObject({ kind: "oidc", subject: "ci-bot" });
  });

  it("refuses hostile tokens and headers with what was wrong, and changes nothing", async () => {
    expect((await worker.admin("PUT", "/admin/grants/user/mallory@example.com", { role: "admin" })).status).toBe(201);
    const now = Math.floor(Date.now() / 1000);
    const refusal = async (headers: Record<string, string>) => {
      const r = await as(headers, "POST", "/admin/flags/search-ranker/actions", { action: "kill", reason: "hostile" });
      return `${r.status} ${String(r.json.message)}`;
    };
    const header = (jwt: string) => ({ "cf-access-jwt-assertion": jwt });
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const unsigned = `${b64({ alg: "none", kid: "rsa-1" })}.${b64({ email: "mallory@example.com", aud: AUD, iss: `https://${TEAM}`, exp: now + 300 })}.`;
    expect(await refusal(header(unsigned))).toBe("401 the Cloudflare Access token was refused: its algorithm is not allowed (RS256 or ES256 only)");
    expect(await refusal(header(await sign({ email: "mallory@example.com" }, stranger.privateKey)))).toBe("401 the Cloudflare Access token was refused: its signature does not verify");
    expect(await refusal(header(await sign({ email: "mallory@example.com" }, stranger.privateKey, "unknown-kid")))).toBe("401 the Cloudflare Access token was refused: no key of the issuer matches it");
    expect(await refusal(header(await sign({ email: "mallory@example.com", exp: now - 120 })))).toBe("401 the Cloudflare Access token was refused: it has expired");
    expect(await refusal(header(await sign({ email: "mallory@example.com", nbf: now + 600 })))).toMatch(/^401 the Cloudflare Access token was refused: its "nbf" claim .*\(not yet valid\)$/);
    expect(await refusal(header(await sign({ email: "mallory@example.com", aud: "another-app" })))).toBe('401 the Cloudflare Access token was refused: its "aud" claim is not the one expected');
    expect(await refusal(header(await sign({ email: "mallory@example.com", iss: "https://evil.example" })))).toBe('401 the Cloudflare Access token was refused: its "iss" claim is not the one expected');
    expect(await refusal(header("not-a-jwt"))).toBe("401 the Cloudflare Access token was refused: it is not a well-formed JWT");
    // A header injected past Access (the identity Access would have set) is not an identity.
    expect(await refusal({ "cf-access-authenticated-user-email": "mallory@example.com" })).toBe("401 sign in through Cloudflare Access, or send Authorization: Bearer <token>");
    expect(await refusal({ authorization: "Bearer some-opaque-token" })).toBe("401 the token is not valid");
    // A JWKS that serves garbage (a fresh worker has no keys cached).
    jwksAnswers = "garbage";
    const fresh = await startLocalWorker({ ACCESS_TEAM_DOMAIN: TEAM, ACCESS_AUD: AUD, ACCESS_JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/certs` });
    try {
      const r = await fetch(`${fresh.baseUrl}/admin/flags`, { headers: { "cf-access-jwt-assertion": await sign({ email: "mallory@example.com" }) } });
      expect(r.status).toBe(401);
      expect(((await r.json()) as { message: string }).message).toBe("the Cloudflare Access token was refused: the issuer's keys could not be read");
    } finally {
      jwksAnswers = "keys";
      await fresh.dispose();
    }
    // A JWKS that cannot be reached at all (nothing listens on its port): refused, saying so.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const cut = await startLocalWorker({ ACCESS_TEAM_DOMAIN: TEAM, ACCESS_AUD: AUD, ACCESS_JWKS_URL: `http://127.0.0.1:${closedPort}/certs` });
    try {
      const r = await fetch(`${cut.baseUrl}/admin/flags/search-ranker/actions`, { method: "POST", headers: { "content-type": "application/json", "cf-access-jwt-assertion": await sign({ email: "mallory@example.com" }) }, body: JSON.stringify({ action: "kill", reason: "x" }) });
      expect(r.status).toBe(401);
      expect(((await r.json()) as { message: string }).message).toMatch(/^the Cloudflare Access token was refused: the issuer's keys could not be fetched/);
    } finally {
      await cut.dispose();
    }
    // Nothing changed: the flag is still ramping.
    const flag = (await (await worker.admin("GET", "/admin/flags/search-ranker")).json()) as { state: { status: string } };
    expect(flag.state.status).toBe("ramping");
  }, 90_000);

  it("gives machines API tokens: shown once, stored as hashes, limited to their role and prefixes, refused once revoked or expired", async () => {
    const made = await worker.admin("POST", "/admin/tokens", { name: "deploy-bot", role: "operator", prefixes: ["search-*"] });
    expect(made.status).toBe(201);
    const created = (await made.json()) as { id: string; token: string; role: string };
    expect(created.token).toMatch(/^rmp_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    const bot = { authorization: `Bearer ${created.token}` };
    // Inside its grant: it acts on search-*, audited as the token.
    expect((await as(bot, "POST", "/admin/flags/search-ranker/actions", { action: "pause", reason: "deploy window" })).status).toBe(200);
    const audit = (await (await worker.admin("GET", "/admin/audit?flag=search-ranker&limit=1")).json()) as { entries: { actor: string }[] };
    expect(audit.entries[0]?.actor).toBe("token:deploy-bot");
    // Outside it: another prefix, a spec write, making tokens.
    expect((await as(bot, "POST", "/admin/flags/feed-ranker/actions", { action: "pause" })).json.message).toContain('this needs the "act" permission on flag "feed-ranker"; it was asked by token:deploy-bot (operator on search-*)');
    expect((await as(bot, "POST", "/admin/tokens", { name: "more", role: "admin" })).status).toBe(403);
    // Listed without its secret, with when it was last used.
    const listed = ((await (await worker.admin("GET", "/admin/tokens")).json()) as { tokens: Record<string, unknown>[] }).tokens.find((t) => t["id"] === created.id);
    expect(listed).toMatchObject({ name: "deploy-bot", role: "operator", revokedAt: null, lastUsedAt: expect.any(Number) });
    expect(JSON.stringify(listed)).not.toContain(created.token.slice(-43));
    // A forged secret for a real id, then revocation.
    expect((await as({ authorization: `Bearer rmp_${created.id}_${"A".repeat(43)}` }, "GET", "/admin/flags")).json.message).toBe("the token is not valid");
    expect((await worker.admin("DELETE", `/admin/tokens/${created.id}`)).status).toBe(200);
    const revoked = await as(bot, "POST", "/admin/flags/search-ranker/actions", { action: "resume" });
    expect(revoked).toMatchObject({ status: 401, json: { message: "the token has been revoked" } });
    // An expiry in the past is refused when asked for; one that passes is refused when used.
    expect((await worker.admin("POST", "/admin/tokens", { name: "stale", role: "viewer", expiresAt: Date.now() - 1 })).status).toBe(400);
    const brief = (await (await worker.admin("POST", "/admin/tokens", { name: "brief", role: "viewer", expiresAt: Date.now() + 1_500 })).json()) as { token: string };
    expect((await as({ authorization: `Bearer ${brief.token}` }, "GET", "/admin/flags")).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_600));
    expect((await as({ authorization: `Bearer ${brief.token}` }, "GET", "/admin/flags")).json.message).toBe("the token has expired");
    const flag = (await (await worker.admin("GET", "/admin/flags/search-ranker")).json()) as { state: { status: string } };
    expect(flag.state.status).toBe("paused");
  });

  it("four eyes: the person who wrote the spec cannot approve its stage; someone else can, and the decision names both", async () => {
    expect((await worker.admin("PUT", "/admin/grants/user/bea@example.com", { role: "admin" })).status).toBe(201);
    expect((await worker.admin("PUT", "/admin/grants/user/carl@example.com", { role: "approver" })).status).toBe(201);
    const bea = await access({ email: "bea@example.com" });
    const spec = { key: "search-four-eyes", type: "string", variants: { baseline: "v1", candidate: "v2" }, rollout: { window: "1m", healthyWindowsToPromote: 1, stages: [{ weight: 10, approval: { distinctFrom: ["author", "starter"] } }, { weight: 100 }] } };
    const put = await as(bea, "PUT", "/admin/flags/search-four-eyes", spec);
    expect(put.status).toBe(201);
    const self = await as(bea, "POST", "/admin/flags/search-four-eyes/approve", { generation: 1, stage: 0 });
    expect(self.status).toBe(403);
    expect(self.json).toMatchObject({ error: "four_eyes", message: "this stage needs an approver other than its spec's author (bea@example.com)" });
    const other = await as(await access({ email: "carl@example.com" }), "POST", "/admin/flags/search-four-eyes/approve", { generation: 1, stage: 0, note: "eval reviewed" });
    expect(other.status).toBe(200);
    expect(other.json.decision).toMatchObject({ action: "approve", actor: "carl@example.com", reason: "eval reviewed; four eyes: spec by bea@example.com, stage started by the cron, approved by carl@example.com" });
    // A kill stays one person's action.
    expect((await as(bea, "POST", "/admin/flags/search-four-eyes/actions", { action: "kill", reason: "bad" })).status).toBe(200);
  });
});
