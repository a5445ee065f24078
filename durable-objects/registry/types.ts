/** What the RegistryDO's RPC methods take and return. */
import type { FlagSpec } from "../../core/manifest";
import type { RolloutState } from "../../core/rollout";

export interface SpecEntry {
  /** What the operator wrote (JSON or YAML decoded), kept for display and round trips. */
  raw: unknown;
  spec: FlagSpec;
  /** The MANIFEST_PUBLIC_KEYS id that signed it, when signing is on. */
  signedBy?: string | null;
}

export interface FlagSummary {
  key: string;
  description: string | null;
  kind: FlagSpec["kind"];
  type: FlagSpec["type"];
  status: RolloutState["status"];
  stage: number;
  weight: number;
  generation: number;
  forced: RolloutState["forced"];
  specVersion: number;
  updatedAt: number;
  /**
   * The cron's latest judgement of the current stage — for a hold, what it
   * still waits for — or null before the first tick after a change.
   */
  judgement: Judgement | null;
  /** Region waves, in order (absent for a flag without); the line's status, stage and judgement are the leading wave's. */
  waves?: WaveSummary[];
}

/** One region wave of a flag: the regions it covers, where it stands, and the spec it serves. */
export interface WaveSummary {
  wave: number;
  regions: string[];
  status: RolloutState["status"];
  stage: number;
  weight: number;
  generation: number;
  forced: RolloutState["forced"];
  specHash: string;
  updatedAt: number;
}

/** The cron's latest look at a stage: what it did (or holds for), by which rule, and why. */
export interface Judgement {
  at: number;
  action: string;
  rule: string;
  reason: string;
}

export interface FlagRecord {
  key: string;
  spec: unknown;
  specHash: string;
  specVersion: number;
  /** Wave 1's state (the flag's own object); each wave is under `waves`. */
  state: RolloutState;
  /** The cron's latest judgement of the leading wave's current stage (as in the list), or null. */
  judgement: Judgement | null;
  waves?: WaveSummary[];
  createdAt: number;
  updatedAt: number;
}

export interface AuditEntry {
  id: number;
  at: number;
  actor: string;
  action: string;
  flag: string | null;
  specHash: string | null;
  /** The key id that signed the spec, when the deployment takes only signed specs. */
  signingKey: string | null;
  /** What happened, for people: "ramping stage 1 → killed stage 1 (incident)". */
  summary: string;
}
