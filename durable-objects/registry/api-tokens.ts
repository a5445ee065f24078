/**
 * API tokens for machines, CI and agents (table `api_tokens`, registry
 * migration 11): each stored as the SHA-256 of its secret, with a role,
 * prefixes, an expiry and when it was last used; revoked tokens are kept,
 * marked. Rows are decoded once through their schema.
 */
import { ApiTokenSchema, type ApiToken, type TokenRequest } from "../../core/access";
import type { Sql } from "../sql";

interface TokenRow extends Record<string, string | number | null> {
  id: string;
  name: string;
  hash: string;
  role: string;
  prefixes: string | null;
  expires_at: number | null;
  created_by: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

const decode = (row: TokenRow): ApiToken =>
  ApiTokenSchema.parse({
    id: row.id, name: row.name, role: row.role,
    ...(row.prefixes !== null ? { prefixes: JSON.parse(row.prefixes) as unknown } : {}),
    ...(row.expires_at !== null ? { expiresAt: row.expires_at } : {}),
    createdBy: row.created_by, createdAt: row.created_at, lastUsedAt: row.last_used_at, revokedAt: row.revoked_at,
  });

/** Last-used times are written at most this often per token (a busy agent would otherwise write on every call). */
const LAST_USED_RESOLUTION_MS = 60_000;

export type TokenCheck = { ok: true; token: ApiToken } | { ok: false; reason: "unknown" | "revoked" | "expired" };

export class ApiTokens {
  constructor(private readonly sql: Sql) {}

  add(id: string, hash: string, request: TokenRequest, actor: string, now: number): ApiToken {
    this.sql.run(
      "INSERT INTO api_tokens (id, name, hash, role, prefixes, expires_at, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      id, request.name, hash, request.role, request.prefixes ? JSON.stringify(request.prefixes) : null, request.expiresAt ?? null, actor, now,
    );
    return this.get(id) as ApiToken;
  }

  get(id: string): ApiToken | null {
    const row = this.sql.first<TokenRow>("SELECT * FROM api_tokens WHERE id = ?", id);
    return row === null ? null : decode(row);
  }

  all(): ApiToken[] {
    return this.sql.all<TokenRow>("SELECT * FROM api_tokens ORDER BY created_at").map(decode);
  }

  /** The token whose id and secret hash match, if it is live; records its use. */
  check(id: string, hash: string, now: number): TokenCheck {
    const row = this.sql.first<TokenRow>("SELECT * FROM api_tokens WHERE id = ?", id);
    if (row === null || !sameHash(row.hash, hash)) return { ok: false, reason: "unknown" };
    if (row.revoked_at !== null) return { ok: false, reason: "revoked" };
    if (row.expires_at !== null && row.expires_at <= now) return { ok: false, reason: "expired" };
    if (row.last_used_at === null || now - row.last_used_at >= LAST_USED_RESOLUTION_MS) {
      this.sql.run("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", now, id);
      row.last_used_at = now;
    }
    return { ok: true, token: decode(row) };
  }

  /** Marks a token revoked; false when there is no live token of that id. */
  revoke(id: string, now: number): ApiToken | null {
    const rows = this.sql.all<TokenRow>("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING *", now, id);
    return rows[0] ? decode(rows[0]) : null;
  }
}

/** Equality of two hex digests without an early exit. */
function sameHash(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
