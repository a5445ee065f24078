/**
 * Stage approvals and rejections (table `approvals`), by operators and
 * external checks: an approval covers one stage of one generation.
 */
import { z } from "zod";
import type { StageApproval } from "../../core/gates";
import type { Sql } from "../sql";

const ApprovalRowSchema = z
  .object({ stage: z.number(), verdict: z.string(), actor: z.string() })
  .transform((r): StageApproval => ({ stage: r.stage, verdict: r.verdict === "rejected" ? "rejected" : "approved", actor: r.actor }));

export interface NewApproval {
  generation: number;
  stage: number;
  verdict: StageApproval["verdict"];
  actor: string;
  note: string | null;
  at: number;
}

export class Approvals {
  constructor(private readonly sql: Sql) {}

  record(approval: NewApproval): void {
    this.sql.run("INSERT INTO approvals (generation, stage, verdict, actor, note, at) VALUES (?, ?, ?, ?, ?, ?)", approval.generation, approval.stage, approval.verdict, approval.actor, approval.note, approval.at);
  }

  /** Approvals and rejections recorded for a generation, oldest first. */
  of(generation: number): StageApproval[] {
    return this.sql.all("SELECT stage, verdict, actor FROM approvals WHERE generation = ? ORDER BY id", generation).map((row) => ApprovalRowSchema.parse(row));
  }
}
