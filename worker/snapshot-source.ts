/**
 * Where an isolate learns the snapshot: the head (version + ETag) through the
 * location's Cache API with a short TTL, so a location asks the RegistryDO at
 * most about once per TTL; the snapshot itself from KV under its immutable
 * versioned key, falling back to the RegistryDO when KV does not have it yet
 * (KV can take up to 60 s to show a new key everywhere); after a change, only
 * the changed flags' entries, each under its own immutable key.
 */
import { entryStorageKey, SnapshotEnvelopeSchema, SnapshotHeadSchema, snapshotStorageKey, type SnapshotEnvelope, type SnapshotHead } from "../core/snapshot";
import { registryStub } from "../durable-objects/registry/stub";
import type { Settings } from "./config";
import type { SnapshotSource } from "./snapshot";

/** Cache API key of the head. The Cache API works on a custom domain, not on *.workers.dev. */
const HEAD_CACHE_URL = "https://rampart.internal/__rampart/snapshot-head";

interface CachedHead {
  head: SnapshotHead;
  fetchedAt: number;
}

export function workerSnapshotSource(env: Env, settings: Pick<Settings, "headTtlMs">): SnapshotSource {
  return {
    async fetchHead() {
      const cached = await readCachedHead();
      if (cached && Date.now() - cached.fetchedAt < settings.headTtlMs) return cached.head;
      const head = SnapshotHeadSchema.parse(await registryStub(env).getHead());
      await writeCachedHead({ head, fetchedAt: Date.now() }, settings.headTtlMs);
      return head;
    },
    async fetchSnapshot(head): Promise<SnapshotEnvelope> {
      // Each flag is validated when first evaluated (`compileSnapshot`), not all of them here.
      const text = await env.SNAPSHOTS.get(snapshotStorageKey(head), "text");
      if (text !== null) return SnapshotEnvelopeSchema.parse(JSON.parse(text));
      return SnapshotEnvelopeSchema.parse(JSON.parse(await registryStub(env).getSnapshotJson()));
    },
    // Entries come back as parsed JSON: the cache validates each (`compileEntry`), so one it cannot read costs that flag alone.
    async fetchFlag(key): Promise<{ version: number; flag: unknown }> {
      const { version, body } = await registryStub(env).getFlagEntry(key);
      return { version, flag: body === null ? null : parseEntry(body) };
    },
    async fetchEntry(key, version): Promise<unknown> {
      const text = (await env.SNAPSHOTS.get(entryStorageKey(key, version), "text")) ?? (await registryStub(env).getEntryJson(key, version));
      return text === null ? null : parseEntry(text);
    },
  };
}

/** An entry's JSON, or a value no schema accepts when the text is not JSON (the flag is then reported and absent, like any bad entry). */
function parseEntry(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return { unreadable: "not JSON" };
  }
}

async function readCachedHead(): Promise<CachedHead | null> {
  try {
    const response = await caches.default.match(HEAD_CACHE_URL);
    if (!response) return null;
    const body = await response.json<{ head?: unknown; fetchedAt?: unknown }>();
    const head = SnapshotHeadSchema.safeParse(body.head);
    return head.success && typeof body.fetchedAt === "number" ? { head: head.data, fetchedAt: body.fetchedAt } : null;
  } catch {
    return null; // The Cache API is an optimisation: without it every isolate asks the registry.
  }
}

async function writeCachedHead(entry: CachedHead, ttlMs: number): Promise<void> {
  try {
    const maxAge = Math.max(1, Math.ceil(ttlMs / 1000));
    await caches.default.put(
      HEAD_CACHE_URL,
      new Response(JSON.stringify(entry), { headers: { "content-type": "application/json", "cache-control": `max-age=${maxAge}` } }),
    );
  } catch (error) {
    console.warn("could not cache the snapshot head", error);
  }
}
