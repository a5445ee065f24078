/** What the FlagDO's RPC methods take and return. */
import { z } from "zod";
import type { ArmCounts, CounterCell } from "../../core/counters";
import type { Decision } from "../../core/decision";
import type { ExperimentCell } from "../../core/experiment-cell";
import type { ExperimentReport } from "../../core/experiment-report";
import type { ExperimentRow } from "./experiment-store";
import type { RolloutState } from "../../core/rollout";
import { WaveSelectorSchema } from "../../core/waves";
import type { LatestJudgement } from "../registry/flag-metrics";

export type ActResult =
  | { ok: true; state: RolloutState; decision: Decision; published: boolean }
  | { ok: false; code: "not_found" | "invalid_transition" | "invalid_request"; message: string; path?: string };

export const ApprovalRequestSchema = z.strictObject({
  decision: z.enum(["approve", "reject"]).default("approve"),
  /** The generation and stage approved: an approval covers exactly these. */
  generation: z.int().min(1),
  stage: z.int().min(0),
  note: z.string().max(2000).optional(),
});
export type ApprovalRequest = z.infer<typeof ApprovalRequestSchema>;

/** What an approval request names: the stage (of the generation) people are asked to approve, and a note for them. */
export const ApprovalAskSchema = ApprovalRequestSchema.pick({ generation: true, stage: true, note: true });
export type ApprovalAsk = z.infer<typeof ApprovalAskSchema>;
/** `POST /admin/flags/{key}/approval-requests`: the ask, in the wave the selector names (as approvals are). */
export const ApprovalAskBodySchema = ApprovalAskSchema.extend(WaveSelectorSchema.shape);

export type ApproveResult =
  | { ok: true; decision: Decision }
  | { ok: false; code: "not_found" | "stale" | "not_awaited" | "same_person"; path?: string; message: string };

export interface FlagView {
  key: string;
  configured: boolean;
  state: RolloutState;
}

/** What an edge flush sends: its cells under a batch id, which the FlagDO claims once. */
export interface CounterBatch {
  id: string;
  cells: CounterCell[];
  /** Experiments' counts, claimed with the same id. */
  experiments?: ExperimentCell[];
}

/** An experiment's report, or why there is none (rendered once by the admin route). */
export type ExperimentReportResult =
  | { ok: true; report: ExperimentReport & { iterations: ExperimentRow[]; unattributed: Record<string, number> } }
  | { ok: false; code: "not_found" | "not_an_experiment" | "unknown_iteration"; path?: string; message: string };

export interface JudgeResult {
  /** False when this minute was already judged (a repeated or overlapping trigger). */
  judged: boolean;
  /** The object holds a spec stored before specs were kept as written: send it again with `configure`. */
  needsSpec?: boolean;
  /** Not judged now because this minute was already judged (by an overlapping trigger): it counts as judged. */
  alreadyJudged?: boolean;
  state: RolloutState | null;
  action?: string;
  rule?: string;
  /** Counter shards in use (the spec's, or more chosen from the observed flush rate): the snapshot tells edges. */
  counterShards?: number;
  /** Soft abort rules that started firing at this look (each logged as a `soft_abort` decision). */
  softAborts?: number;
  /** The current generation's counts per arm (all stages), when judged: what /metrics shows. */
  metrics?: { generation: number; weight: number; baseline: ArmCounts; candidate: ArmCounts; unattributed: number; judgement: LatestJudgement };
}

export type ReplayResult =
  | { ok: true; decision: Decision; replayed: { action: string; rule: string; verdicts: string }; matches: boolean }
  | { ok: false; kind: "no_decision" | "not_a_judgement" | "unreadable_inputs"; message: string };

export interface StorageStats {
  counterRows: number;
  eventIds: number;
  outbox: number;
  counterBatches: number;
  unattributed: Record<string, number>;
  schemaVersion: number;
}
