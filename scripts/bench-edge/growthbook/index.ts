/**
 * GrowthBook's multi-user server client over a payload in KV, re-read at
 * most once a second per isolate (as Rampart re-checks its head): a
 * feature evaluated per request with the user's id.
 */
import { GrowthBookClient, type FeatureApiResponse } from "@growthbook/growthbook";

let client: GrowthBookClient | null = null;
let loadedAt = 0;

export default {
  async fetch(request: Request, env: { GB_KV: KVNamespace }): Promise<Response> {
    const { context } = await request.json<{ context: { targetingKey: string } }>();
    const now = Date.now();
    if (client === null || now - loadedAt > 1_000) {
      const payload = await env.GB_KV.get<FeatureApiResponse>("gb-payload", "json");
      client = new GrowthBookClient().initSync({ payload: payload ?? { features: {} } });
      loadedAt = now;
    }
    const value: unknown = client.getFeatureValue("bench-ranker", "default", { attributes: { id: context.targetingKey } });
    return Response.json({ key: "bench-ranker", value });
  },
};
