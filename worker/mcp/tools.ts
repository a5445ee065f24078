/**
 * The MCP tools: what an agent may read and do, each one an admin API
 * request made with the agent's own credentials. The admin routes check the
 * one permission each needs (`core/access.ts`), validate the input and audit
 * the action, so a tool can do exactly what its caller's grant allows and
 * nothing is decided twice.
 */
import { z } from "zod";
import type { ToolAnnotations } from "@modelcontextprotocol/sdk/types.js";
import { FlagKeySchema } from "../../core/manifest";
import { RuleNameSchema } from "../../core/targeting-rules";
import { IterationSchema } from "../../core/experiment";

/** One admin API answer as a tool sees it: the HTTP status and the JSON body. */
export interface AdminAnswer {
  status: number;
  body: unknown;
}

/** Makes an admin API request as the MCP caller (its Authorization and Access headers). */
export type AdminCall = (method: "GET" | "POST", path: string, body?: unknown) => Promise<AdminAnswer>;

/** What a tool gives back: an answer to show, or the admin API's refusal. */
export type ToolOutcome = { kind: "answer"; body: unknown } | { kind: "refused"; status: number; body: unknown };

export interface ToolDefinition<Shape extends z.ZodRawShape> {
  name: string;
  title: string;
  description: string;
  input: Shape;
  annotations: ToolAnnotations;
  run: (input: z.infer<z.ZodObject<Shape>>, admin: AdminCall) => Promise<ToolOutcome>;
}

const FlagKey = FlagKeySchema.describe("The flag's key");
const Time = z.union([z.iso.datetime({ offset: true }), z.int().min(0)]).describe("ISO 8601, or milliseconds since the epoch");
const Reason = z.string().trim().min(1).max(1000).describe("Why, for the audit log and the people who read it");

const READ: ToolAnnotations = { readOnlyHint: true, openWorldHint: false };
const ACT: ToolAnnotations = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false };
const DESTRUCTIVE: ToolAnnotations = { ...ACT, destructiveHint: true };

const path = (key: string, rest = "") => `/admin/flags/${encodeURIComponent(key)}${rest}`;

function query(params: Record<string, string | number | boolean | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined) search.set(name, String(value));
  const text = search.toString();
  return text === "" ? "" : `?${text}`;
}

async function answer(admin: AdminCall, method: "GET" | "POST", target: string, body?: unknown): Promise<ToolOutcome> {
  const got = await admin(method, target, body);
  return got.status < 300 ? { kind: "answer", body: got.body } : { kind: "refused", status: got.status, body: got.body };
}

function define<Shape extends z.ZodRawShape>(tool: ToolDefinition<Shape>): ToolDefinition<Shape> {
  return tool;
}

/** An operator action on a rollout, as a tool: the action's name, audited with the reason. */
function action(name: "pause" | "resume" | "rollback" | "kill", title: string, description: string, annotations: ToolAnnotations) {
  return define({
    name,
    title,
    description,
    input: { key: FlagKey, reason: Reason },
    annotations,
    run: ({ key, reason }, admin) => answer(admin, "POST", path(key, "/actions"), { action: name, reason }),
  });
}

export const TOOLS = [
  define({
    name: "list_flags",
    title: "List flags",
    description: "Every flag the caller may read: kind, status, stage, weight, generation, and the cron's latest judgement (for a hold, what it still waits for).",
    input: {},
    annotations: READ,
    run: (_input, admin) => answer(admin, "GET", "/admin/flags"),
  }),
  define({
    name: "get_flag",
    title: "Show a flag",
    description: "One flag: its spec, its rollout state (status, stage, generation), its region waves, and the cron's latest judgement — what it waits for, or why it acted.",
    input: { key: FlagKey },
    annotations: READ,
    run: ({ key }, admin) => answer(admin, "GET", path(key)),
  }),
  define({
    name: "list_decisions",
    title: "List decisions",
    description: "A flag's decisions, newest first: each look of the cron and each operator action, with the rule that fired and its reason.",
    input: { key: FlagKey, limit: z.int().min(1).max(500).optional().describe("How many (default 20)"), before: z.int().min(1).optional().describe("Only decisions older than this id") },
    annotations: READ,
    run: ({ key, limit, before }, admin) => answer(admin, "GET", path(key, `/decisions${query({ limit: limit ?? 20, before })}`)),
  }),
  define({
    name: "compare_report",
    title: "Compare report",
    description: "The candidate against the baseline over a span: per-arm counts, each gate's estimate, interval and verdict (default: the last 24 hours of the current generation).",
    input: { key: FlagKey, from: Time.optional(), to: Time.optional(), generation: z.int().min(1).optional() },
    annotations: READ,
    run: ({ key, from, to, generation }, admin) => answer(admin, "GET", path(key, `/report${query({ from, to, generation })}`)),
  }),
  define({
    name: "experiment_report",
    title: "Experiment report",
    description: "A targeting rule's experiment: each variant's metrics and each treatment against the control, with always-valid intervals corrected for the comparisons made.",
    input: { key: FlagKey, rule: RuleNameSchema.describe("The rule's name"), iteration: IterationSchema.optional().describe("An earlier iteration (default: the current one)") },
    annotations: READ,
    run: ({ key, rule, iteration }, admin) => answer(admin, "GET", path(key, `/experiments/${encodeURIComponent(rule)}${query({ iteration })}`)),
  }),
  define({
    name: "get_series",
    title: "Metric series",
    description: "A flag's per-arm series over time (exposures, errors, latency, events), in whole-minute steps (default: the last hour in 60 points).",
    input: { key: FlagKey, from: Time.optional(), to: Time.optional(), points: z.int().min(1).max(1440).optional() },
    annotations: READ,
    run: ({ key, from, to, points }, admin) => answer(admin, "GET", path(key, `/series${query({ from, to, points })}`)),
  }),
  define({
    name: "audit_log",
    title: "Audit log",
    description: "Who did what, newest first: spec changes, actions, approvals and the cron's state changes (one flag's, or every flag's for an unlimited grant).",
    input: { flag: FlagKey.optional(), limit: z.int().min(1).max(500).optional() },
    annotations: READ,
    run: ({ flag, limit }, admin) => answer(admin, "GET", `/admin/audit${query({ flag, limit: limit ?? 50 })}`),
  }),
  action("pause", "Pause a rollout", "Holds the rollout at its stage: the cron stops judging it until it is resumed. Needs the act permission on the flag.", ACT),
  action("resume", "Resume a rollout", "Lets a paused (or rolled-back) rollout go on from its stage. Needs the act permission on the flag.", ACT),
  action("rollback", "Roll back", "Sends everyone to the baseline and stops the rollout. Needs the act permission on the flag.", DESTRUCTIVE),
  action("kill", "Kill", "Serves the flag's safe value to everyone at once, reaching the edge within a second. Needs the act permission on the flag.", DESTRUCTIVE),
  define({
    name: "request_approval",
    title: "Ask for a stage's approval",
    description: "Asks people to approve the stage the flag waits in (the current generation and stage unless given): recorded in the audit log for approvers, changing no state. Needs the act permission on the flag.",
    input: { key: FlagKey, note: z.string().max(2000).optional().describe("What the approvers should look at"), generation: z.int().min(1).optional(), stage: z.int().min(0).optional() },
    annotations: ACT,
    run: async ({ key, note, generation, stage }, admin) => {
      let at = generation !== undefined && stage !== undefined ? { generation, stage } : null;
      if (at === null) {
        const record = await admin("GET", path(key));
        if (record.status >= 300) return { kind: "refused", status: record.status, body: record.body };
        const state = (record.body as { state: { generation: number; stageIndex: number } }).state;
        at = { generation: generation ?? state.generation, stage: stage ?? state.stageIndex };
      }
      return answer(admin, "POST", path(key, "/approval-requests"), { ...at, ...(note !== undefined ? { note } : {}) });
    },
  }),
] as const;
