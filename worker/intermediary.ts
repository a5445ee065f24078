/**
 * What an HTTP intermediary must do to the messages it forwards (RFC 9110
 * §7.6): drop hop-by-hop fields — the standard ones and any the
 * `Connection` field lists — in both directions, record itself in `Via`,
 * and say who the client was in `Forwarded` (RFC 7239) and the de facto
 * `X-Forwarded-*`, set by Rampart from what the platform saw rather than
 * passed on from the client (a client can write any `X-Forwarded-For`).
 */

import type { RequestTarget } from "./request-url";

/** Hop-by-hop fields (RFC 9110 §7.6.1), plus the non-standard ones proxies drop alike. */
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"];

/** Fields that carry the caller's credentials (not sent to a shadow origin unless the route says so). */
export const CREDENTIAL_FIELDS = ["authorization", "cookie", "proxy-authorization"];

const HOP_BY_HOP_SET: ReadonlySet<string> = new Set(HOP_BY_HOP);

/**
 * The hop-by-hop field names of a message: the standard ones and those its
 * `Connection` field lists. The common `Connection: keep-alive` lists only a
 * standard one, and gets the standard set rather than a copy of it.
 */
function hopByHopNames(connection: string | null): ReadonlySet<string> {
  if (connection === null) return HOP_BY_HOP_SET;
  let names: Set<string> | null = null;
  for (const name of connection.split(",")) {
    const trimmed = name.trim().toLowerCase();
    if (HOP_BY_HOP_SET.has(trimmed) || !/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(trimmed)) continue;
    (names ??= new Set(HOP_BY_HOP)).add(trimmed);
  }
  return names ?? HOP_BY_HOP_SET;
}

/** A Forwarded parameter value (RFC 7239 §4): a token as it is, anything else (an IPv6 address, host:port) quoted. */
function forwardedValue(value: string): string {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value) ? value : `"${value.replace(/["\\]/g, "\\$&")}"`;
}

/** Fields a client may not pass through as they are: Rampart sets them from what the platform saw (Via it extends). */
const FORWARDING_FIELDS: ReadonlySet<string> = new Set(["host", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "forwarded", "via"]);

/**
 * Fields that only mean something in a protocol upgrade's handshake — the
 * WebSocket opening handshake (RFC 6455 §4.1) and HTTP/2 over cleartext
 * (RFC 7540 §3.2.1). Rampart never upgrades a routed request (`Upgrade` is
 * hop-by-hop and withheld), so these are withheld too: an origin must not
 * be asked to start a handshake that the proxy will not carry.
 */
const HANDSHAKE_FIELDS: ReadonlySet<string> = new Set(["sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-protocol", "http2-settings"]);

/** What the proxy reads from an incoming request's header fields, gathered in one pass over them. */
export interface IncomingFields {
  /** The value of a field the proxy looks at (READ_FIELDS; lowercase names); null when absent. */
  get: (name: string) => string | null;
  /** Fields present that must not go upstream as they are: hop-by-hop ones and the client's forwarding claims. */
  withheld: string[];
}

/** Field names the proxy reads (sticky id, scope, caching rules, forwarding). */
const READ_FIELDS: ReadonlySet<string> = new Set(["x-rampart-id", "cookie", "x-rampart-tenant", "x-rampart-region", "authorization", "cache-control", "pragma", "cf-connecting-ip", "via", "connection"]);

/**
 * The values the proxy reads from a request, and which of its fields must
 * be withheld from the origin, in one pass over them — each access to a
 * field is a call into the runtime, and a routed request used to make some
 * forty (npm run bench:edge -- --profile routed). Withheld: the hop-by-hop
 * fields (the standard ones and those the request's `Connection` lists),
 * an upgrade's handshake fields and the client's forwarding claims.
 *
 * The runtime consumes the client's `Connection` field before the Worker
 * runs when it lists no `Upgrade` (`Connection: x-secret-hop` reaches the
 * Worker as `x-secret-hop` alone), so the names it listed cannot be known
 * here; `docs/design.md` ("Hop-by-hop fields") has the evidence.
 */
export function incomingFields(request: Request): IncomingFields {
  const read = new Map<string, string>();
  const names: string[] = [];
  for (const [name, value] of request.headers) {
    names.push(name);
    if (READ_FIELDS.has(name)) read.set(name, value);
  }
  const hopByHop = hopByHopNames(read.get("connection") ?? null);
  const withheld = names.filter((name) => hopByHop.has(name) || FORWARDING_FIELDS.has(name) || HANDSHAKE_FIELDS.has(name));
  return { get: (name) => read.get(name) ?? null, withheld };
}

/** Rampart's hop in a message's Via field (RFC 9110 §7.6.3), after any the message already lists. */
function viaWithRampart(via: string | null | undefined): string {
  return via ? `${via}, 1.1 rampart` : "1.1 rampart";
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
  headers.set("via", viaWithRampart(incoming.get("via")));
  return headers;
}

/** A copy of the forwarded headers for a shadow origin: the caller's credentials removed unless asked for. */
export function shadowRequestHeaders(forwarded: Headers, forwardCredentials: boolean): Headers {
  const headers = new Headers(forwarded);
  if (!forwardCredentials) for (const name of CREDENTIAL_FIELDS) headers.delete(name);
  return headers;
}

/**
 * The origin's response as the client may see it: the same status and
 * body, hop-by-hop fields gone, Via extended. The answer is made once from
 * the origin's (the runtime copies its fields in that one call, keeping each
 * Set-Cookie field apart) and its own, mutable fields are trimmed — not
 * copied into a Headers first and copied again into the Response. Deleting
 * the hop-by-hop names outright costs fewer calls into the runtime than
 * listing the fields to find which are present.
 */
export function forwardResponse(response: Response, body: ReadableStream | null): Response {
  const outgoing = new Response(body, response);
  const headers = outgoing.headers;
  const via = headers.get("via");
  for (const name of hopByHopNames(headers.get("connection"))) headers.delete(name);
  headers.set("via", viaWithRampart(via));
  return outgoing;
}

