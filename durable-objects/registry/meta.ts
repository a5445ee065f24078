/**
 * The registry's small settings (table `meta`), each under a fixed key with
 * its own schema: a misspelt key is a type error, and a value is decoded
 * once on read.
 */
import { z } from "zod";
import { LastTickSchema, PendingTickSchema } from "./tick";
import type { Sql } from "../sql";

const NumberText = z.string().transform((v, ctx) => {
  const n = Number(v);
  if (!Number.isFinite(n)) ctx.addIssue({ code: "custom", message: `not a number: ${v}` });
  return n;
});
const JsonText = <T extends z.ZodType>(schema: T) => z.string().transform((v) => schema.parse(JSON.parse(v)));

/** Each key and how its value is stored. */
const META = {
  /** A cron tick still running: its time and how many flags are done. */
  tick: { decode: JsonText(PendingTickSchema), encode: (v: z.infer<typeof PendingTickSchema>) => JSON.stringify(v) },
  /** The last tick that finished. */
  last_tick: { decode: JsonText(LastTickSchema), encode: (v: z.infer<typeof LastTickSchema>) => JSON.stringify(v) },
  /** The first version the change log covers (earlier ones are not deltas). */
  first_delta_version: { decode: NumberText, encode: (v: number) => String(v) },
  /** When the current snapshot was published. */
  published_at: { decode: NumberText, encode: (v: number) => String(v) },
} as const;
type Meta = typeof META;
export type RegistryMetaKey = keyof Meta;
type ValueOf<K extends RegistryMetaKey> = z.infer<Meta[K]["decode"]>;

export class RegistryMeta {
  constructor(private readonly sql: Sql) {}

  get<K extends RegistryMetaKey>(key: K): ValueOf<K> | null {
    const row = this.sql.first<{ v: string }>("SELECT v FROM meta WHERE k = ?", key);
    return row === null ? null : (META[key].decode.parse(row.v) as ValueOf<K>);
  }

  set<K extends RegistryMetaKey>(key: K, value: ValueOf<K>): void {
    const encode = META[key].encode as (v: ValueOf<K>) => string;
    this.sql.run("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", key, encode(value));
  }

  clear(key: RegistryMetaKey): void {
    this.sql.run("DELETE FROM meta WHERE k = ?", key);
  }
}
