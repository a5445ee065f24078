/**
 * A field-by-field diff of two specs, for dry runs that show what would
 * change and to what — not just which top-level field. Leaves are compared by
 * canonical JSON; arrays of different lengths, or of non-objects, are shown
 * whole (a stage list is read as one list, not as index shuffles).
 */
import { canonicalJson } from "./canonical";
import type { JsonValue } from "./manifest";

export interface FieldChange {
  /** Dotted path with [i] for array elements: "rollout.stages[1].weight". */
  path: string;
  /** The value before, as JSON text (absent: the field was unset). Text, not a value, so RPC types stay flat. */
  from?: string;
  /** The value after, as JSON text (absent: the field is removed). */
  to?: string;
}

/** Past this many changes the rest are summarised in one entry (a dry run must stay readable). */
export const MAX_FIELD_CHANGES = 40;

const isObject = (v: JsonValue | undefined): v is { [key: string]: JsonValue } => v !== null && typeof v === "object" && !Array.isArray(v);

export function diffSpecs(before: JsonValue, after: JsonValue): FieldChange[] {
  const out: FieldChange[] = [];
  walk(before, after, "", out);
  if (out.length <= MAX_FIELD_CHANGES) return out;
  const rest = out.length - MAX_FIELD_CHANGES + 1;
  return [...out.slice(0, MAX_FIELD_CHANGES - 1), { path: `(${rest} more changes)` }];
}

function walk(before: JsonValue | undefined, after: JsonValue | undefined, path: string, out: FieldChange[]): void {
  if (canonicalJson(before) === canonicalJson(after)) return;
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    for (const key of keys) walk(Object.hasOwn(before, key) ? before[key] : undefined, Object.hasOwn(after, key) ? after[key] : undefined, path ? `${path}.${key}` : key, out);
    return;
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length && before.every(isObject)) {
    before.forEach((item, i) => walk(item, after[i], `${path}[${i}]`, out));
    return;
  }
  out.push({ path: path || "(spec)", ...(before !== undefined ? { from: JSON.stringify(before) } : {}), ...(after !== undefined ? { to: JSON.stringify(after) } : {}) });
}
