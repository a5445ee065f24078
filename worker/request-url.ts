/**
 * A request URL split without a URL object: the runtime has parsed and
 * serialized `request.url` already (RFC 3986 §3: scheme "://" authority
 * path ["?" query]; no fragment reaches a server), and a `URL` object per
 * request — and every getter on it, each a call into the runtime — was a
 * measurable share of a routed request (npm run bench:edge -- --profile routed).
 */

/** The parts of a request URL the proxy uses. */
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

/** Where the authority of `url` ends: the path's "/", else the query's "?", else the end. */
export function pathStart(url: string): number {
  const authorityStart = url.indexOf("://") + 3;
  const slash = url.indexOf("/", authorityStart);
  const query = url.indexOf("?", authorityStart);
  if (slash >= 0 && (query < 0 || slash < query)) return slash;
  return query < 0 ? url.length : query;
}

export function requestTarget(url: string): RequestTarget {
  const schemeEnd = url.indexOf("://");
  const start = pathStart(url);
  const host = url.slice(schemeEnd + 3, start);
  const rest = url.slice(start);
  const q = rest.indexOf("?");
  const pathname = q < 0 ? rest : rest.slice(0, q);
  // "[::1]:8080" → "[::1]"; "example.com:8080" → "example.com".
  const portColon = host.lastIndexOf(":");
  const hostname = portColon > host.lastIndexOf("]") ? host.slice(0, portColon) : host;
  return { proto: url.slice(0, schemeEnd), host, hostname, pathname: pathname === "" ? "/" : pathname, search: q < 0 ? "" : rest.slice(q) };
}
