/**
 * The Worker answers paths none of the app's routes can claim (a flag's
 * route, the dashboard redirect, 404) without the router. Holds the list of
 * claimed roots to the app's routes, and the answers to the router's.
 */
import { createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp, mayBeClaimedByApp } from "../../worker/app";
import { Hono } from "hono";
import { AppError, errorResponse, handleError } from "../../worker/errors";

describe("paths answered without the router", () => {
  it("leaves every path one of the app's routes could claim to the router", () => {
    const routes = createApp().routes.filter((r) => r.path !== "*" && r.path !== "/*");
    expect(routes.length).toBeGreaterThan(20);
    for (const { path } of routes) {
      const concrete = path.replace(/:\w+/g, "x").replace(/\*/g, "x");
      expect(mayBeClaimedByApp(concrete), path).toBe(true);
    }
    // Erring towards the router: any case, any percent-encoding (the router decodes before matching).
    expect(mayBeClaimedByApp("/ADMIN/flags")).toBe(true);
    expect(mayBeClaimedByApp("/%61dmin/flags")).toBe(true);
    expect(mayBeClaimedByApp("/health/")).toBe(true);
    expect(mayBeClaimedByApp("/")).toBe(false);
    expect(mayBeClaimedByApp("/routed/item")).toBe(false);
    expect(mayBeClaimedByApp("/administrator")).toBe(false);
  });

  it("answers an unclaimed path as the router's catch-all does: 404 naming the path, the dashboard at the base URL", async () => {
    const app = createApp();
    const both = async (method: string, path: string) => {
      const direct = await SELF.fetch(`https://rampart.test${path}`, { method, redirect: "manual" });
      const ctx = createExecutionContext();
      const routed = await app.fetch(new Request(`https://rampart.test${path}`, { method, redirect: "manual" }), env, ctx);
      await waitOnExecutionContext(ctx);
      const read = async (r: Response) => ({ status: r.status, type: r.headers.get("content-type"), location: r.headers.get("location"), body: await r.text() });
      return [await read(direct), await read(routed)];
    };
    const [missing, missingViaRouter] = await both("GET", "/no-such-thing/here");
    expect(missing).toEqual(missingViaRouter);
    expect(missing?.status).toBe(404);
    expect(JSON.parse(missing?.body ?? "")).toEqual({ error: "not_found", message: "no route for GET /no-such-thing/here" });
    const [posted, postedViaRouter] = await both("POST", "/no-such-thing");
    expect(posted).toEqual(postedViaRouter);
    const [base, baseViaRouter] = await both("GET", "/");
    expect(base).toEqual(baseViaRouter);
    expect(base).toMatchObject({ status: 302, location: "/dashboard" });
  });

  it("renders an error thrown on the way as the router's error handler would", async () => {
    const viaRouter = async (error: unknown) => {
      const app = new Hono();
      app.get("/", () => {
        throw error;
      });
      app.onError(handleError);
      return app.request("/");
    };
    const read = async (r: Response) => ({ status: r.status, type: r.headers.get("content-type"), retryAfter: r.headers.get("retry-after"), body: await r.json() });
    for (const error of [new AppError(502, "bad_gateway", "the candidate origin did not answer"), new AppError(503, "unavailable", "retry", undefined, { "Retry-After": "1" }), new TypeError("boom")]) {
      expect(await read(errorResponse(error)), String(error)).toEqual(await read(await viaRouter(error)));
    }
    expect(await read(errorResponse(new AppError(502, "bad_gateway", "the candidate origin did not answer")))).toMatchObject({ status: 502, body: { error: "bad_gateway" } });
  });
});
