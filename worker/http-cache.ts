/**
 * The proxy's shared cache, by RFC 9111's rules for a shared cache:
 * storability and freshness come from `http-cache-semantics` (a widely used
 * implementation of the caching RFCs, chosen over hand-written directive
 * parsing), in its shared-cache mode — so `no-store`, `private`, and
 * responses to requests with `Authorization` (unless `public`, `s-maxage`
 * or `must-revalidate` allow it, §3.5) are never stored. Rampart adds what a
 * shared cache keyed by URL alone must also refuse:
 *
 * - `Set-Cookie`: one user's session cookie must never reach another;
 * - `Vary` on anything but `Accept-Encoding`: the cache key does not carry
 *   other request fields, so such a response is not stored at all (a cache
 *   may always decline to store; it must never serve the wrong variant);
 * - requests with `Authorization`, or that ask for a fresh answer
 *   (`Cache-Control: no-cache` / `no-store`, `Pragma: no-cache`), are not
 *   answered from the cache.
 */
import CachePolicy from "http-cache-semantics";

function headerObject(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}

/** Whether a request may be answered from the shared cache, from its method and a reader of its fields (the proxy reads them once). */
export function mayServeFromCache(method: string, field: (name: string) => string | null): boolean {
  if (method !== "GET") return false;
  if (field("authorization") !== null) return false;
  const cc = (field("cache-control") ?? "").toLowerCase();
  if (/(^|,)\s*(no-cache|no-store)\s*(,|$)/.test(cc)) return false;
  return !(field("pragma") ?? "").toLowerCase().includes("no-cache");
}

/**
 * How long (seconds) a response may be stored in the shared cache for this
 * request; 0 when it must not be stored.
 */
export function sharedCacheTtl(request: Request, response: Response): number {
  if (request.method !== "GET") return 0;
  // A shared cache never stores no-store or private responses (RFC 9111 §5.2.2.5, §5.2.2.7): asked first, since an
  // API origin's answers are often no-store and then no other field need be read (each read is a call into the runtime).
  if (/(^|,)\s*(no-store|private)\s*(=|,|$)/i.test(response.headers.get("cache-control") ?? "")) return 0;
  if (response.headers.has("set-cookie")) return 0;
  const vary = (response.headers.get("vary") ?? "")
    .split(",")
    .map((v) => v.trim().toLowerCase())
    .filter(Boolean);
  if (vary.some((v) => v !== "accept-encoding")) return 0;
  const policy = new CachePolicy(
    { method: request.method, url: new URL(request.url).pathname, headers: headerObject(request.headers) },
    { status: response.status, headers: headerObject(response.headers) },
    { shared: true },
  );
  if (!policy.storable()) return 0;
  return Math.floor(policy.timeToLive() / 1000);
}

const ORIGINAL_CACHE_CONTROL = "x-rampart-origin-cache-control";

/**
 * The copy to store: the origin's response with its freshness restated for
 * the cache's own expiry; the origin's `Cache-Control` travels along and is
 * restored when the copy is served (`fromCache`).
 */
export function cacheCopy(response: Response, ttlSeconds: number): Response {
  const copy = new Response(response.body, response);
  const original = response.headers.get("cache-control");
  if (original !== null) copy.headers.set(ORIGINAL_CACHE_CONTROL, original);
  copy.headers.set("cache-control", `public, max-age=${ttlSeconds}`);
  return copy;
}

/** A stored copy as the client should see it: the origin's own `Cache-Control` back in place. */
export function fromCache(stored: Response): Response {
  const response = new Response(stored.body, stored);
  const original = response.headers.get(ORIGINAL_CACHE_CONTROL);
  response.headers.delete(ORIGINAL_CACHE_CONTROL);
  if (original === null) response.headers.delete("cache-control");
  else response.headers.set("cache-control", original);
  return response;
}
