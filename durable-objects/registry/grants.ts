/**
 * Role grants in the RegistryDO (table `grants`, registry migration 10):
 * one row per person or group, each row decoded once through its schema.
 */
import { GrantSchema, type Grant, type GrantKind, type GrantRequest } from "../../core/access";
import type { Sql } from "../sql";

interface GrantRow extends Record<string, string | number | null> {
  kind: string;
  subject: string;
  role: string;
  prefixes: string | null;
  created_by: string;
  created_at: number;
}

const decode = (row: GrantRow): Grant =>
  GrantSchema.parse({
    kind: row.kind,
    subject: row.subject,
    role: row.role,
    ...(row.prefixes !== null ? { prefixes: JSON.parse(row.prefixes) as unknown } : {}),
    createdBy: row.created_by,
    createdAt: row.created_at,
  });

export class Grants {
  constructor(private readonly sql: Sql) {}

  all(): Grant[] {
    return this.sql.all<GrantRow>("SELECT * FROM grants ORDER BY kind, subject").map(decode);
  }

  /** Creates or replaces a grant; true when it was new. */
  put(kind: GrantKind, subject: string, grant: GrantRequest, actor: string, now: number): boolean {
    const existed = this.sql.first("SELECT 1 AS x FROM grants WHERE kind = ? AND subject = ?", kind, subject) !== null;
    this.sql.run(
      "INSERT OR REPLACE INTO grants (kind, subject, role, prefixes, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)",
      kind, subject, grant.role, grant.prefixes ? JSON.stringify(grant.prefixes) : null, actor, now,
    );
    return !existed;
  }

  /** Removes a grant; false when there was none. */
  delete(kind: GrantKind, subject: string): boolean {
    return this.sql.all("DELETE FROM grants WHERE kind = ? AND subject = ? RETURNING subject", kind, subject).length > 0;
  }
}
