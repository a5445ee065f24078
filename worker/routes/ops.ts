/** Operations: /health, /openapi.json and /dashboard (public, no data), /metrics (admin or read-only token). */
import { Hono } from "hono";
import { registryStub } from "../../durable-objects/registry/stub";
import { errorBody } from "../errors";
import { requireAdmin } from "../auth";
import { dashboardHtml } from "../dashboard/page";
import { identityConfig } from "../identity";
import { dashboardAssets } from "../dashboard/assets";
import { openApiDocument } from "../openapi";
import { renderMetrics } from "../prometheus";
import { settingsOf } from "../config";
import { scheduler, type AppEnv, type Services } from "../context";
import { RAMPART_VERSION } from "../version";
import type { CompiledSnapshot } from "../../core/compile";

/**
 * Headers for the HTML page: no framing (clickjacking: CSP frame-ancestors,
 * and X-Frame-Options for older browsers), no MIME sniffing, no referrer
 * leaking the page's URL, scripts and styles only from the Worker's own
 * files (no inline script or style attribute: the client builds its DOM
 * with textContent and sets styles through the CSSOM).
 */
export const HTML_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

export function opsRoutes(services: Services) {
  const app = new Hono<AppEnv>();
  app.get("/health", async (c) => {
    const cache = services.snapshots(c.env);
    const served = cache.serve(scheduler(c));
    const snapshot = served instanceof Promise ? await served : served;
    const ageMs = cache.ageMs();
    const { maxStaleMs, headTtlMs } = settingsOf(c.env);
    // "stale": serving a last-known-good snapshot older than the propagation bound.
    const status = snapshot === null ? "unavailable" : ageMs !== null && ageMs > headTtlMs + maxStaleMs ? "stale" : "ok";
    return c.json(
      {
        status,
        version: RAMPART_VERSION,
        configVersion: snapshot?.version ?? null,
        flags: snapshot?.flags.size ?? 0,
        snapshotAgeMs: ageMs,
        // What this isolate serves in each region wave (convergence is checkable per location): the first HEALTH_WAVES.
        waves: snapshot ? wavesServed(snapshot) : [],
      },
      snapshot === null ? 503 : 200,
    );
  });
  app.get("/openapi.json", (c) => c.json(openApiDocument()));

  app.get("/dashboard", (c) => {
    const identities = identityConfig(c.env);
    return c.html(dashboardHtml(identities.access !== null || identities.oidc !== null), 200, HTML_SECURITY_HEADERS);
  });
  app.get("/dashboard/assets/:name", (c) => {
    const asset = dashboardAssets().byName.get(c.req.param("name"));
    if (!asset) return c.json(errorBody("not_found", `no dashboard asset ${c.req.param("name")}`), 404);
    return c.body(asset.body, 200, { "content-type": asset.type, "cache-control": "public, max-age=31536000, immutable", "x-content-type-options": "nosniff" });
  });


  app.get("/metrics", requireAdmin, async (c) => {
    const cache = services.snapshots(c.env);
    const snapshot = await registryStub(c.env).metricsSnapshot();
    const log = services.exposureLog(c.env);
    const text = renderMetrics(snapshot, { configVersion: cache.peek()?.version ?? null, snapshotAgeMs: cache.ageMs(), exposureLog: { written: log.written, dropped: log.dropped } });
    return c.text(text, 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  });
  return app;
}

/** Region waves listed by /health, at most (a deployment with thousands of waved flags reads them from /admin/flags). */
const HEALTH_WAVES = 200;

function wavesServed(snapshot: CompiledSnapshot): { flag: string; wave: number; regions: string[]; status: string; stage: number; generation: number; specVersion: number }[] {
  const out = [];
  for (const key of snapshot.waveKeys) {
    const flag = snapshot.flags.get(key);
    if (!flag) continue;
    for (const [i, wave] of (flag.source.waves?.list ?? []).entries()) {
      if (out.length >= HEALTH_WAVES) return out;
      out.push({ flag: flag.key, wave: i + 1, regions: wave.regions, status: wave.state.status, stage: wave.state.stageIndex, generation: wave.state.generation, specVersion: flag.source.specVersion });
    }
  }
  return out;
}
