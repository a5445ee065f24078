/**
 * Admin authentication: `Authorization: Bearer <token>` against ADMIN_TOKEN
 * (read and write) or READ_TOKEN (read only). Tokens are compared through
 * their SHA-256 digests in constant time, so the comparison leaks neither
 * content nor length.
 */
import { createMiddleware } from "hono/factory";
import { API_TOKEN_PATTERN, bootstrapPermissions, grantsOf, needOf, permissionsAnywhere, permissionsOn, type Grant, type Identity, type Permission } from "../core/access";
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
  caller: Caller;
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

/** A verified caller and the grants that apply to it (a bootstrap token has no grants: its permissions are fixed). */
export interface Caller {
  identity: Identity;
  grants: Grant[];
  /** The audit's actor: the verified identity, with the claimed `X-Rampart-Actor` name only added to it. */
  actor: string;
  /** What the caller may do on `flag` (null: on no flag in particular, which only unlimited grants cover). */
  permissionsOn(flag: string | null): Set<Permission>;
  /** What the caller may do on at least one flag. */
  permissionsAnywhere(): Set<Permission>;
}

/**
 * Who is calling: a bootstrap token, an API token, a Cloudflare Access token
 * or an OIDC token, in that order; 401 naming what to send when none is
 * valid. The admin API and the MCP endpoint both start here.
 */
export async function identify(env: Env, headers: Headers): Promise<Caller> {
  const token = bearerToken(headers.get("authorization") ?? undefined);
  const config = identityConfig(env);
  const claimed = headers.get("x-rampart-actor")?.slice(0, 64).replace(/[^\w.@-]/g, "_");
  const adminToken = env.ADMIN_TOKEN;
  const bootstrap = token === null ? null : adminToken && (await secretsEqual(token, adminToken)) ? "admin" : env.READ_TOKEN && (await secretsEqual(token, env.READ_TOKEN)) ? "read" : null;
  if (bootstrap !== null) {
    // Break-glass: the two shared tokens, audited as such (their name is only claimed).
    const fixed = bootstrapPermissions(bootstrap);
    return { identity: { kind: "bootstrap", subject: bootstrap, groups: [] }, grants: [], actor: claimed ? `${bootstrap}:${claimed}` : bootstrap, permissionsOn: () => fixed, permissionsAnywhere: () => fixed };
  }
  let identity: Identity;
  let grants: Grant[];
  const accessJwt = headers.get("cf-access-jwt-assertion");
  const apiToken = token === null ? null : API_TOKEN_PATTERN.exec(token);
  if (apiToken && token !== null) {
    // A machine's token: its own role and prefixes are its grant.
    const checked = await registryStub(env).checkToken(apiToken[1] as string, await tokenHash(token), Date.now());
    if (!checked.ok) throw unauthorized(checked.reason === "unknown" ? "the token is not valid" : checked.reason === "revoked" ? "the token has been revoked" : "the token has expired");
    identity = { kind: "token", subject: `token:${checked.token.name}`, groups: [] };
    grants = [{ kind: "user", subject: identity.subject, role: checked.token.role, ...(checked.token.prefixes ? { prefixes: checked.token.prefixes } : {}), createdBy: checked.token.createdBy, createdAt: checked.token.createdAt }];
  } else {
    if (config.access && accessJwt) identity = await verifyIdentity(accessJwt, "access", config.access);
    else if (config.oidc && token !== null && looksLikeJwt(token)) identity = await verifyIdentity(token, "oidc", config.oidc);
    else if (token !== null) throw unauthorized("the token is not valid");
    else if (!adminToken && !config.access && !config.oidc) throw unauthorized("the admin API is disabled: set the ADMIN_TOKEN secret, or configure Cloudflare Access or OIDC");
    else throw unauthorized(config.access ? "sign in through Cloudflare Access, or send Authorization: Bearer <token>" : "send Authorization: Bearer <token>");
    grants = grantsOf(identity, await registryStub(env).listGrants());
  }
  return {
    identity,
    grants,
    actor: claimed ? `${identity.subject} (claims ${claimed})` : identity.subject,
    permissionsOn: (flag) => permissionsOn(grants, flag),
    permissionsAnywhere: () => permissionsAnywhere(grants),
  };
}

/** 403 naming the permission a caller lacks, the flag it concerns and what the caller holds. */
export function forbidden(caller: Caller, permission: Permission, flag: string | null): AppError {
  const { identity, grants } = caller;
  const held = identity.kind === "bootstrap" ? "the read-only bootstrap token (READ_TOKEN)" : grants.length === 0 ? `${identity.subject}, who has no grant` : `${identity.subject} (${grants.map((g) => `${g.role}${g.prefixes ? ` on ${g.prefixes.join(", ")}` : ""}`).join("; ")})`;
  return new AppError(403, "forbidden", `this needs the "${permission}" permission${flag !== null ? ` on flag "${flag}"` : ""}; it was asked by ${held}`, [{ path: "permission", message: permission }]);
}

/**
 * Every admin route: who is calling (`identify`) and whether their grants
 * hold the one permission the route needs (`core/access.ts`); 401 for no
 * valid identity, 403 naming the missing permission.
 */
export const requireAdmin = createMiddleware<{ Bindings: Env; Variables: AuthVariables }>(async (c, next) => {
  // 1. The identity.
  const caller = await identify(c.env, c.req.raw.headers);
  // 2. What its grants allow on what the route concerns.
  const need = needOf(c.req.method, c.req.path.replace(/^\/admin(?=\/|$)/, ""), c.req.query("flag"));
  const permissions = need.anyFlag ? caller.permissionsAnywhere() : caller.permissionsOn(need.flag);
  // 3. The route's one permission.
  if (!permissions.has(need.permission)) throw forbidden(caller, need.permission, need.flag);
  c.set("identity", caller.identity);
  c.set("caller", caller);
  c.set("permissions", permissions);
  c.set("role", permissions.has("act") ? "admin" : "read");
  c.set("actor", caller.actor);
  await next();
});

/** The stored form of an API token: the SHA-256 of the whole token, in hex. */
export async function tokenHash(token: string): Promise<string> {
  return Array.from(await digest(token), (b) => b.toString(16).padStart(2, "0")).join("");
}
