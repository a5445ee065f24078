/** Worker entry: HTTP through the Hono app, cron through `runScheduled`; exports the Durable Objects. */
import { createApp } from "./app";
import { runScheduled } from "./cron";

export { FlagDO } from "../durable-objects/flag";
export { RegistryDO } from "../durable-objects/registry";
export { RampartFlags } from "./binding";

const app = createApp();

export default {
  fetch: app.fetch,
  scheduled(controller, env, ctx) {
    ctx.waitUntil(runScheduled(controller, env));
  },
} satisfies ExportedHandler<Env>;
