/**
 * Admin authentication: `Authorization: Bearer <token>` against ADMIN_TOKEN
 * (read and write) or READ_TOKEN (read only). Tokens are compared through
 * their SHA-256 digests in constant time, so the comparison leaks neither
 * content nor length.
 */
import { createMiddleware } from "hono/factory";
import { AppError } from "./errors";

export type Role = "admin" | "read";
export interface AuthVariables {
  role: Role;
  actor: string;
}

const READ_METHODS = new Set(["GET", "HEAD"]);

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

export const requireAdmin = createMiddleware<{ Bindings: Env; Variables: AuthVariables }>(async (c, next) => {
  const adminToken = c.env.ADMIN_TOKEN;
  if (!adminToken) throw unauthorized("the admin API is disabled: set the ADMIN_TOKEN secret");
  const token = bearerToken(c.req.header("authorization"));
  if (token === null) throw unauthorized("send Authorization: Bearer <token>");
  let role: Role | null = null;
  if (await secretsEqual(token, adminToken)) role = "admin";
  else if (c.env.READ_TOKEN && (await secretsEqual(token, c.env.READ_TOKEN))) role = "read";
  if (role === null) throw unauthorized("the token is not valid");
  if (role === "read" && !READ_METHODS.has(c.req.method)) {
    throw new AppError(403, "forbidden", "this token is read-only");
  }
  c.set("role", role);
  const who = c.req.header("x-rampart-actor")?.slice(0, 64).replace(/[^\w.@-]/g, "_");
  c.set("actor", who ? `${role}:${who}` : role);
  await next();
});
