/**
 * The dashboard behind Cloudflare Access, in Chromium: no token to paste —
 * the browser's requests carry the signed identity Access adds (emulated
 * here by the same header, signed by a key made in the test and served by
 * a local JWKS) — and it offers only what the identity's grants allow.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_PROPAGATION_MS, startLocalWorker, type LocalWorker } from "../../scripts/lib/local-worker";
import { launchChromium } from "./chromium";

const TEAM = "dash-test.cloudflareaccess.com";
const AUD = "dash-aud";
let worker: LocalWorker;
let jwks: Server;
let browser: Browser;
let sign: (email: string) => Promise<string>;

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" };
  jwks = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
  sign = (email) => new SignJWT({ email }).setProtectedHeader({ alg: "ES256", kid: "k1" }).setIssuer(`https://${TEAM}`).setAudience(AUD).setIssuedAt().setExpirationTime("10m").sign(privateKey);
  worker = await startLocalWorker({ ACCESS_TEAM_DOMAIN: TEAM, ACCESS_AUD: AUD, ACCESS_JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/` });
  expect((await worker.admin("PUT", "/admin/flags/dash-access", { key: "dash-access", type: "string", variants: { baseline: "v1", candidate: "v2" }, rollout: { stages: [{ weight: 10, approval: "required" }, { weight: 100 }] } })).status).toBe(201);
  expect((await worker.admin("PUT", "/admin/flags/billing-access", { key: "billing-access", type: "string", variants: { baseline: "v1", candidate: "v2" }, rollout: { stages: [{ weight: 10 }, { weight: 100 }] } })).status).toBe(201);
  expect((await worker.admin("PUT", "/admin/grants/user/olga@example.com", { role: "operator" })).status).toBe(201);
  expect((await worker.admin("PUT", "/admin/grants/user/pia@example.com", { role: "approver", prefixes: ["dash-*"] })).status).toBe(201);
  await new Promise((r) => setTimeout(r, E2E_PROPAGATION_MS + 100));
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  jwks?.close();
  await worker?.dispose();
});

describe("the dashboard behind Cloudflare Access", () => {
  it("shows an approver limited to a prefix only that prefix's flags, and offers approvals there but no actions", async () => {
    const context = await browser.newContext({ extraHTTPHeaders: { "cf-access-jwt-assertion": await sign("pia@example.com") } });
    const page = await context.newPage();
    await page.goto(`${worker.baseUrl}/dashboard`);
    await expect.poll(() => page.locator("#role").innerText()).toBe("signed in as pia@example.com (Cloudflare Access): read, approve on dash-*");
    await expect.poll(() => page.locator("#main").innerText()).toContain("dash-access");
    expect(await page.locator("#main").innerText()).not.toContain("billing-access");
    await page.goto(`${worker.baseUrl}/dashboard#flag=dash-access`);
    await expect.poll(() => page.locator('button[data-action="approve"]').isEnabled()).toBe(true);
    expect(await page.locator('button[data-action="pause"]').isDisabled()).toBe(true);
    await context.close();
  });

  it("signs an operator in from Access, offers actions but not approvals, and records the action as theirs", async () => {
    const context = await browser.newContext({ extraHTTPHeaders: { "cf-access-jwt-assertion": await sign("olga@example.com") } });
    const page = await context.newPage();
    await page.goto(`${worker.baseUrl}/dashboard#flag=dash-access`);
    await expect.poll(() => page.locator("#role").innerText()).toBe("signed in as olga@example.com (Cloudflare Access): read, act");
    await expect.poll(() => page.locator("#login").isHidden()).toBe(true);
    await expect.poll(() => page.locator('button[data-action="pause"]').isEnabled()).toBe(true);
    expect(await page.locator('button[data-action="approve"]').isDisabled()).toBe(true);
    expect(await page.locator('button[data-action="approve"]').getAttribute("title")).toBe('needs the "approve" permission on dash-access');
    await page.click('button[data-action="pause"]');
    await page.fill("#confirm-reason", "checking the ranker");
    await page.click("#confirm-ok");
    await expect.poll(async () => ((await (await worker.admin("GET", "/admin/flags/dash-access")).json()) as { state: { status: string } }).state.status).toBe("paused");
    const audit = (await (await worker.admin("GET", "/admin/audit?flag=dash-access&limit=1")).json()) as { entries: { actor: string }[] };
    expect(audit.entries[0]?.actor).toBe("olga@example.com");
    await context.close();
  });

  it("a visitor Access signed in but nobody granted anything sees why, and the token form", async () => {
    const context = await browser.newContext({ extraHTTPHeaders: { "cf-access-jwt-assertion": await sign("nobody@example.com") } });
    const page = await context.newPage();
    await page.goto(`${worker.baseUrl}/dashboard`);
    await expect.poll(() => page.locator("#error").innerText()).toContain('this needs the "read" permission; it was asked by nobody@example.com, who has no grant');
    expect(await page.locator("#login").isVisible()).toBe(true);
    await context.close();
  });
});
