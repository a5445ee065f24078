/** The Hono app: the only HTTP entry point. Services are injectable so tests can simulate outages. */
import { Hono } from "hono";
import { isolateServices, type AppEnv, type Services } from "./context";
import { errorBody, handleError } from "./errors";
import { adminRoutes } from "./routes/admin";
import { eventRoutes } from "./routes/events";
import { ofrepRoutes } from "./routes/ofrep";
import { opsRoutes } from "./routes/ops";

export function createApp(services: Services = isolateServices) {
  const app = new Hono<AppEnv>();
  app.route("/ofrep", ofrepRoutes(services));
  app.route("/v1", eventRoutes(services));
  app.route("/admin", adminRoutes());
  app.route("/", opsRoutes(services));
  app.notFound((c) => c.json(errorBody("not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`), 404));
  app.onError(handleError);
  return app;
}
