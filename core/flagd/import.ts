/**
 * A flagd flag-definition document (flagd.dev/reference/flag-definitions,
 * schema flagd.dev/schema/v0/flags.json) → Rampart flag specs, one per flag,
 * each a `kind: targeting` flag with a `flagd` block that OFREP evaluates as
 * flagd would. Refuses, with the document path, what flagd would refuse and
 * what Rampart cannot evaluate the same way; never guesses. The document's
 * shape is checked here; each flag then goes through the flag spec's own
 * schema (variant names, the default, the JsonLogic operations), its issues
 * given back at the document's paths.
 */
import { FLAG_KEY_PATTERN, FlagSpecSchema, type FlagSpec, type FlagSpecInput } from "../manifest";
import { FLAGD_STATES } from "./definition";
import { isEmptyTargeting, type LogicProblem } from "./json-logic";

/** One import is one manifest: at most as many flags. */
export const MAX_IMPORTED_FLAGS = 1000;

/** Each flag as written for Rampart (`input`, stored as the spec's raw form) and validated (`spec`). */
export type ImportedFlagd = { readonly ok: true; readonly flags: { input: FlagSpecInput; spec: FlagSpec }[] } | { readonly ok: false; readonly problems: LogicProblem[] };

const DOCUMENT_FIELDS = new Set(["$schema", "flags", "$evaluators", "metadata"]);
const FLAG_FIELDS = new Set(["state", "variants", "defaultVariant", "targeting", "metadata"]);

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** The value type shared by every variant, or null when they differ (flagd's schema: all boolean, all string, all number or all object). */
function variantType(values: readonly unknown[]): FlagSpecInput["type"] | null {
  const typeOf = (v: unknown) => (isObject(v) ? "object" : typeof v === "boolean" || typeof v === "string" ? typeof v : typeof v === "number" && Number.isFinite(v) ? "number" : null);
  const first = typeOf(values[0]);
  return first !== null && values.every((v) => typeOf(v) === first) ? (first as FlagSpecInput["type"]) : null;
}

/**
 * `{"$ref": name}` replaced by the named evaluator, recursively (flagd
 * substitutes the text; a structural walk is the same for every document
 * flagd accepts and also resolves refs between evaluators in any order).
 */
function resolveRefs(logic: unknown, evaluators: Readonly<Record<string, unknown>>, path: (string | number)[], problems: LogicProblem[], resolving: readonly string[] = []): unknown {
  if (Array.isArray(logic)) return logic.map((item, i) => resolveRefs(item, evaluators, [...path, i], problems, resolving));
  if (!isObject(logic)) return logic;
  const keys = Object.keys(logic);
  if (keys.length === 1 && keys[0] === "$ref") {
    const name = logic["$ref"];
    if (typeof name !== "string" || !Object.hasOwn(evaluators, name)) {
      problems.push({ path: [...path, "$ref"], message: `unknown evaluator ${JSON.stringify(name)}: name an entry of \`$evaluators\`${Object.keys(evaluators).length > 0 ? ` (${Object.keys(evaluators).slice(0, 8).join(", ")})` : " (the document has none)"}` });
      return logic;
    }
    if (resolving.includes(name)) {
      problems.push({ path: [...path, "$ref"], message: `evaluator cycle: ${[...resolving, name].join(" → ")}` });
      return logic;
    }
    return resolveRefs(evaluators[name], evaluators, [...path, "$ref"], problems, [...resolving, name]);
  }
  const out: Record<string, unknown> = {};
  // Defined, not assigned: a key "__proto__" stays a key (and is then refused as an unknown operation).
  for (const key of keys) Object.defineProperty(out, key, { value: resolveRefs(logic[key], evaluators, [...path, key], problems, resolving), enumerable: true, writable: true, configurable: true });
  return out;
}

function metadataProblems(metadata: unknown, path: (string | number)[]): LogicProblem[] {
  if (metadata === undefined) return [];
  if (!isObject(metadata)) return [{ path, message: "must be an object of strings, numbers and booleans" }];
  return Object.entries(metadata)
    .filter(([, v]) => !(typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v))))
    .map(([k]) => ({ path: [...path, k], message: "must be a string, a number or a boolean" }));
}

/** The specs a flagd document defines, or every problem found (paths from the document's root). */
export function importFlagd(document: unknown): ImportedFlagd {
  const problems: LogicProblem[] = [];
  if (!isObject(document)) return { ok: false, problems: [{ path: [], message: 'a flagd document is a JSON object: {"flags": {...}, "$evaluators": {...}}' }] };
  for (const field of Object.keys(document)) {
    if (!DOCUMENT_FIELDS.has(field)) problems.push({ path: [field], message: `unknown field: a flagd document has ${[...DOCUMENT_FIELDS].join(", ")}` });
  }
  const { flags, $evaluators: evaluators = {}, metadata: setMetadata } = document;
  if (!isObject(flags)) problems.push({ path: ["flags"], message: "required: an object of flag definitions by key" });
  if (!isObject(evaluators)) problems.push({ path: ["$evaluators"], message: "must be an object of named JsonLogic expressions" });
  const setProblems = metadataProblems(setMetadata, ["metadata"]);
  problems.push(...setProblems);
  // Stop here when the flag-set metadata is broken: it would otherwise be reported again under every flag.
  if (!isObject(flags) || !isObject(evaluators) || setProblems.length > 0) return { ok: false, problems };
  const keys = Object.keys(flags);
  if (keys.length === 0) problems.push({ path: ["flags"], message: "defines no flag" });
  if (keys.length > MAX_IMPORTED_FLAGS) return { ok: false, problems: [...problems, { path: ["flags"], message: `${keys.length} flags: at most ${MAX_IMPORTED_FLAGS} per import` }] };

  const imported: { input: FlagSpecInput; spec: FlagSpec }[] = [];
  for (const key of keys) {
    const at = ["flags", key];
    const flag = flags[key];
    if (!FLAG_KEY_PATTERN.test(key)) {
      problems.push({ path: at, message: "flag keys use only A-Z a-z 0-9 . _ - (1–128 characters)" });
      continue;
    }
    if (!isObject(flag)) {
      problems.push({ path: at, message: "a flag definition is an object: state, variants, defaultVariant, targeting" });
      continue;
    }
    for (const field of Object.keys(flag)) {
      if (!FLAG_FIELDS.has(field)) problems.push({ path: [...at, field], message: `unknown field: a flag definition has ${[...FLAG_FIELDS].join(", ")}` });
    }
    const { state, variants, defaultVariant, targeting, metadata } = flag;
    if (!(FLAGD_STATES as readonly unknown[]).includes(state)) problems.push({ path: [...at, "state"], message: "required: ENABLED or DISABLED" });
    if (!isObject(variants) || Object.keys(variants).length === 0) {
      problems.push({ path: [...at, "variants"], message: "required: an object of at least one variant (name → value)" });
      continue;
    }
    const type = variantType(Object.values(variants));
    if (type === null) {
      problems.push({ path: [...at, "variants"], message: "variants must all be booleans, all strings, all numbers or all objects" });
      continue;
    }
    let resolved: unknown;
    if (targeting !== undefined) {
      const before = problems.length;
      if (!isObject(targeting)) problems.push({ path: [...at, "targeting"], message: "must be a JsonLogic object ({} for none)" });
      else resolved = resolveRefs(targeting, evaluators, [...at, "targeting"], problems);
      if (problems.length > before) continue;
    }
    if (metadata !== undefined && !isObject(metadata)) {
      problems.push({ path: [...at, "metadata"], message: "must be an object of strings, numbers and booleans" });
      continue;
    }
    const mergedMetadata = { ...(isObject(setMetadata) ? setMetadata : {}), ...metadata };
    const input: FlagSpecInput = {
      key,
      kind: "targeting",
      type,
      variants,
      // flagd reads "" and null as "no default variant": the caller's default.
      ...(defaultVariant === null || defaultVariant === "" || defaultVariant === undefined ? {} : { defaultVariant: defaultVariant as string }),
      flagd: {
        state: state === "DISABLED" ? "DISABLED" : "ENABLED",
        ...(resolved !== undefined && !isEmptyTargeting(resolved) ? { targeting: resolved as never } : {}),
        ...(Object.keys(mergedMetadata).length > 0 ? { metadata: mergedMetadata } : {}),
      },
    };
    const parsed = FlagSpecSchema.safeParse(input);
    if (parsed.success) imported.push({ input, spec: parsed.data });
    else for (const issue of parsed.error.issues) problems.push({ path: [...at, ...documentPath(issue.path)], message: issue.message });
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, flags: imported };
}

/** A spec path at the document's place: the `flagd` block's fields are the definition's own (`flagd.targeting.if[0]` → `targeting.if[0]`). */
function documentPath(path: readonly PropertyKey[]): (string | number)[] {
  const parts = path.map((p) => (typeof p === "number" ? p : String(p)));
  return parts[0] === "flagd" ? parts.slice(1) : parts;
}
