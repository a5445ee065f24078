/**
 * Region waves: a rollout that advances region by region. Each wave walks
 * the stages on its own, judged on its own traffic, in its own FlagDO (its
 * own state, counters, decision log and approvals); wave n+1 starts when
 * wave n completes. A request belongs to the wave that names its region —
 * the evaluation context's `region`, else (when the spec says so) the
 * location the Worker runs in — and to the `rest` wave when no wave names
 * it. Pure: the registry and the edge both use these rules.
 */
import { z } from "zod";
import { dictSchema, own } from "./dict";
import type { RolloutState } from "./rollout";

/** The wave for every region no wave names, and for requests with no region at all. */
export const REST = "rest";
export const MAX_WAVES = 16;

/** Which region wave an admin request means: `wave` (1-based) or a `region` a wave names; neither means wave 1, the flag's own object. */
export const WaveSelectorSchema = z.strictObject({
  wave: z.coerce.number().int().min(1).max(MAX_WAVES).optional(),
  region: z.string().min(1).max(64).optional(),
});
export type WaveSelector = z.infer<typeof WaveSelectorSchema>;

/** Where the edge finds a request's region when the context has none (`request.cf`), or `none`. */
export const EDGE_REGION_SOURCES = ["none", "colo", "country", "continent", "region"] as const;
export type EdgeRegionSource = (typeof EDGE_REGION_SOURCES)[number];

const RegionNameSchema = z.string().min(1).max(64).regex(/^[A-Za-z0-9 ._:-]+$/, "region names use A-Z a-z 0-9 space . _ : -");
const WaveRegionsSchema = z.array(RegionNameSchema).min(1, "a wave names at least one region (or rest)").max(256);
const WaveOrderSchema = z.array(WaveRegionsSchema).min(1, "name at least one wave").max(MAX_WAVES, `at most ${MAX_WAVES} waves`);

export const WavesObjectSchema = z.strictObject({
  /** The waves in order, each a list of region names; `rest` stands for every region no wave names. */
  order: WaveOrderSchema,
  /** The `request.cf` field that supplies the region when the evaluation context has none. */
  regionFromEdge: z.enum(EDGE_REGION_SOURCES).default("none"),
  /** Renames edge locations to the region names waves use (e.g. `EU: eu-west-1` with continent). */
  regionMap: dictSchema(RegionNameSchema).optional(),
  /** When a wave rolls back or is killed: `stop` the waves after it (they keep the baseline), or also `rollback_all` earlier waves. */
  onRegression: z.enum(["stop", "rollback_all"]).default("stop"),
});

/** `waves: [[us-east-1], [eu-west-1, eu-central-1], [rest]]`, or the object form with its options. */
export const WavesSchema = z.preprocess((input) => (Array.isArray(input) ? { order: input } : input), WavesObjectSchema);
export type Waves = z.infer<typeof WavesObjectSchema>;

/** Every region named once, and `rest` in exactly one wave (so every request has a wave); issues carry their path under `waves`. */
export function wavesProblems(waves: Waves): { path: (string | number)[]; message: string }[] {
  const problems: { path: (string | number)[]; message: string }[] = [];
  const seen = new Map<string, number>();
  waves.order.forEach((regions, w) => {
    regions.forEach((region, r) => {
      const first = seen.get(region);
      if (first !== undefined) problems.push({ path: ["order", w, r], message: `region "${region}" is already in wave ${first + 1}` });
      else seen.set(region, w);
    });
  });
  if (!seen.has(REST)) {
    problems.push({ path: ["order"], message: `add "${REST}" to a wave (usually the last): regions no wave names, and requests without a region, need a wave` });
  }
  return problems;
}

/** The Durable Object name of wave `wave` (1-based) of a flag: wave 1 is the flag's own object. "@" cannot occur in a flag key. */
export function waveObjectName(key: string, wave: number): string {
  return wave <= 1 ? key : `${key}@wave-${wave}`;
}

/** The location fields of `request.cf` a wave may be placed by. */
export type EdgeLocation = Partial<Record<Exclude<EdgeRegionSource, "none">, string>>;

/** Region → wave index (0-based), compiled once per snapshot. */
export interface CompiledWaves {
  readonly byRegion: ReadonlyMap<string, number>;
  readonly rest: number;
  readonly regionFromEdge: EdgeRegionSource;
  readonly regionMap: Readonly<Record<string, string>> | null;
}

export function compileWaves(waves: Pick<Waves, "order" | "regionFromEdge" | "regionMap">): CompiledWaves {
  const byRegion = new Map<string, number>();
  let rest = waves.order.length - 1;
  waves.order.forEach((regions, w) => {
    for (const region of regions) {
      if (region === REST) rest = w;
      else byRegion.set(region, w);
    }
  });
  return { byRegion, rest, regionFromEdge: waves.regionFromEdge, regionMap: waves.regionMap ?? null };
}

/** Where the request arrived, or a function that says so when asked (reading `request.cf` costs; most flags never ask). */
export type EdgeSource = EdgeLocation | null | (() => EdgeLocation | null);

/** The request's region: the context's `region` (a string or number), else the edge location the spec names, renamed by its map. */
export function regionOf(waves: CompiledWaves, context: Readonly<Record<string, unknown>>, source: EdgeSource): string | null {
  const given = own(context, "region");
  if (typeof given === "string" && given !== "") return given;
  if (typeof given === "number" && Number.isFinite(given)) return String(given);
  if (waves.regionFromEdge === "none" || source === null) return null;
  const edge = typeof source === "function" ? source() : source;
  const located = edge?.[waves.regionFromEdge];
  if (typeof located !== "string" || located === "") return null;
  return (waves.regionMap ? own(waves.regionMap, located) : undefined) ?? located;
}

/** The 0-based wave a region belongs to (the rest wave for an unnamed region or none). */
export function waveIndexOf(waves: CompiledWaves, region: string | null): number {
  return region === null ? waves.rest : (waves.byRegion.get(region) ?? waves.rest);
}

/**
 * The 1-based wave an operator means by a region name, or null when no wave
 * names it (a typo: `rest` is named explicitly, so unnamed regions are refused
 * rather than silently taken as the rest).
 */
export function waveNamingRegion(waves: Pick<Waves, "order">, region: string): number | null {
  const index = waves.order.findIndex((regions) => regions.includes(region));
  return index === -1 ? null : index + 1;
}

/**
 * The wave that speaks for the whole rollout: the first that has not
 * completed (so a flag is `completed` only when every wave is), or the last.
 */
export function leadingWave(states: readonly RolloutState[]): number {
  const index = states.findIndex((s) => s.status !== "completed");
  return index === -1 ? states.length - 1 : index;
}

/** The state of a wave the registry has no report from yet (just added): waiting at its first stage, like the wave it follows otherwise. */
export function notStartedWave(first: RolloutState): RolloutState {
  return { ...first, status: "waiting", stageIndex: 0 };
}

/** What the registry does after wave states change (`followWave` on each FlagDO named). */
export type WaveStep =
  | { readonly wave: number; readonly action: "start"; readonly generation: number; readonly reason: string }
  | { readonly wave: number; readonly action: "rollback"; readonly reason: string };

/**
 * The waves' order of march, after wave `changed` (0-based) moved from
 * `before`. A waiting wave starts when the one before it has completed, with
 * its generation (so when all complete every region serves one generation).
 * A wave that has just rolled back or been killed stops the waves after it:
 * those still waiting never start, those already started roll back; with
 * `rollback_all` the earlier waves still serving the candidate roll back too.
 * Steps name 1-based waves.
 */
export function nextWaveSteps(states: readonly RolloutState[], changed: number, before: RolloutState["status"], onRegression: Waves["onRegression"]): WaveStep[] {
  const now = states[changed]?.status;
  const regressed = (now === "rolled_back" || now === "killed") && before !== "rolled_back" && before !== "killed";
  if (regressed) {
    const reason = `wave ${changed + 1} ${now === "killed" ? "was killed" : "rolled back"}`;
    const serving = (s: RolloutState) => s.status === "shadow" || s.status === "ramping" || s.status === "paused" || s.status === "completed";
    return states.flatMap((s, i): WaveStep[] => {
      if (!serving(s)) return [];
      if (i > changed) return [{ wave: i + 1, action: "rollback", reason: `${reason}: the waves after it stop` }];
      if (i < changed && onRegression === "rollback_all") return [{ wave: i + 1, action: "rollback", reason: `${reason} (onRegression: rollback_all)` }];
      return [];
    });
  }
  const next = states[changed + 1];
  if (now === "completed" && next?.status === "waiting") {
    return [{ wave: changed + 2, action: "start", generation: states[changed]?.generation ?? next.generation, reason: `wave ${changed + 1} completed` }];
  }
  return [];
}
