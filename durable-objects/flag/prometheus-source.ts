/**
 * Reads the series of a flag's Prometheus-sourced gates (`core/series-gate.ts`)
 * for the current stage: one `query_range` per arm (the gate's PromQL with
 * `{{arm}}` replaced), over the stage so far (at most `MAX_POINTS` steps),
 * with the bearer token from the Worker secret the gate names. Every
 * failure — unreachable, timeout, an error answer, no series, several —
 * becomes a reason the judge holds on and shows; none of them throws.
 */
import { z } from "zod";
import type { Gate } from "../../core/gate-spec";
import type { FlagSpec } from "../../core/manifest";
import type { RolloutState } from "../../core/rollout";
import type { SeriesRead } from "../../core/series-gate";

/** Prometheus refuses ranges of more than 11,000 points; the judge needs far fewer. */
export const MAX_POINTS = 10_000;
export const QUERY_TIMEOUT_MS = 5_000;
const LIVE = new Set(["ramping", "shadow", "paused"]);

const MatrixSchema = z.object({
  status: z.literal("success"),
  data: z.object({
    resultType: z.literal("matrix"),
    result: z.array(z.object({ metric: z.record(z.string(), z.string()), values: z.array(z.tuple([z.number(), z.string()])) })),
  }),
});
const ErrorSchema = z.object({ status: z.literal("error"), errorType: z.string().optional(), error: z.string() });

export type SecretLookup = (name: string) => string | undefined;

/** The reads for every gate with a source, by gate index; undefined when none has one or the rollout is not judged. */
export async function readSeries(spec: Pick<FlagSpec, "gates">, state: RolloutState, now: number, secret: SecretLookup, fetcher: typeof fetch = fetch): Promise<Record<string, SeriesRead> | undefined> {
  const sourced = spec.gates.flatMap((gate, i) => (gate.source ? [{ i, source: gate.source.prometheus, level: gate.compare === "floor" || gate.compare === "ceiling" }] : []));
  if (sourced.length === 0 || !LIVE.has(state.status)) return undefined;
  const out: Record<string, SeriesRead> = {};
  await Promise.all(
    sourced.map(async ({ i, source, level }) => {
      out[String(i)] = await readGate(source, level, state, now, secret, fetcher);
    }),
  );
  return out;
}

/** `level`: a floor or ceiling judges the candidate's series alone, so only it is read. */
async function readGate(source: NonNullable<Gate["source"]>["prometheus"], level: boolean, state: RolloutState, now: number, secret: SecretLookup, fetcher: typeof fetch): Promise<SeriesRead> {
  const step = source.step;
  const end = Math.floor(now / step) * step;
  const start = Math.max(Math.ceil(state.stageEnteredAt / step) * step, end - MAX_POINTS * step);
  if (start >= end) return { ok: false, reason: `the stage is younger than one ${step / 1000} s step` };
  let token: string | undefined;
  if (source.bearerTokenSecret !== undefined) {
    token = secret(source.bearerTokenSecret);
    if (!token) return { ok: false, reason: `the secret ${source.bearerTokenSecret} the gate names is not set` };
  }
  const arms = level ? (["candidate"] as const) : (["baseline", "candidate"] as const);
  const reads = await Promise.all(arms.map((arm) => queryRange(source.url, source.query.replaceAll("{{arm}}", arm), arm, start, end, step, token, fetcher)));
  const baseline: ArmRead | undefined = level ? { ok: true, points: [] } : reads[0];
  const candidate = reads[level ? 0 : 1];
  if (!baseline?.ok) return baseline ?? { ok: false, reason: "no answer" };
  if (!candidate?.ok) return candidate ?? { ok: false, reason: "no answer" };
  return { ok: true, baseline: baseline.points, candidate: candidate.points };
}

type ArmRead = { ok: true; points: [number, number][] } | { ok: false; reason: string };

async function queryRange(base: string, query: string, arm: string, start: number, end: number, step: number, token: string | undefined, fetcher: typeof fetch): Promise<ArmRead> {
  const url = new URL("api/v1/query_range", base.endsWith("/") ? base : `${base}/`);
  url.searchParams.set("query", query);
  url.searchParams.set("start", String(start / 1000));
  url.searchParams.set("end", String(end / 1000));
  url.searchParams.set("step", String(step / 1000));
  const where = `Prometheus at ${url.origin}`;
  let response: Response;
  try {
    response = await fetcher(url.toString(), { headers: { accept: "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) }, signal: AbortSignal.timeout(QUERY_TIMEOUT_MS) });
  } catch (error) {
    const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
    return { ok: false, reason: timedOut ? `${where} did not answer within ${QUERY_TIMEOUT_MS / 1000} s` : `${where} is unreachable (${String(error instanceof Error ? error.message : error).slice(0, 200)})` };
  }
  const body: unknown = await response.json().catch(() => null);
  const failed = ErrorSchema.safeParse(body);
  if (failed.success) return { ok: false, reason: `${where} refused the query for ${arm}: ${failed.data.errorType ? `${failed.data.errorType}: ` : ""}${failed.data.error.slice(0, 300)}` };
  if (!response.ok) return { ok: false, reason: `${where} answered ${response.status} for ${arm}` };
  const matrix = MatrixSchema.safeParse(body);
  if (!matrix.success) return { ok: false, reason: `${where} answered something that is not a range query's matrix for ${arm}` };
  const series = matrix.data.data.result;
  if (series.length === 0) return { ok: false, reason: `the query for ${arm} returned no series (is {{arm}} a label the metric has?)` };
  if (series.length > 1) return { ok: false, reason: `the query for ${arm} returned ${series.length} series: aggregate it to one (sum(…), or sum by () (…))` };
  return { ok: true, points: (series[0]?.values ?? []).map(([t, v]) => [Math.round(t * 1000), Number(v)]) };
}
