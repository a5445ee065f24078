/**
 * bench:edge's reference for OTLP ingestion: a bare Worker that only
 * decodes the batch (the same protobuf reader Rampart uses) and answers —
 * no auth, no flags, no crediting, no storage.
 */
import { decodeTraces } from "../../core/otlp/protobuf";

export default {
  async fetch(request: Request): Promise<Response> {
    const spans = decodeTraces(new Uint8Array(await request.arrayBuffer()));
    return new Response(`{"spans":${spans.length}}`, { headers: { "content-type": "application/json" } });
  },
};
