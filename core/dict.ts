/**
 * Dictionaries keyed by user input (event names, histogram buckets, context
 * attributes). A plain `{}` inherits from `Object.prototype`, so a key such as
 * `__proto__` rewires it (prototype pollution) and `toString` or
 * `constructor` read inherited members. A `Dict` has no prototype: every key
 * is an own property and nothing else is there.
 *
 * zod's `z.record` builds a plain object and silently drops or misreads those
 * keys, so storage and RPC input go through `dictSchema`, which does not.
 */
import { z } from "zod";

export type Dict<T> = Record<string, T>;

/** An empty dictionary without a prototype. */
export function dict<T>(): Dict<T> {
  return Object.create(null) as Dict<T>;
}

/** A dictionary without a prototype holding the own enumerable entries of `source`. */
export function dictFrom<T>(entries: Iterable<readonly [string, T]>): Dict<T> {
  const out = dict<T>();
  for (const [key, value] of entries) out[key] = value;
  return out;
}

/** The value at `key` if it is an own property (never an inherited member). */
export function own<T>(d: Readonly<Dict<T>>, key: string): T | undefined {
  return Object.prototype.hasOwnProperty.call(d, key) ? d[key] : undefined;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * A zod schema for a dictionary whose keys come from users: validates each
 * value and returns a prototype-free `Dict`, keeping keys like `__proto__`.
 */
export function dictSchema<S extends z.ZodType>(value: S) {
  return z.unknown().transform((input, ctx): Dict<z.output<S>> => {
    if (!isPlainObject(input)) {
      ctx.addIssue({ code: "custom", message: "must be an object" });
      return z.NEVER;
    }
    const out = dict<z.output<S>>();
    for (const key of Object.keys(input)) {
      const parsed = value.safeParse(input[key]);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) ctx.addIssue({ code: "custom", path: [key, ...issue.path], message: issue.message });
        continue;
      }
      out[key] = parsed.data;
    }
    return out;
  });
}

/**
 * A deep copy made of plain objects, for Durable Object RPC: workerd's
 * structured clone refuses prototype-free objects. Receivers validate what
 * arrives through their schemas, which rebuild prototype-free dictionaries.
 */
export function plainCopy<T>(value: T): T {
  // The one sanctioned cast: a JSON round trip of a value of type T is that value, with plain objects.
  // eslint-disable-next-line no-restricted-syntax
  return JSON.parse(JSON.stringify(value)) as T;
}

/**
 * Like `dictSchema`, for keys with their own schema (so the OpenAPI document
 * shows them), returning a prototype-free `Dict`. `z.record` silently drops
 * an own `__proto__` key: documents never carry one here, because the body
 * parser refuses it with its position (`worker/body.ts`), and a key schema
 * should not admit it either (variant names start with a letter).
 */
export function keyedDictSchema<K extends z.ZodType<string>, S extends z.ZodType>(key: K, value: S) {
  // A bad key is refused with the key schema's own message ("variant names start with …"), not zod's "Invalid key in record".
  const keyMessage = (issue: { code?: string; issues?: readonly { message: string }[] }) => (issue.code === "invalid_key" ? issue.issues?.[0]?.message : undefined);
  return z.record(key, value, { error: keyMessage }).transform((record): Dict<z.output<S>> => dictFrom(Object.entries(record) as [string, z.output<S>][]));
}
