/**
 * Admin authentication: `Authorization: Bearer <token>` against ADMIN_TOKEN
 * (read and write) or READ_TOKEN (read only). Tokens are compared through
 * their SHA-256 digests in constant time, so the comparison leaks neither
 * content nor length.
 */
import { createMiddleware } from "hono/factory";
import { API_TOKEN_PATTERN, bootstrapPermissions, grantsOf, needOf, permissionsOn, type Grant, type Identity, type Permission } from "../core/access";
import { registryStub } from "../durable-objects/registry/stub";
import { AppError } from "./errors";
import { identityConfig, looksLikeJwt, verifyIdentity } from "./identity";

export type Role = "admin" | "read";
export interface AuthVariables {
  /** The dashboard's coarse view: "admin" when the caller may act, else "read". */
  role: Role;
  actor: string;
  identity: Identity;
  permissions: ReadonlySet<Permission>;
}

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/** Constant-time equality of two secrets (compares fixed-size digests). */
export async function secretsEqual(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([digest(given), digest(expected)]);
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  return /^Bearer\s+(\S+)\s*$/i.exec(header ?? "")?.[1] ?? null;
}

const unauthorized = (message: string) => new AppError(401, "unauthorized", message, undefined, { "WWW-Authenticate": 'Bearer realm="rampart-admin"' });

/**
 * Every admin route: who is calling (a bootstrap token, a Cloudflare Access
 * token, an OIDC token) and whether their grants hold the one permission the
 * route needs (`core/access.ts`); 401 for no valid identity, 403 naming the
 * missing permission. The audit's actor comes from the verified identity;
 * `X-Rampart-Actor` only adds a claimed name to it.
 */
export const requireAdmin = createMiddleware<{ Bindings: Env; Variables: AuthVariables }>(async (c, next) => {
  // 1. The identity.
  const token = bearerToken(c.req.header("authorization"));
  const config = identityConfig(c.env);
  const claimed = c.req.header("x-rampart-actor")?.slice(0, 64).replace(/[^\w.@-]/g, "_");
  let identity: Identity;
  let permissions: Set<Permission>;
  const adminToken = c.env.ADMIN_TOKEN;
  const bootstrap = token === null ? null : adminToken && (await secretsEqual(token, adminToken)) ? "admin" : c.env.READ_TOKEN && (await secretsEqual(token, c.env.READ_TOKEN)) ? "read" : null;
  const need = needOf(c.req.method, c.req.path.replace(/^\/admin(?=\/|$)/, ""));
  let grants: Grant[] = [];
  if (bootstrap !== null) {
    // Break-glass: the two shared tokens, audited as such (their name is only claimed).
    identity = { kind: "bootstrap", subject: bootstrap, groups: [] };
    permissions = bootstrapPermissions(bootstrap);
  } else {
    const accessJwt = c.req.header("cf-access-jwt-assertion");
    const apiToken = token === null ? null : API_TOKEN_PATTERN.exec(token);
    if (apiToken && token !== null) {
      // A machine's token: its own role and prefixes are its grant.
      const checked = await registryStub(c.env).checkToken(apiToken[1] as string, await tokenHash(token), Date.now());
      if (!checked.ok) throw unauthorized(checked.reason === "unknown" ? "the token is not valid" : checked.reason === "revoked" ? "the token has been revoked" : "the token has expired");
      identity = { kind: "token", subject: `token:${checked.token.name}`, groups: [] };
      grants = [{ kind: "user", subject: identity.subject, role: checked.token.role, ...(checked.token.prefixes ? { prefixes: checked.token.prefixes } : {}), createdBy: checked.token.createdBy, createdAt: checked.token.createdAt }];
    } else if (config.access && accessJwt) identity = await verifyIdentity(accessJwt, "access", config.access);
    else if (config.oidc && token !== null && looksLikeJwt(token)) identity = await verifyIdentity(token, "oidc", config.oidc);
    else if (token !== null) throw unauthorized("the token is not valid");
    else if (!adminToken && !config.access && !config.oidc) throw unauthorized("the admin API is disabled: set the ADMIN_TOKEN secret, or configure Cloudflare Access or OIDC");
    else throw unauthorized(config.access ? "sign in through Cloudflare Access, or send Authorization: Bearer <token>" : "send Authorization: Bearer <token>");
    // 2. What its grants allow on what the route concerns.
    if (identity.kind !== "token") grants = grantsOf(identity, await registryStub(c.env).listGrants());
    permissions = permissionsOn(grants, need.flag);
  }
  // 3. The route's one permission.
  if (!permissions.has(need.permission)) {
    const held = identity.kind === "bootstrap" ? "the read-only bootstrap token (READ_TOKEN)" : grants.length === 0 ? `${identity.subject}, who has no grant` : `${identity.subject} (${grants.map((g) => `${g.role}${g.prefixes ? ` on ${g.prefixes.join(", ")}` : ""}`).join("; ")})`;
    throw new AppError(403, "forbidden", `this needs the "${need.permission}" permission${need.flag !== null ? ` on flag "${need.flag}"` : ""}; it was asked by ${held}`, [{ path: "permission", message: need.permission }]);
  }
  c.set("identity", identity);
  c.set("permissions", permissions);
  c.set("role", permissions.has("act") ? "admin" : "read");
  c.set("actor", identity.kind === "bootstrap" ? (claimed ? `${identity.subject}:${claimed}` : identity.subject) : claimed ? `${identity.subject} (claims ${claimed})` : identity.subject);
  await next();
});

/** The stored form of an API token: the SHA-256 of the whole token, in hex. */
export async function tokenHash(token: string): Promise<string> {
  return Array.from(await digest(token), (b) => b.toString(16).padStart(2, "0")).join("");
}
