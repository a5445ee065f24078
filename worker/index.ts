/** Worker entry: HTTP through the Hono app, cron through `runScheduled`; exports the Durable Objects. */
import { createApp } from "./app";
import { contextScheduler, isolateServices } from "./context";
import { runScheduled } from "./cron";
import { evaluateSingle, singleEvaluationKey } from "./routes/ofrep";

export { FlagDO } from "../durable-objects/flag";
export { RegistryDO } from "../durable-objects/registry";
export { RampartFlags } from "./binding";

const app = createApp();

export default {
  fetch(request, env, ctx) {
    // OFREP single evaluation, the hottest route, answered without the router (the same handler the app's route uses).
    const key = singleEvaluationKey(request);
    if (key !== null) return evaluateSingle(isolateServices, request, env, contextScheduler(ctx), key);
    return app.fetch(request, env, ctx);
  },
  scheduled(controller, env, ctx) {
    ctx.waitUntil(runScheduled(controller, env));
  },
} satisfies ExportedHandler<Env>;
