/** LaunchDarkly's Cloudflare SDK as its guide sets it up: one client per isolate over KV, a variation per request. */
// The SDK's declarations import js-server-sdk-common's, which do not resolve under this project's module settings:
// its client is typed `any` here, so the type-aware rules cannot check this peer fixture (it is bundled and run, not imported).
/* eslint-disable @typescript-eslint/no-redundant-type-constituents, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment */
import { init } from "@launchdarkly/cloudflare-server-sdk";

const LD_SDK_KEY = "bench-client-side-id";
let client: ReturnType<typeof init> | null = null;

export default {
  // The binding, typed as the SDK's own copy of the Workers types declares it.
  async fetch(request: Request, env: { LD_KV: Parameters<typeof init>[1] }): Promise<Response> {
    const { context } = await request.json<{ context: { targetingKey: string } }>();
    client ??= init(LD_SDK_KEY, env.LD_KV, { sendEvents: false });
    await client.waitForInitialization();
    const value = await client.variation("bench-ranker", { kind: "user", key: context.targetingKey }, "default");
    return Response.json({ key: "bench-ranker", value });
  },
};
