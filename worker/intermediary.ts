/**
 * What an HTTP intermediary must do to the messages it forwards (RFC 9110
 * §7.6): drop hop-by-hop fields — the standard ones and any the
 * `Connection` field lists — in both directions, record itself in `Via`,
 * and say who the client was in `Forwarded` (RFC 7239) and the de facto
 * `X-Forwarded-*`, set by Rampart from what the platform saw rather than
 * passed on from the client (a client can write any `X-Forwarded-For`).
 */

/** Hop-by-hop fields (RFC 9110 §7.6.1), plus the non-standard ones proxies drop alike. */
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"];

/** Fields that carry the caller's credentials (not sent to a shadow origin unless the route says so). */
export const CREDENTIAL_FIELDS = ["authorization", "cookie", "proxy-authorization"];

/** Removes hop-by-hop fields, including those named by `Connection`, in place. */
export function stripHopByHop(headers: Headers): Headers {
  for (const name of hopByHopNames(headers.get("connection"))) headers.delete(name);
  return headers;
}

const HOP_BY_HOP_SET: ReadonlySet<string> = new Set(HOP_BY_HOP);

/** The hop-by-hop field names of a message: the standard ones and those its `Connection` field lists. */
function hopByHopNames(connection: string | null): ReadonlySet<string> {
  if (connection === null) return HOP_BY_HOP_SET;
  const names = new Set(HOP_BY_HOP);
  for (const name of (connection ?? "").split(",")) {
    const trimmed = name.trim().toLowerCase();
    if (/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(trimmed)) names.add(trimmed);
  }
  return names;
}

/** A Forwarded parameter value (RFC 7239 §4): a token as it is, anything else quoted. */
function forwardedValue(value: string): string {
  if (value === lastForwarded.value) return lastForwarded.encoded;
  const encoded = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value) ? value : `"${value.replace(/["\\]/g, "\\$&")}"`;
  lastForwarded = { value, encoded };
  return encoded;
}
/** The last value encoded: a Worker's host is the same on every request. */
let lastForwarded = { value: "", encoded: "" };

/** Fields a client may not pass through as they are: Rampart sets them from what the platform saw (Via it extends). */
const FORWARDING_FIELDS = new Set(["host", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "forwarded", "via"]);

/** The parts of a request URL the proxy uses, split from `request.url` (already parsed and serialized by the runtime). */
export interface RequestTarget {
  /** "http" or "https". */
  proto: string;
  /** host[:port], as in the URL. */
  host: string;
  /** The host without its port. */
  hostname: string;
  pathname: string;
  /** "" or "?…". */
  search: string;
}

/** A request URL split without a URL object: the runtime has serialized it already (RFC 3986 §3: scheme "://" authority path ["?" query]). */
export function requestTarget(url: string): RequestTarget {
  const schemeEnd = url.indexOf("://");
  const authorityStart = schemeEnd + 3;
  let pathStart = url.indexOf("/", authorityStart);
  const queryStart = url.indexOf("?", authorityStart);
  if (pathStart < 0 || (queryStart >= 0 && queryStart < pathStart)) pathStart = queryStart < 0 ? url.length : queryStart;
  const host = url.slice(authorityStart, pathStart);
  const rest = url.slice(pathStart);
  const q = rest.indexOf("?");
  const pathname = q < 0 ? rest : rest.slice(0, q);
  // "[::1]:8080" → "[::1]"; "example.com:8080" → "example.com".
  const portColon = host.lastIndexOf(":");
  const hostname = portColon > host.lastIndexOf("]") ? host.slice(0, portColon) : host;
  return { proto: url.slice(0, schemeEnd), host, hostname, pathname: pathname === "" ? "/" : pathname, search: q < 0 ? "" : rest.slice(q) };
}

/** What the proxy reads from an incoming request's header fields, gathered in one pass over them. */
export interface IncomingFields {
  /** The value of a field the proxy looks at (READ_FIELDS; lowercase names); null when absent. */
  get: (name: string) => string | null;
  /** Fields present that must not go upstream as they are: hop-by-hop ones and the client's forwarding claims. */
  withheld: string[];
}

/** Field names the proxy reads (sticky id, scope, caching rules, forwarding). */
const READ_FIELDS = new Set(["x-rampart-id", "cookie", "x-rampart-tenant", "x-rampart-region", "authorization", "cache-control", "pragma", "cf-connecting-ip", "via", "connection"]);

/**
 * One pass over a request's header fields — each access to a field is a
 * call into the runtime, and a routed request used to make some forty
 * (npm run bench:edge -- --profile routed): the values the proxy reads,
 * and which of the fields present must be withheld from the origin.
 */
export function incomingFields(request: Request): IncomingFields {
  const read = new Map<string, string>();
  const names: string[] = [];
  for (const [name, value] of request.headers) {
    names.push(name);
    if (READ_FIELDS.has(name)) read.set(name, value);
  }
  const hopByHop = hopByHopNames(read.get("connection") ?? null);
  return { get: (name) => read.get(name) ?? null, withheld: names.filter((name) => hopByHop.has(name) || FORWARDING_FIELDS.has(name)) };
}

/**
 * The request fields to send upstream (RFC 9110 §7.6): a copy of the
 * client's (the runtime copies them in one call) without the withheld ones,
 * and the forwarding fields set by Rampart from what the platform saw.
 */
export function forwardedHeaders(request: Request, incoming: IncomingFields, target: RequestTarget): Headers {
  const headers = new Headers(request.headers);
  for (const name of incoming.withheld) headers.delete(name);
  const client = incoming.get("cf-connecting-ip");
  if (client) headers.set("x-forwarded-for", client);
  headers.set("x-forwarded-host", target.host);
  headers.set("x-forwarded-proto", target.proto);
  headers.set("forwarded", [client ? `for=${forwardedValue(client)}` : "for=unknown", `host=${forwardedValue(target.host)}`, `proto=${target.proto}`].join(";"));
  const via = incoming.get("via");
  headers.set("via", via ? `${via}, 1.1 rampart` : "1.1 rampart");
  return headers;
}

/** A copy of the forwarded headers for a shadow origin: the caller's credentials removed unless asked for. */
export function shadowRequestHeaders(forwarded: Headers, forwardCredentials: boolean): Headers {
  const headers = new Headers(forwarded);
  if (!forwardCredentials) for (const name of CREDENTIAL_FIELDS) headers.delete(name);
  return headers;
}

/**
 * The origin's response headers as the client may see them: hop-by-hop
 * fields gone, Via added. A copy (which keeps each Set-Cookie field
 * apart); only the hop-by-hop fields present are deleted, found in one pass.
 */
export function forwardResponseHeaders(response: Response): Headers {
  const headers = new Headers(response.headers);
  let present: string[] | null = null;
  let connection: string | null = null;
  let via: string | null = null;
  for (const [name, value] of headers) {
    if (name === "connection") connection = value;
    else if (name === "via") via = value;
    if (HOP_BY_HOP.includes(name)) (present ??= []).push(name);
  }
  if (connection !== null) for (const name of hopByHopNames(connection)) headers.delete(name);
  else if (present !== null) for (const name of present) headers.delete(name);
  headers.set("via", via ? `${via}, 1.1 rampart` : "1.1 rampart");
  return headers;
}
