/**
 * The Hono app: every HTTP route (the Worker answers OFREP single evaluations
 * and unclaimed paths without the router, through the same handlers).
 * Services are injectable so tests can simulate outages.
 */
import { Hono } from "hono";
import { isolateServices, scheduler, type AppEnv, type Services } from "./context";
import { errorBody, handleError } from "./errors";
import { adminRoutes } from "./routes/admin";
import { eventRoutes } from "./routes/events";
import { otlpRoutes } from "./routes/otlp";
import { ofrepRoutes } from "./routes/ofrep";
import { opsRoutes } from "./routes/ops";
import { mcpRoutes } from "./routes/mcp";
import { requestTarget } from "./request-url";
import { answerUnclaimed } from "./routes/routed";

/**
 * The first path segments under which the app has routes of its own
 * (lowercase). A path outside them can only reach the catch-all, so the
 * Worker may answer it without the router (`worker/index.ts`); a test holds
 * this list to the app's routes.
 */
const APP_PATH_ROOTS: ReadonlySet<string> = new Set(["ofrep", "v1", "admin", "health", "openapi.json", "dashboard", "metrics", "mcp"]);

/**
 * Whether a path may be claimed by one of the app's own routes — erring
 * towards yes: any path whose first segment is an app root in any case, and
 * any path with a percent-encoding (the router decodes before it matches).
 */
export function mayBeClaimedByApp(pathname: string): boolean {
  if (pathname.includes("%")) return true;
  const end = pathname.indexOf("/", 1);
  return APP_PATH_ROOTS.has((end === -1 ? pathname.slice(1) : pathname.slice(1, end)).toLowerCase());
}

export function createApp(services: Services = isolateServices) {
  const app = new Hono<AppEnv>();
  app.route("/ofrep", ofrepRoutes(services));
  app.route("/v1", eventRoutes(services));
  app.route("/v1", otlpRoutes(services));
  app.route("/admin", adminRoutes());
  app.route("/mcp", mcpRoutes((request, env, ctx) => app.fetch(request, env, ctx)));
  app.route("/", opsRoutes(services));
  // Anything else may be a routed request (a flag's `route`); otherwise 404.
  app.all("*", (c) => answerUnclaimed(services, c.req.raw, requestTarget(c.req.url), c.env, scheduler(c)));
  app.notFound((c) => c.json(errorBody("not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`), 404));
  app.onError(handleError);
  return app;
}
