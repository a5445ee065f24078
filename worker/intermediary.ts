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
  const listed = (headers.get("connection") ?? "")
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .filter((name) => /^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name));
  for (const name of [...HOP_BY_HOP, ...listed]) headers.delete(name);
  return headers;
}

/** Quotes a Forwarded parameter value when it is not a token (RFC 7239 §4: IPv6 addresses must be quoted). */
function forwardedValue(value: string): string {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value) ? value : `"${value.replace(/["\\]/g, "\\$&")}"`;
}

/** The request headers to send upstream: hop-by-hop fields gone, forwarding fields set by Rampart. */
export function forwardRequestHeaders(request: Request, url: URL): Headers {
  const headers = stripHopByHop(new Headers(request.headers));
  headers.delete("host");
  // Never pass on the client's own claims about the path it took.
  headers.delete("x-forwarded-for");
  headers.delete("x-forwarded-host");
  headers.delete("x-forwarded-proto");
  headers.delete("forwarded");
  const client = request.headers.get("cf-connecting-ip");
  const proto = url.protocol.replace(":", "");
  if (client) headers.set("x-forwarded-for", client);
  headers.set("x-forwarded-host", url.host);
  headers.set("x-forwarded-proto", proto);
  headers.set("forwarded", [client ? `for=${forwardedValue(client)}` : "for=unknown", `host=${forwardedValue(url.host)}`, `proto=${proto}`].join(";"));
  const via = request.headers.get("via");
  headers.set("via", via ? `${via}, 1.1 rampart` : "1.1 rampart");
  return headers;
}

/** A copy of the forwarded headers for a shadow origin: the caller's credentials removed unless asked for. */
export function shadowRequestHeaders(forwarded: Headers, forwardCredentials: boolean): Headers {
  const headers = new Headers(forwarded);
  if (!forwardCredentials) for (const name of CREDENTIAL_FIELDS) headers.delete(name);
  return headers;
}

/** The origin's response headers as the client may see them: hop-by-hop fields gone, Via added. */
export function forwardResponseHeaders(response: Response): Headers {
  const headers = stripHopByHop(new Headers(response.headers));
  const via = response.headers.get("via");
  headers.set("via", via ? `${via}, 1.1 rampart` : "1.1 rampart");
  return headers;
}
