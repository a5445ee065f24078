/**
 * The one opening every script shares: its options declared once (type,
 * default, bounds, help), `--help` printed from them, and a bad value
 * refused with the option named and exit status 2 — before any work starts.
 */
import { parseArgs } from "node:util";

type OptionSpec =
  | { type: "int"; default: number; min?: number; max?: number; help: string }
  | { type: "number"; default: number; min?: number; max?: number; exclusiveMin?: boolean; help: string }
  | { type: "string"; default?: string; help: string; placeholder?: string }
  | { type: "list"; default: readonly string[]; choices?: readonly string[]; help: string }
  | { type: "boolean"; help: string };

type ValueOf<O extends OptionSpec> = O extends { type: "int" | "number" } ? number : O extends { type: "list" } ? string[] : O extends { type: "boolean" } ? boolean : O extends { type: "string"; default: string } ? string : string | undefined;
export type ScriptArgs<S extends Record<string, OptionSpec>> = { [K in keyof S]: ValueOf<S[K]> };

export interface ScriptInfo {
  /** How it is run: "npm run bench:core". */
  command: string;
  /** One line on what it does, and any line a user needs before running it. */
  about: string;
}

/** The help text, from the declared options. */
export function scriptHelp(info: ScriptInfo, options: Record<string, OptionSpec>): string {
  const lines = [`usage: ${info.command} -- [options]`, info.about, "", "options:"];
  for (const [name, o] of Object.entries(options)) {
    const value = o.type === "boolean" ? "" : o.type === "list" ? " a,b" : o.type === "string" ? ` ${o.placeholder ?? "TEXT"}` : " N";
    const fallback = o.type === "boolean" ? "" : o.type === "list" ? (o.default.length > 0 ? ` (default ${o.default.join(",")})` : "") : o.default !== undefined ? ` (default ${o.default})` : "";
    const choices = o.type === "list" && o.choices && o.choices.length <= 8 ? `; of ${o.choices.join(", ")}` : "";
    lines.push(`  --${name}${value}`.padEnd(30) + ` ${o.help}${fallback}${choices}`);
  }
  lines.push("  -h, --help".padEnd(30) + " this text");
  return lines.join("\n");
}

/** Parses `argv` against `options`; prints help (exit 0) or the first error (exit 2) and stops the script. */
export function scriptArgs<S extends Record<string, OptionSpec>>(info: ScriptInfo, options: S, argv: string[] = process.argv.slice(2)): ScriptArgs<S> {
  const result = parseScriptArgs(options, argv);
  if (result.kind === "help") {
    console.log(scriptHelp(info, options));
    process.exit(0);
  }
  if (result.kind === "error") {
    console.error(`${info.command}: ${result.message}\n${scriptHelp(info, options).split("\n")[0] ?? ""} (--help for the options)`);
    process.exit(2);
  }
  return result.values;
}

/** The parse without exiting, for tests: the values, a request for help, or what is wrong. */
export function parseScriptArgs<S extends Record<string, OptionSpec>>(options: S, argv: string[]): { kind: "ok"; values: ScriptArgs<S> } | { kind: "help" } | { kind: "error"; message: string } {
  const config: Record<string, { type: "string" | "boolean"; short?: string }> = { help: { type: "boolean", short: "h" } };
  for (const [name, o] of Object.entries(options)) config[name] = { type: o.type === "boolean" ? "boolean" : "string" };
  let raw: Record<string, string | boolean | undefined>;
  try {
    raw = parseArgs({ args: argv, options: config, allowPositionals: false, strict: true }).values;
  } catch (error) {
    return { kind: "error", message: (error instanceof Error ? error.message : String(error)).split("\n")[0] ?? "bad arguments" };
  }
  if (raw["help"] === true) return { kind: "help" };
  const values: Record<string, unknown> = {};
  for (const [name, o] of Object.entries(options)) {
    const given = raw[name];
    if (o.type === "boolean") {
      values[name] = given === true;
      continue;
    }
    if (o.type === "string") {
      values[name] = typeof given === "string" ? given : o.default;
      continue;
    }
    if (o.type === "list") {
      const list = typeof given === "string" ? given.split(",").map((s) => s.trim()).filter(Boolean) : [...o.default];
      const unknown = o.choices ? list.filter((v) => !o.choices?.includes(v)) : [];
      if (unknown.length > 0) return { kind: "error", message: `--${name}: unknown ${unknown.join(", ")}; ${o.choices && o.choices.length <= 8 ? `choose from ${o.choices.join(", ")}` : "--help lists what there is"}` };
      values[name] = list;
      continue;
    }
    const n = typeof given === "string" ? Number(given) : o.default;
    const bounds = o.min !== undefined && o.max !== undefined ? ` from ${o.min} to ${o.max}` : o.min !== undefined ? ` ≥ ${o.min}` : o.max !== undefined ? ` ≤ ${o.max}` : "";
    const what = o.type === "int" ? "an integer" : "a number";
    if (!Number.isFinite(n) || (o.type === "int" && !Number.isInteger(n))) return { kind: "error", message: `--${name} must be ${what}${bounds} (got ${String(given)})` };
    const belowMin = o.min !== undefined && (o.type === "number" && o.exclusiveMin ? n <= o.min : n < o.min);
    if (belowMin || (o.max !== undefined && n > o.max)) return { kind: "error", message: `--${name} must be ${what}${o.type === "number" && o.exclusiveMin ? ` > ${o.min}${o.max !== undefined ? ` and ≤ ${o.max}` : ""}` : bounds} (got ${String(given)})` };
    values[name] = n;
  }
  return { kind: "ok", values: values as ScriptArgs<S> };
}
