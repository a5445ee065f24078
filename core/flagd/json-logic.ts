/**
 * flagd targeting as it is written: JsonLogic (jsonlogic.com) with flagd's
 * operations (flagd.dev/reference/custom-operations). Rampart keeps the
 * expression verbatim and evaluates it with the engine flagd's own
 * JavaScript evaluator uses (`evaluate.ts`), so it can only answer what
 * flagd answers if it refuses, at write time, what flagd's schema does not
 * define: an operation outside the list below is refused with its path,
 * never evaluated some other way.
 */
import { z } from "zod";

/** JsonLogic's operations that flagd's targeting schema defines (schemas/json/targeting.json). */
const JSON_LOGIC_OPERATIONS = [
  "var", "missing", "missing_some",
  "if", "==", "===", "!=", "!==", "!", "!!", "or", "and",
  ">", ">=", "<", "<=", "max", "min", "+", "-", "*", "/", "%",
  "map", "filter", "reduce", "all", "none", "some", "merge", "in",
  "cat", "substr",
] as const;
/** flagd's custom operations. */
export const FLAGD_CUSTOM_OPERATIONS = ["fractional", "sem_ver", "starts_with", "ends_with"] as const;
export const FLAGD_OPERATIONS: ReadonlySet<string> = new Set<string>([...JSON_LOGIC_OPERATIONS, ...FLAGD_CUSTOM_OPERATIONS]);

/** sem_ver's operators (flagd.dev/reference/custom-operations/semver-operation). */
export const SEM_VER_OPERATORS: ReadonlySet<string> = new Set(["=", "!=", "<", "<=", ">=", ">", "^", "~"]);

/** Deeper expressions are refused (flagd has no limit; every real definition we have seen stays under 12). */
export const MAX_LOGIC_DEPTH = 32;
/** Values in one expression (operations, arguments, literals). */
export const MAX_LOGIC_NODES = 20_000;

/** Path segments a `var` may not walk: they read the prototype chain, not the context. */
const FORBIDDEN_PATH_SEGMENTS: ReadonlySet<string> = new Set(["__proto__", "prototype", "constructor"]);

export type JsonLogic = string | number | boolean | null | JsonLogic[] | { [key: string]: JsonLogic };
/** Any JSON (the operations are checked by `jsonLogicProblems`); recursive through itself, so the OpenAPI document names it once. */
export const JsonLogicSchema: z.ZodType<JsonLogic> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(JsonLogicSchema), z.record(z.string(), JsonLogicSchema)]),
).describe("flagd targeting: JsonLogic with flagd's operations (fractional, sem_ver, starts_with, ends_with), `$ref`s resolved");

export interface LogicProblem {
  readonly path: (string | number)[];
  readonly message: string;
}

/**
 * What in `logic` Rampart will not evaluate: an operation flagd does not
 * define (or an unresolved `$ref`), an object that is not one operation,
 * a `var` reaching into the prototype chain, an unknown `sem_ver` operator,
 * too deep or too large. Paths are relative to `logic`.
 */
export function jsonLogicProblems(logic: unknown): LogicProblem[] {
  const problems: LogicProblem[] = [];
  let nodes = 0;
  const walk = (value: unknown, path: (string | number)[], depth: number): void => {
    if (problems.length >= 20) return;
    nodes++;
    if (nodes === MAX_LOGIC_NODES + 1) problems.push({ path: [], message: `more than ${MAX_LOGIC_NODES} values in one targeting expression` });
    if (nodes > MAX_LOGIC_NODES) return;
    if (depth > MAX_LOGIC_DEPTH) {
      problems.push({ path, message: `nested deeper than ${MAX_LOGIC_DEPTH} levels` });
      return;
    }
    if (value === null || typeof value !== "object") return;
    if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, [...path, i], depth + 1));
      return;
    }
    const keys = Object.keys(value);
    if (keys.length === 0) {
      // {} is flagd's "no targeting" only at the top; inside, the engine refuses it.
      problems.push({ path, message: "an empty object is not an operation" });
      return;
    }
    if (keys.length > 1) {
      problems.push({ path, message: `an operation is an object with one key; this one has ${keys.length} (${keys.slice(0, 4).join(", ")}${keys.length > 4 ? ", …" : ""})` });
      return;
    }
    const op = keys[0] as string;
    const args = (value as Record<string, unknown>)[op];
    const at = [...path, op];
    if (op === "$ref") {
      problems.push({ path: at, message: `unresolved $ref ${JSON.stringify(args)}: name an entry of \`$evaluators\`` });
      return;
    }
    if (!FLAGD_OPERATIONS.has(op)) {
      problems.push({ path: at, message: `unknown operation "${op}": flagd's targeting allows ${[...FLAGD_OPERATIONS].join(", ")}` });
      return;
    }
    if (op === "var") {
      const name: unknown = Array.isArray(args) ? (args as unknown[])[0] : args;
      if (typeof name === "string" && name.split(".").some((segment) => FORBIDDEN_PATH_SEGMENTS.has(segment))) {
        problems.push({ path: at, message: `"${name}" reads the prototype chain, not the evaluation context` });
        return;
      }
    }
    if (op === "sem_ver" && Array.isArray(args) && typeof args[1] === "string" && !SEM_VER_OPERATORS.has(args[1])) {
      problems.push({ path: [...at, 1], message: `unknown sem_ver operator "${args[1]}": use one of ${[...SEM_VER_OPERATORS].join(" ")}` });
    }
    walk(args, at, depth + 1);
  };
  walk(logic, [], 0);
  return problems;
}

/** Whether a targeting expression is flagd's "no targeting" (absent, or `{}`): the default variant, reason STATIC. */
export function isEmptyTargeting(logic: unknown): boolean {
  return logic === undefined || (logic !== null && typeof logic === "object" && !Array.isArray(logic) && Object.keys(logic).length === 0);
}
