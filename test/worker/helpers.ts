/** Helpers for tests that drive the worker inside workerd through SELF. */
import { SELF, createExecutionContext, createScheduledController, env, waitOnExecutionContext } from "cloudflare:test";
import worker from "../../worker/index";
import { emptyCounts, type CounterCell } from "../../core/counters";
import { spreadCounts } from "../spread";
import { plainCopy } from "../../core/dict";
import type { CounterBatch } from "../../durable-objects/flag/flag-do";
import { propagationBoundMs, settingsOf } from "../../worker/config";

export const ADMIN_AUTH = { authorization: `Bearer ${env.ADMIN_TOKEN}` };
export const READ_AUTH = { authorization: `Bearer ${env.READ_TOKEN}` };

let counter = 0;
/** Durable Object storage is shared within a test file: every test uses its own flag keys. */
export function uniqueKey(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}

export async function call(method: string, path: string, init: { body?: unknown; raw?: string; type?: string; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...ADMIN_AUTH, ...init.headers };
  let body: string | undefined = init.raw;
  if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    headers["content-type"] = "application/json";
  }
  if (init.type) headers["content-type"] = init.type;
  const response = await SELF.fetch(`https://rampart.test${path}`, { method, headers, body });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: (text ? JSON.parse(text) : null) as Record<string, any>, text };
}

export function booleanSpec(key: string, stages: { weight: number; shadow?: boolean }[] = [{ weight: 50 }, { weight: 100 }]) {
  return { key, type: "boolean", variants: { baseline: false, candidate: true }, rollout: { stages } };
}

/** A 50% → 100% rollout judged on CTR in one-minute windows: what cron-driven tests promote with scripted counts. */
export function ctrRolloutSpec(key: string) {
  return {
    key,
    type: "string",
    variants: { baseline: "v1", candidate: "v2" },
    rollout: { window: "1m", healthyWindowsToPromote: 2, stages: [{ weight: 50 }, { weight: 100 }] },
    metrics: { ctr: { kind: "ratio", numerator: "click", denominator: "exposure" } },
    gates: [{ metric: "ctr", bad: "decrease", rollback: "5%" }],
  };
}

export async function putFlag(spec: { key: string } & Record<string, unknown>) {
  const res = await call("PUT", `/admin/flags/${spec.key}`, { body: spec });
  if (res.status >= 300) throw new Error(`PUT ${spec.key} failed: ${res.status} ${res.text}`);
  return res.json;
}

export async function evaluate(key: string, context: Record<string, unknown>) {
  return call("POST", `/ofrep/v1/evaluate/flags/${key}`, { body: { context }, headers: {} });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The documented propagation bound under the test settings, plus a margin for the refresh itself. */
export const PROPAGATION_MS = propagationBoundMs(settingsOf(env)) + 100;

/** Polls an evaluation until it satisfies `done` (bounded by twice the propagation bound). */
export async function evaluateUntil(key: string, context: Record<string, unknown>, done: (r: Awaited<ReturnType<typeof evaluate>>) => boolean) {
  const deadline = Date.now() + 2 * PROPAGATION_MS + 1000;
  for (;;) {
    const r = await evaluate(key, context);
    if (done(r) || Date.now() > deadline) return r;
    await sleep(25);
  }
}

/**
 * One minute of counts as edge flushes would send them, spread evenly over
 * the replicate groups (many users each seen once): exposures and clicks per
 * arm, and optionally errors.
 */
export function minuteBatch(
  generation: number,
  stage: number,
  minute: number,
  perArm: { baseline: [number, number]; candidate: [number, number] },
  errors: { baseline?: number; candidate?: number } = {},
): CounterBatch {
  const cells: CounterCell[] = [];
  for (const arm of ["baseline", "candidate"] as const) {
    const [exposures, clicks] = perArm[arm];
    const totals = emptyCounts();
    totals.exposures = exposures;
    totals.errors = errors[arm] ?? 0;
    if (clicks > 0) totals.events["click"] = { count: clicks, sum: clicks, sumSq: clicks };
    spreadCounts(totals).forEach((counts, replicate) => cells.push({ generation, stage, arm, replicate, minute, counts }));
  }
  return plainCopy({ id: crypto.randomUUID(), cells });
}

/** Runs the real scheduled() handler at `time` and waits for all it started (the cron, not a sleep racing it). */
export async function cronAt(time: number): Promise<void> {
  const ctx = createExecutionContext();
  worker.scheduled(createScheduledController({ scheduledTime: time, cron: "* * * * *" }), env, ctx);
  await waitOnExecutionContext(ctx);
}
