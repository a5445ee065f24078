/**
 * The dashboard in a real headless Chromium (Debian's, driven by
 * playwright-core) against the Worker on workerd: what an operator sees and
 * can do, with screenshots written to test-artifacts/dashboard/.
 *
 *   npm run test:dashboard     (needs /usr/bin/chromium, or CHROMIUM=path)
 */
import { mkdirSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "./chromium";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_ADMIN_TOKEN, E2E_PROPAGATION_MS, startLocalWorker, type LocalWorker } from "../../scripts/lib/local-worker";

const READ_TOKEN = "e2e-read-token";
const EVENTS_TOKEN = "e2e-events-token";
const ARTIFACTS = "test-artifacts/dashboard";
const KEY = "dash-ranker";
/** What a hostile spec author might put in a description: it must show as text, never run. */
const HOSTILE = `<img src=x onerror="window.__pwned=1">`;

let worker: LocalWorker;
let browser: Browser;

async function evaluate(targetingKey: string) {
  const r = await fetch(`${worker.baseUrl}/ofrep/v1/evaluate/flags/${KEY}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ context: { targetingKey } }),
  });
  return (await r.json()) as { variant: string; metadata: { status: string; assignment: string } };
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  worker = await startLocalWorker({ READ_TOKEN, EVENTS_TOKEN, FLUSH_MS: "100" });
  const put = await worker.admin("PUT", `/admin/flags/${KEY}`, {
    key: KEY,
    description: `Ranker v2 ${HOSTILE}`,
    type: "string",
    variants: { baseline: "v1", candidate: "v2" },
    rollout: { stages: [{ weight: 50 }, { weight: 100 }] },
    metrics: { ctr: { kind: "ratio", numerator: "click", denominator: "exposure" } },
    gates: [{ metric: "ctr", bad: "decrease", warn: "5%", rollback: "10%" }],
  });
  expect(put.status, await put.clone().text()).toBe(201);
  await new Promise((r) => setTimeout(r, E2E_PROPAGATION_MS + 100));
  // Some traffic so the charts have lines: exposures through OFREP, clicks as events.
  const events = [];
  for (let i = 0; i < 200; i++) {
    const user = `user-${i}`;
    const served = await evaluate(user);
    if (i % 3 === 0) events.push({ eventId: `click-${i}`, flag: KEY, name: "click", targetingKey: user, assignment: served.metadata.assignment, timestamp: new Date().toISOString() });
  }
  const sent = await fetch(`${worker.baseUrl}/v1/events`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${EVENTS_TOKEN}` }, body: JSON.stringify({ events }) });
  expect(sent.status, await sent.clone().text()).toBe(202);
  // Let the edge flush its counters, then have the cron judge once (live hold reason).
  await new Promise((r) => setTimeout(r, 1_000));
  await fetch(`${worker.baseUrl}/cdn-cgi/handler/scheduled?time=${Date.now()}`);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await worker?.dispose();
});

async function signIn(page: Page, token: string): Promise<string[]> {
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  await page.goto(`${worker.baseUrl}/`);
  expect(page.url()).toBe(`${worker.baseUrl}/dashboard`);
  await page.fill("#token", token);
  await page.click("#login button");
  await page.waitForSelector(`tr[data-flag="${KEY}"]`);
  return problems;
}

describe("dashboard in Chromium", () => {
  it("lists the flags with a sparkline and shows a flag's charts, gates, decisions and live judgement", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems = await signIn(page, READ_TOKEN);
    const row = page.locator(`tr[data-flag="${KEY}"]`);
    await expect.poll(() => row.locator(".spark canvas").count()).toBe(1);
    // The description is shown as text: no element was made from it, no script ran.
    expect(await row.innerText()).toContain(HOSTILE);
    expect(await page.locator("main img").count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    await page.screenshot({ path: `${ARTIFACTS}/list-desktop.png`, fullPage: true });

    await row.locator("a").click();
    await page.waitForSelector("figure[data-chart=exposures] canvas");
    await page.waitForSelector("figure[data-chart=gate-ctr] canvas");
    // The exposures chart's legend names both arms; the gate chart draws its rollback threshold.
    expect(await page.locator("figure[data-chart=exposures] .u-legend").innerText()).toMatch(/baseline[\s\S]*candidate/);
    expect(await page.locator("figure[data-chart=gate-ctr] .u-legend").innerText()).toContain("rollback");
    expect(await page.locator('tr[data-gate="ctr"]').innerText()).toMatch(/ctr \(relative\)/);
    // The latest judgement (a hold: what the stage still waits for), not a stale log line.
    expect(await page.locator("#judgement").innerText()).toMatch(/^hold \(/);
    expect(await page.locator("ul.decisions li").count()).toBeGreaterThan(0);
    expect(problems).toEqual([]);
    await page.screenshot({ path: `${ARTIFACTS}/flag-desktop.png`, fullPage: true });
    await page.close();
  });

  it("gives a read-only token every view and no action", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signIn(page, READ_TOKEN);
    await page.goto(`${worker.baseUrl}/dashboard#flag=${KEY}`);
    await page.waitForSelector(".actions button");
    expect(await page.locator("#role").innerText()).toContain("read-only");
    const buttons = page.locator(".actions button");
    expect(await buttons.count()).toBeGreaterThanOrEqual(8);
    for (const button of await buttons.all()) expect(await button.isDisabled()).toBe(true);
    // Even a request the page did not offer is refused by the API.
    const forced = await page.evaluate(async (key) => (await fetch(`/admin/flags/${key}/actions`, { method: "POST", headers: { authorization: `Bearer ${sessionStorage.getItem("rampart-token")}`, "content-type": "application/json" }, body: '{"action":"kill"}' })).status, KEY);
    expect(forced).toBe(403);
    expect((await evaluate("user-1")).metadata.status).toBe("ramping");
    await page.close();
  });

  it("kills the flag from the page after a confirmation, and evaluation changes", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signIn(page, E2E_ADMIN_TOKEN);
    await page.goto(`${worker.baseUrl}/dashboard#flag=${KEY}`);
    await page.waitForSelector('.actions button[data-action="kill"]:not([disabled])');
    // Approve sends the generation and stage on screen; this flag's stage needs none, and the page says so.
    await page.click('.actions button[data-action="approve"]');
    expect(await page.locator("#confirm-title").innerText()).toBe(`Approve stage 0 of ${KEY} (generation 1)?`);
    await page.click("#confirm-ok");
    await expect.poll(() => page.locator("#error").innerText()).toContain("stage 0 does not need approval");
    await page.click('.actions button[data-action="kill"]');
    expect(await page.locator("#confirm").getAttribute("open")).not.toBeNull();
    // Cancel changes nothing.
    await page.click("#confirm-cancel");
    expect((await evaluate("user-1")).metadata.status).toBe("ramping");
    await page.click('.actions button[data-action="kill"]');
    await page.fill("#confirm-reason", "dashboard test: kill switch");
    await page.screenshot({ path: `${ARTIFACTS}/kill-confirm.png` });
    await page.click("#confirm-ok");
    await expect.poll(() => page.locator("#flag-state .status").innerText()).toBe("killed");
    await expect.poll(async () => (await evaluate("user-1")).metadata.status, { timeout: 5_000 }).toBe("killed");
    expect((await evaluate("user-2")).variant).toBe("baseline");
    expect(await page.locator("ul.decisions").innerText()).toContain("dashboard test: kill switch");
    await page.screenshot({ path: `${ARTIFACTS}/killed.png`, fullPage: true });
    await page.close();
  });

  it("is usable at phone width: nothing overflows sideways", async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
    await signIn(page, READ_TOKEN);
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(await overflow()).toBeLessThanOrEqual(0);
    await page.screenshot({ path: `${ARTIFACTS}/list-phone.png`, fullPage: true });
    await page.goto(`${worker.baseUrl}/dashboard#flag=${KEY}`);
    await page.waitForSelector("figure[data-chart=exposures] canvas");
    await page.screenshot({ path: `${ARTIFACTS}/flag-phone.png`, fullPage: true });
    expect(await overflow()).toBeLessThanOrEqual(0);
    await page.close();
  });

  it("shows each region wave of a waved flag: regions, status and the spec hash it serves", async () => {
    const key = "dash-waves";
    const put = await worker.admin("PUT", `/admin/flags/${key}`, { key, type: "boolean", variants: { baseline: false, candidate: true }, rollout: { stages: [{ weight: 50 }, { weight: 100 }] }, waves: [["us-east-1"], ["eu-west-1", "rest"]] });
    expect(put.status).toBe(201);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signIn(page, READ_TOKEN);
    await page.goto(`${worker.baseUrl}/dashboard#flag=${key}`);
    const rows = page.locator("#waves tbody tr");
    await expect.poll(() => rows.count()).toBe(2);
    expect(await rows.nth(0).innerText()).toMatch(/1\s+us-east-1\s+ramping\s+0\s+50%/);
    expect(await rows.nth(1).innerText()).toMatch(/2\s+eu-west-1, rest\s+waiting\s+0\s+0%/);
    // A flag without a description shows none (not the word "null").
    expect(await page.locator("main").innerText()).not.toMatch(/^null$/m);
    await page.screenshot({ path: `${ARTIFACTS}/waves.png`, fullPage: true });
    await page.close();
  });

  it("shows a flag's targeting rules in order and its pending scheduled changes", async () => {
    const key = "dash-rules";
    const put = await worker.admin("PUT", `/admin/flags/${key}`, {
      key, kind: "targeting", type: "string", variants: { grid: "grid", list: "list", cards: "cards" }, defaultVariant: "grid",
      rules: [
        { name: "staff", when: { any: [{ attribute: "email", op: "ends_with", value: "@example.com" }, { attribute: "groups", op: "contains", value: "staff" }] }, serve: { variant: "cards" } },
        { name: "experiment", serve: { split: [{ variant: "grid", weight: 50 }, { variant: "list", weight: 50 }] } },
      ],
    });
    expect(put.status).toBe(201);
    const at = new Date(Date.now() + 7 * 86_400_000).toISOString();
    expect((await worker.admin("POST", `/admin/flags/${key}/schedules`, { at, action: "kill", reason: "experiment ends" })).status).toBe(201);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signIn(page, READ_TOKEN);
    await page.goto(`${worker.baseUrl}/dashboard#flag=${key}`);
    const rows = page.locator("#rules tbody tr");
    await expect.poll(() => rows.count()).toBe(2);
    expect(await rows.nth(0).innerText()).toMatch(/1\s+staff\s+\(email ends with "@example.com"\) or \(groups contains "staff"\)\s+cards/);
    expect(await rows.nth(1).innerText()).toMatch(/2\s+experiment\s+every context\s+grid 50% \/ list 50%/);
    expect(await page.locator("#rules").innerText()).toContain("everyone else: grid");
    expect(await page.locator("#schedules li").innerText()).toMatch(/kill by .+ — experiment ends/);
    await page.screenshot({ path: `${ARTIFACTS}/rules.png`, fullPage: true });
    await page.close();
  });

  it("shows an experiment: each variant's exposures and every treatment against the control", async () => {
    const key = "dash-experiment";
    const put = await worker.admin("PUT", `/admin/flags/${key}`, {
      key, kind: "targeting", type: "string", variants: { grid: "grid", list: "list", cards: "cards" }, defaultVariant: "grid",
      metrics: { click_rate: { kind: "ratio", numerator: "click", denominator: "exposure" } },
      rules: [{ name: "layout", serve: { split: [{ variant: "grid", weight: 34 }, { variant: "list", weight: 33 }, { variant: "cards", weight: 33 }], experiment: { control: "grid", metrics: [{ metric: "click_rate", bad: "decrease" }] } } }],
    });
    expect(put.status).toBe(201);
    await new Promise((r) => setTimeout(r, E2E_PROPAGATION_MS + 100));
    const events = [];
    for (let i = 0; i < 60; i++) {
      const r = await fetch(`${worker.baseUrl}/ofrep/v1/evaluate/flags/${key}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ context: { targetingKey: `x-${i}` } }) });
      const served = (await r.json()) as { metadata: { assignment: string } };
      if (i % 2 === 0) events.push({ eventId: `x-click-${i}`, flag: key, name: "click", targetingKey: `x-${i}`, assignment: served.metadata.assignment });
    }
    const sent = await fetch(`${worker.baseUrl}/v1/events`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${EVENTS_TOKEN}` }, body: JSON.stringify({ events }) });
    expect((await sent.json()) as object).toMatchObject({ accepted: 30 });
    await new Promise((r) => setTimeout(r, 500));
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signIn(page, READ_TOKEN);
    await page.goto(`${worker.baseUrl}/dashboard#flag=${key}`);
    const rows = page.locator(".experiment tbody tr");
    await expect.poll(() => rows.count()).toBe(2);
    // 60 users are far below what a comparison needs: levels shown, no change claimed yet.
    expect(await rows.nth(0).innerText()).toMatch(/^list\s+click_rate\s+0\.\d+\s+0\.\d+\s+—\s+—\s+insufficient sample$/);
    const section = await page.locator(".experiment").innerText();
    expect(section).toMatch(/grid \(control\) \d+ · list \d+ · cards \d+/);
    expect(section).toContain("2 comparisons, each interval at α = 0.025");
    await page.screenshot({ path: `${ARTIFACTS}/experiment.png`, fullPage: true });
    await page.close();
  });

  it("shows a flagd definition's state, default and targeting as imported", async () => {
    const imported = await worker.admin("POST", "/admin/import/flagd", {
      flags: { "dash-flagd": { state: "ENABLED", variants: { on: true, off: false }, defaultVariant: "off", targeting: { if: [{ ends_with: [{ var: "email" }, "@example.com"] }, "on", { fractional: [["on", 10], ["off", 90]] }] } } },
    });
    expect(imported.status).toBe(200);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signIn(page, READ_TOKEN);
    await page.goto(`${worker.baseUrl}/dashboard#flag=dash-flagd`);
    const section = page.locator("#flagd");
    await expect.poll(() => section.count()).toBe(1);
    expect(await section.innerText()).toMatch(/state ENABLED · default off · variants on, off/);
    expect(await section.locator("pre").innerText()).toContain('"ends_with"');
    await page.screenshot({ path: `${ARTIFACTS}/flagd.png`, fullPage: true });
    await page.close();
  });

  it("a page with EventSource on the OFREP change stream hears a kill-switch flip once, within the bound", async () => {
    const page = await browser.newPage();
    await page.goto(`${worker.baseUrl}/dashboard`);
    await page.evaluate(() => {
      const seen: { id: string; data: string; at: number }[] = [];
      (window as unknown as { seen: typeof seen }).seen = seen;
      const source = new EventSource("/ofrep/v1/flag-changes");
      source.onmessage = (e) => seen.push({ id: e.lastEventId, data: String(e.data), at: Date.now() });
      return new Promise<void>((resolve) => source.addEventListener("open", () => resolve()));
    });
    const before = Date.now();
    const unkill = await worker.admin("POST", `/admin/flags/${KEY}/actions`, { action: "unkill" });
    expect(unkill.status).toBe(200);
    const seen = () => page.evaluate(() => (window as unknown as { seen: { id: string; data: string; at: number }[] }).seen);
    await expect.poll(async () => (await seen()).length, { timeout: 5_000 }).toBe(1);
    const [event] = await seen();
    expect(JSON.parse(event?.data ?? "{}")).toMatchObject({ type: "refetchEvaluation" });
    // Within the documented bound under these test settings (head TTL + max stale), plus one watch of the stream
    // (WATCH_MS, 250 ms in worker/change-stream.ts) and delivery.
    expect((event?.at ?? Infinity) - before).toBeLessThan(E2E_PROPAGATION_MS + 250 + 750);
    // One change, one event: the page re-fetches once, not once per flag.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await seen()).toHaveLength(1);
    await page.close();
  });
});
