/**
 * Who may do what: roles granted to people and groups (optionally limited
 * to flag-key prefixes), the one named permission every admin route needs,
 * and the decision between them. Pure: the identity comes verified
 * (`worker/identity.ts`), the grants from the registry.
 *
 * viewer reads; operator acts on rollouts (promote, pause, roll back,
 * kill, schedules); approver approves stages; admin also writes specs,
 * segments and manifests, and manages grants.
 */
import { z } from "zod";

export const ROLES = ["viewer", "operator", "approver", "admin"] as const;
export type AccessRole = (typeof ROLES)[number];
export const PERMISSIONS = ["read", "act", "approve", "write", "grant"] as const;
export type Permission = (typeof PERMISSIONS)[number];

const ROLE_PERMISSIONS: Readonly<Record<AccessRole, readonly Permission[]>> = {
  viewer: ["read"],
  operator: ["read", "act"],
  approver: ["read", "approve"],
  admin: ["read", "act", "approve", "write", "grant"],
};

/** A prefix of flag keys a grant is limited to, written with a trailing `*` ("search-*"). */
export const KeyPrefixSchema = z.string().regex(/^[A-Za-z0-9._-]{0,127}\*$/, 'a flag-key prefix ending in *, like "search-*"');
export const GrantKindSchema = z.enum(["user", "group"]);
export type GrantKind = z.infer<typeof GrantKindSchema>;
export const GrantSubjectSchema = z.string().min(1).max(256).regex(/^\S+$/, "an email, a subject or a group name, without spaces");

export const GrantRequestSchema = z.strictObject({
  role: z.enum(ROLES),
  /** Absent: every flag. */
  prefixes: z.array(KeyPrefixSchema).min(1).max(20).optional(),
});
export type GrantRequest = z.infer<typeof GrantRequestSchema>;

export const GrantSchema = GrantRequestSchema.extend({
  kind: GrantKindSchema,
  subject: GrantSubjectSchema,
  createdBy: z.string(),
  createdAt: z.number(),
});
export type Grant = z.infer<typeof GrantSchema>;

/** A verified caller: a person (Access, OIDC) with their groups, or a bootstrap token. */
export interface Identity {
  kind: "access" | "oidc" | "token" | "bootstrap";
  /** The email when there is one, else the token's subject; for bootstrap, "admin" or "read". */
  subject: string;
  groups: readonly string[];
}

/** What a route needs: a permission, and the flag it concerns when it names one. */
export interface Need {
  permission: Permission;
  flag: string | null;
  /**
   * Held on any flag suffices: the routes that answer for each caller what
   * it may see (who am I, the flag list filtered to the caller's prefixes).
   */
  anyFlag?: true;
}

/**
 * The one permission each admin route needs (paths under /admin). Reads
 * need `read`; operator actions and schedules `act`; approvals `approve`;
 * grants `grant`; every other write `write`.
 */
export function needOf(method: string, path: string, flagQuery?: string): Need {
  const flag = /^\/flags\/([^/]+)/.exec(path)?.[1] ?? null;
  const key = flag === null ? null : safeDecode(flag);
  const read = method === "GET" || method === "HEAD";
  // The audit read for one flag (`?flag=`) concerns that flag: a prefix-limited grant reads its flags' trail.
  if (read && (path === "/audit" || path === "/audit/export")) return { permission: "read", flag: flagQuery ?? null };
  if (path.startsWith("/grants")) return { permission: read ? "read" : "grant", flag: null };
  // Tokens are credentials: listing them is for those who may make them.
  if (path.startsWith("/tokens")) return { permission: "grant", flag: null };
  if (read && (path === "/whoami" || path === "/flags")) return { permission: "read", flag: null, anyFlag: true };
  if (read) return { permission: "read", flag: key };
  if (/^\/flags\/[^/]+\/(actions|schedules|approval-requests)(\/|$)/.test(path)) return { permission: "act", flag: key };
  if (/^\/flags\/[^/]+\/approve$/.test(path)) return { permission: "approve", flag: key };
  return { permission: "write", flag: key };
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The grants that apply to an identity: its own (by subject) and its groups'. */
export function grantsOf(identity: Identity, grants: readonly Grant[]): Grant[] {
  return grants.filter((g) => (g.kind === "user" ? g.subject === identity.subject : identity.groups.includes(g.subject)));
}

const covers = (grant: Pick<Grant, "prefixes">, flag: string | null): boolean =>
  grant.prefixes === undefined || (flag !== null && grant.prefixes.some((p) => flag.startsWith(p.slice(0, -1))));

/** Every permission the grants give, on `flag` (null: a route about no single flag, which only unlimited grants cover). */
export function permissionsOn(grants: readonly Grant[], flag: string | null): Set<Permission> {
  const out = new Set<Permission>();
  for (const g of grants) if (covers(g, flag)) for (const p of ROLE_PERMISSIONS[g.role]) out.add(p);
  return out;
}

/** Every permission the grants give on at least one flag (a prefix-limited grant counts). */
export function permissionsAnywhere(grants: readonly Grant[]): Set<Permission> {
  const out = new Set<Permission>();
  for (const g of grants) for (const p of ROLE_PERMISSIONS[g.role]) out.add(p);
  return out;
}

/** The permissions of a bootstrap token: ADMIN_TOKEN all of them, READ_TOKEN reading. */
export function bootstrapPermissions(role: "admin" | "read"): Set<Permission> {
  return new Set(role === "admin" ? PERMISSIONS : ["read"]);
}

/** An API token as asked for: a name for people, a role, optionally prefixes and an expiry. */
export const TokenRequestSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "token names use only A-Z a-z 0-9 . _ - (1–64 characters)"),
  role: z.enum(ROLES),
  prefixes: z.array(KeyPrefixSchema).min(1).max(20).optional(),
  /** Milliseconds since the epoch, or absent: until revoked. */
  expiresAt: z.int().min(0).optional(),
});
export type TokenRequest = z.infer<typeof TokenRequestSchema>;

/** A stored token as listed (never its secret). */
export const ApiTokenSchema = TokenRequestSchema.extend({
  id: z.string().regex(/^[0-9a-f]{12}$/),
  createdBy: z.string(),
  createdAt: z.number(),
  lastUsedAt: z.number().nullable(),
  revokedAt: z.number().nullable(),
});
export type ApiToken = z.infer<typeof ApiTokenSchema>;

/** Tokens look like `rmp_<12 hex id>_<secret>`: the id finds the row, the secret's SHA-256 is compared. */
export const API_TOKEN_PATTERN = /^rmp_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;
