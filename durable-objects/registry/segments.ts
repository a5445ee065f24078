/**
 * Segments (table `segments`, registry migration 8; `core/segment.ts`): each
 * row's body decoded once through the segment's schema.
 */
import { z } from "zod";
import { StoredSegmentSchema, type Segment, type StoredSegment } from "../../core/segment";
import type { Sql } from "../sql";

const SegmentRowSchema = z
  .object({ name: z.string(), body: z.string(), version: z.number(), updated_by: z.string(), updated_at: z.number() })
  .transform((r) => StoredSegmentSchema.parse({ segment: JSON.parse(r.body) as unknown, version: r.version, updatedBy: r.updated_by, updatedAt: r.updated_at }));

export class Segments {
  constructor(private readonly sql: Sql) {}

  get(name: string): StoredSegment | null {
    const row = this.sql.first("SELECT * FROM segments WHERE name = ?", name);
    return row === null ? null : SegmentRowSchema.parse(row);
  }

  all(): StoredSegment[] {
    return this.sql.all("SELECT * FROM segments ORDER BY name").map((row) => SegmentRowSchema.parse(row));
  }

  /** Every segment by name, for composing entries. */
  byName(): Map<string, Segment> {
    return new Map(this.all().map((s) => [s.segment.name, s.segment]));
  }

  /** Stores a segment; its version counts its changes. Returns whether it was new. */
  put(segment: Segment, actor: string, now: number): { created: boolean; version: number } {
    const existing = this.sql.first<{ version: number }>("SELECT version FROM segments WHERE name = ?", segment.name);
    const version = (existing?.version ?? 0) + 1;
    this.sql.run(
      "INSERT INTO segments (name, body, version, updated_by, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET body = excluded.body, version = excluded.version, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
      segment.name, JSON.stringify(segment), version, actor, now,
    );
    return { created: existing === null, version };
  }

  remove(name: string): void {
    this.sql.run("DELETE FROM segments WHERE name = ?", name);
  }
}
