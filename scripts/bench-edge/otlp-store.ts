/**
 * bench:edge's second reference for OTLP ingestion: the least a receiver
 * whose acknowledgement means "stored" must do — decode the batch (the same
 * reader Rampart uses), then one Durable Object call that writes one SQLite
 * row with the count of its spans — no auth, no flags, no crediting, no
 * per-span rows. The gap between this and the decode-only reference is
 * the fixed cost of a storing call on this stack.
 */
import { DurableObject } from "cloudflare:workers";
import { decodeTraces } from "../../core/otlp/protobuf";

interface Env {
  SINK: DurableObjectNamespace<Sink>;
}

export class Sink extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS batches (seq INTEGER PRIMARY KEY AUTOINCREMENT, spans INTEGER NOT NULL)");
  }

  store(spans: number): number {
    this.ctx.storage.sql.exec("INSERT INTO batches (spans) VALUES (?)", spans);
    return spans;
  }
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const spans = decodeTraces(new Uint8Array(await request.arrayBuffer()));
    const stored = await env.SINK.get(env.SINK.idFromName("sink")).store(spans.length);
    return new Response(`{"spans":${stored}}`, { headers: { "content-type": "application/json" } });
  },
};
