/** Scope of a flag (tenants, regions, attribute rules), compiled to sets once per snapshot. */
import { own } from "./dict";
import type { Scope } from "./manifest";

export interface CompiledScope {
  readonly tenants: ReadonlySet<string> | null;
  readonly regions: ReadonlySet<string> | null;
  readonly rules: readonly { readonly attribute: string; readonly include: boolean; readonly values: ReadonlySet<string> }[];
}

const ANY = new Set(["all", "*"]);

function listToSet(list: readonly string[] | undefined): ReadonlySet<string> | null {
  if (!list || list.some((v) => ANY.has(v))) return null;
  return new Set(list);
}

export function compileScope(scope: Scope): CompiledScope {
  return {
    tenants: listToSet(scope.tenants),
    regions: listToSet(scope.regions),
    rules: (scope.rules ?? []).map((r) => ({
      attribute: r.attribute,
      include: r.op === "in",
      values: new Set(r.values.map(String)),
    })),
  };
}

function primitive(value: unknown): string | null {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return null;
}

/** A context missing an attribute the scope names is out of scope: the safe side is the baseline. */
export function inScope(scope: CompiledScope, context: Readonly<Record<string, unknown>>): boolean {
  if (scope.tenants !== null) {
    const tenant = primitive(own(context, "tenant"));
    if (tenant === null || !scope.tenants.has(tenant)) return false;
  }
  if (scope.regions !== null) {
    const region = primitive(own(context, "region"));
    if (region === null || !scope.regions.has(region)) return false;
  }
  for (const rule of scope.rules) {
    const value = primitive(own(context, rule.attribute));
    if (value === null) return false;
    if (rule.values.has(value) !== rule.include) return false;
  }
  return true;
}
