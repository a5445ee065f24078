/**
 * The RegistryDO's audit log in SQLite (table from `schema.ts`):
 * one entry per admin write, operator action and state change, bounded to
 * the newest AUDIT_KEEP entries; each row is decoded once through its
 * schema when read.
 */
import { z } from "zod";
import type { AuditEntry } from "./types";
import type { Sql } from "../sql";

/** Audit entries kept (the oldest beyond this are deleted). */
const AUDIT_KEEP = 100_000;

/** What is audited: who did what to which flag, and the words for people. */
export interface NewAuditEntry {
  at: number;
  actor: string;
  action: string;
  flag: string | null;
  summary: string;
  specHash?: string | null;
  /** With a decision id the entry is written at most once per flag, wave and decision (a replayed state report adds nothing). */
  decisionId?: number | null;
  /** The region wave whose object took the decision (decision ids are per object); 1 for a flag without waves. */
  wave?: number;
  /** The key id that signed the spec (deployments that take only signed specs). */
  signingKey?: string | null;
}

export interface AuditFilter {
  from: number;
  to: number;
  flag?: string;
  /** An actor, or a prefix ending in `*`. */
  actor?: string;
}

const AuditRowSchema = z
  .object({ id: z.number(), at: z.number(), actor: z.string(), action: z.string(), flag: z.string().nullable(), spec_hash: z.string().nullable(), signing_key: z.string().nullable().optional(), summary: z.string() })
  .transform((r): AuditEntry => ({ id: r.id, at: r.at, actor: r.actor, action: r.action, flag: r.flag, specHash: r.spec_hash, signingKey: r.signing_key ?? null, summary: r.summary }));

export class AuditLog {
  constructor(private readonly sql: Sql) {}

  /** Appends an entry; false when its flag and decision id were already audited. */
  append(entry: NewAuditEntry): boolean {
    const inserted = this.sql.all(
      "INSERT OR IGNORE INTO audit (at, actor, action, flag, spec_hash, summary, decision_id, wave, signing_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
      entry.at, entry.actor, entry.action, entry.flag, entry.specHash ?? null, entry.summary, entry.decisionId ?? null, entry.wave ?? 1, entry.signingKey ?? null,
    ).length > 0;
    this.sql.run("DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - ?", AUDIT_KEEP);
    return inserted;
  }

  /**
   * Entries after `afterId`, oldest first, within [from, to), optionally of
   * one flag and one actor (or actors starting with a prefix: "admin:*"):
   * one page of an export.
   */
  page(afterId: number, limit: number, filter: AuditFilter): AuditEntry[] {
    const where = ["id > ?", "at >= ?", "at < ?"];
    const params: (string | number)[] = [afterId, filter.from, filter.to];
    if (filter.flag !== undefined) {
      where.push("flag = ?");
      params.push(filter.flag);
    }
    if (filter.actor !== undefined) {
      if (filter.actor.endsWith("*")) {
        where.push("substr(actor, 1, ?) = ?");
        params.push(filter.actor.length - 1, filter.actor.slice(0, -1));
      } else {
        where.push("actor = ?");
        params.push(filter.actor);
      }
    }
    return this.sql.all(`SELECT * FROM audit WHERE ${where.join(" AND ")} ORDER BY id LIMIT ?`, ...params, limit).map((row) => AuditRowSchema.parse(row));
  }

  /** The newest entries first, for one flag or all. */
  newest(limit: number, flag?: string): AuditEntry[] {
    const rows = flag === undefined ? this.sql.all("SELECT * FROM audit ORDER BY id DESC LIMIT ?", limit) : this.sql.all("SELECT * FROM audit WHERE flag = ? ORDER BY id DESC LIMIT ?", flag, limit);
    return rows.map((row) => AuditRowSchema.parse(row));
  }
}
