/** Worker entry: HTTP through the Hono app, cron through `runScheduled`; exports the Durable Objects. */
import { createApp, mayBeClaimedByApp } from "./app";
import { contextScheduler, isolateServices } from "./context";
import { runScheduled } from "./cron";
import { errorResponse } from "./errors";
import { requestTarget } from "./request-url";
import { evaluateSingle, singleEvaluationKey } from "./routes/ofrep";
import { answerUnclaimed } from "./routes/routed";

export { FlagDO } from "../durable-objects/flag/flag-do";
export { RegistryDO } from "../durable-objects/registry/registry-do";
export { RampartFlags } from "./binding";

const app = createApp();

export default {
  fetch(request, env, ctx) {
    // OFREP single evaluation, the hottest route, answered without the router (the same handler the app's route uses).
    const key = singleEvaluationKey(request);
    if (key !== null) return evaluateSingle(isolateServices, request, env, contextScheduler(ctx), key);
    // A path none of the app's routes can claim goes where the router's catch-all would send it (a flag's
    // route, else 404), without the router: a routed request is the proxy's hot path.
    const target = requestTarget(request.url);
    if (!mayBeClaimedByApp(target.pathname)) return answerUnclaimed(isolateServices, request, target, env, contextScheduler(ctx)).catch(errorResponse);
    return app.fetch(request, env, ctx);
  },
  scheduled(controller, env, ctx) {
    ctx.waitUntil(runScheduled(controller, env));
  },
} satisfies ExportedHandler<Env>;
