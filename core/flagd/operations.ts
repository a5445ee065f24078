/**
 * flagd's custom JsonLogic operations (flagd.dev/reference/custom-operations),
 * written to answer exactly what flagd's evaluators answer — including null
 * (flagd's "invalid configuration": the flag falls back to its default) for
 * every malformed call, never a throw. Each receives its arguments already
 * evaluated and the data it runs against, as json-logic-engine passes them.
 */
import semver from "semver";
import { murmur3 } from "../murmur3";

type Data = Readonly<Record<string, unknown>> | null | undefined;

/** flagd's sum of fractional weights may not exceed a signed 32-bit integer. */
const MAX_TOTAL_WEIGHT = 2_147_483_647;
const TWO_TO_32 = 4_294_967_296;

interface Bucket {
  readonly variant: string | number | boolean | null;
  readonly weight: number;
}

/** `[variant, weight?]` pairs, or null when one is malformed (flagd logs and answers null). */
function bucketsOf(entries: readonly unknown[]): { buckets: Bucket[]; total: number } | null {
  const buckets: Bucket[] = [];
  let total = 0;
  for (const entry of entries) {
    if (!Array.isArray(entry) || entry.length === 0 || entry.length > 2) return null;
    const name: unknown = entry[0];
    let variant: Bucket["variant"];
    if (typeof name === "string" || typeof name === "number" || typeof name === "boolean") variant = name;
    else if (name === null || name === undefined) variant = null;
    else return null;
    let weight = 1;
    if (entry.length === 2) {
      const raw: unknown = entry[1];
      if (typeof raw !== "number" || !Number.isInteger(raw)) return null;
      // A computed weight below 0 (a ramp past its end) counts as 0, as flagd does.
      weight = Math.max(0, raw);
    }
    buckets.push({ variant, weight });
    total += weight;
  }
  return { buckets, total };
}

/**
 * `fractional`: a bucket in [0, total weight) from MurmurHash3 (x86, 32-bit,
 * seed 0) of the bucketing value — the first argument when it is a string,
 * else the flag key followed by `targetingKey` — scaled as
 * ⌊hash × total / 2³²⌋, the variant whose cumulative weight first exceeds
 * it (flagd's fractional v2).
 */
export function fractional(args: unknown, data: Data): unknown {
  if (!Array.isArray(args) || args.length < 1) return null;
  const flagd = data?.["$flagd"] as { flagKey?: unknown } | undefined;
  if (!flagd) return null;
  let bucketBy: string;
  let entries: readonly unknown[];
  if (typeof args[0] === "string") {
    bucketBy = args[0];
    entries = args.slice(1);
  } else {
    const targetingKey = data?.["targetingKey"];
    if (!targetingKey) return null;
    // flagd's template: whatever the attribute holds, as text.
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- flagd's own rule
    bucketBy = `${String(flagd.flagKey)}${String(targetingKey)}`;
    entries = args;
  }
  const parsed = bucketsOf(entries);
  if (parsed === null || parsed.total > MAX_TOTAL_WEIGHT) return null;
  const hash = murmur3(bucketBy) >>> 0;
  const product = hash * parsed.total;
  // Exact in floating point below 2⁵³; above, the integer product needs BigInt.
  const bucket = product <= Number.MAX_SAFE_INTEGER ? Math.floor(product / TWO_TO_32) : Number((BigInt(hash) * BigInt(parsed.total)) >> 32n);
  let sum = 0;
  for (const { variant, weight } of parsed.buckets) {
    sum += weight;
    if (sum > bucket) return variant;
  }
  return null;
}

/** flagd's lenient version: a leading v dropped; "1" and "1.2" read as 1.0.0 and 1.2.0; anything else must be strict SemVer 2.0. */
function versionOf(raw: unknown): semver.SemVer | null {
  const text = String(raw).replace(/^[vV]/, "");
  const strict = semver.parse(text);
  if (strict) return strict;
  return /^\d+(\.\d+)?$/.test(text) ? semver.coerce(text) : null;
}

/** `sem_ver`: [version, operator, version] with = != < <= >= > (SemVer precedence), ^ (same major), ~ (same major and minor). */
export function semVer(args: unknown): unknown {
  if (!Array.isArray(args) || args.length !== 3) return null;
  const left = versionOf(args[0]);
  const right = versionOf(args[2]);
  if (left === null || right === null) return null;
  const order = semver.compare(left, right);
  switch (String(args[1])) {
    case "=": return order === 0;
    case "!=": return order !== 0;
    case "<": return order < 0;
    case "<=": return order <= 0;
    case ">=": return order >= 0;
    case ">": return order > 0;
    case "^": return left.major === right.major;
    case "~": return left.major === right.major && left.minor === right.minor;
    default: return null;
  }
}

function affix(args: unknown, test: (text: string, part: string) => boolean): unknown {
  if (!Array.isArray(args) || args.length !== 2) return null;
  const [text, part] = args as unknown[];
  return typeof text === "string" && typeof part === "string" ? test(text, part) : null;
}

/** `starts_with`: [text, prefix], both strings. */
export function startsWith(args: unknown): unknown {
  return affix(args, (text, part) => text.startsWith(part));
}

/** `ends_with`: [text, suffix], both strings. */
export function endsWith(args: unknown): unknown {
  return affix(args, (text, part) => text.endsWith(part));
}
