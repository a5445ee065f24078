/**
 * The dashboard's files are cached by browsers for a year, so each URL must
 * name one content forever: a changed file gets a new name, and the page
 * always points at the names of the files this Worker serves.
 */
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { buildDashboardAssets, contentAddressedName, CONTENT_HASH_DIGITS } from "../../worker/dashboard/assets";
import { renderDashboardHtml } from "../../worker/dashboard/page";
import { sha1Hex } from "../../core/sha1";

const files = { uplotJs: "uplot();", uplotCss: ".u{}", dashboardJs: "console.log(1);", dashboardCss: "body{}" };

describe("dashboard assets named by their content", () => {
  it("gives two different contents two URLs and the same content the same URL", () => {
    const bodies = ["", "a", "b", "console.log(1);", "console.log(1); ", "console.log(2);", "é", "e\u0301"];
    const names = bodies.map((body) => contentAddressedName("dashboard", "js", body));
    expect(new Set(names).size).toBe(bodies.length);
    expect(contentAddressedName("dashboard", "js", "console.log(1);")).toBe(names[3]);
    // A release that changes only the script moves only the script's URL; the cached styles stay valid.
    const before = buildDashboardAssets(files);
    const after = buildDashboardAssets({ ...files, dashboardJs: "console.log(2);" });
    expect(after.dashboardJs.name).not.toBe(before.dashboardJs.name);
    expect(after.dashboardCss.name).toBe(before.dashboardCss.name);
    expect(renderDashboardHtml(after)).toContain(`/dashboard/assets/${after.dashboardJs.name}"`);
    expect(renderDashboardHtml(after)).not.toContain(before.dashboardJs.name);
  });

  it("serves a page whose every asset URL carries the hash of the body served under it", async () => {
    const html = await (await SELF.fetch("https://rampart.test/dashboard")).text();
    const paths = [...html.matchAll(/(?:src|href)="\/dashboard\/assets\/([^"]+)"/g)].map((m) => m[1] ?? "");
    expect(paths).toHaveLength(4);
    for (const name of paths) {
      const res = await SELF.fetch(`https://rampart.test/dashboard/assets/${name}`);
      expect(res.status, name).toBe(200);
      expect(res.headers.get("cache-control")).toContain("immutable");
      const body = await res.text();
      const match = /^(?:dashboard|uplot)-([0-9a-f]+)\.(?:js|css)$/.exec(name);
      expect(match, name).not.toBeNull();
      expect(match?.[1]).toHaveLength(CONTENT_HASH_DIGITS);
      expect(sha1Hex(body).startsWith(match?.[1] ?? "-"), name).toBe(true);
    }
    // The release-numbered names of earlier builds are gone, not served with today's content.
    expect((await SELF.fetch("https://rampart.test/dashboard/assets/dashboard-0.1.0.js")).status).toBe(404);
  });
});
