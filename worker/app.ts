/** The Hono app: the only HTTP entry point. Services are injectable so tests can simulate outages. */
import { Hono } from "hono";
import { isolateServices, scheduler, type AppEnv, type Services } from "./context";
import { errorBody, handleError } from "./errors";
import { adminRoutes } from "./routes/admin";
import { eventRoutes } from "./routes/events";
import { ofrepRoutes } from "./routes/ofrep";
import { opsRoutes } from "./routes/ops";
import { proxy } from "./routes/proxy";

export function createApp(services: Services = isolateServices) {
  const app = new Hono<AppEnv>();
  app.route("/ofrep", ofrepRoutes(services));
  app.route("/v1", eventRoutes(services));
  app.route("/admin", adminRoutes());
  app.route("/", opsRoutes(services));
  app.all("*", async (c) => {
    // Anything else may be a routed request (a flag's `route`); otherwise 404.
    const served = services.snapshots(c.env).serve(scheduler(c));
    const snapshot = served instanceof Promise ? await served : served;
    // A browser pointed at the base URL (when no flag routes it) wants the dashboard, not a JSON error.
    const dashboard = c.req.method === "GET" && c.req.path === "/" ? () => c.redirect("/dashboard", 302) : null;
    if (snapshot === null) {
      if (dashboard) return dashboard();
      // Without any snapshot no route is known: answer at once, never hang.
      return c.json(errorBody("unavailable", "routing configuration is not available yet; retry"), 503, { "Retry-After": "1" });
    }
    const proxied = await proxy(c, services, snapshot);
    if (proxied) return proxied;
    if (dashboard) return dashboard();
    return c.json(errorBody("not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`), 404);
  });
  app.notFound((c) => c.json(errorBody("not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`), 404));
  app.onError(handleError);
  return app;
}
