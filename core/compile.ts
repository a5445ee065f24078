/** A snapshot compiled for the hot path: a map from flag key to compiled flag. */
import { compileFlag, type CompiledFlag } from "./assign";
import type { Snapshot } from "./snapshot";

export interface CompiledSnapshot {
  readonly version: number;
  readonly etag: string;
  readonly publishedAt: number;
  readonly flags: ReadonlyMap<string, CompiledFlag>;
}

export function compileSnapshot(snapshot: Snapshot): CompiledSnapshot {
  const flags = new Map<string, CompiledFlag>();
  for (const flag of snapshot.flags) flags.set(flag.key, compileFlag(flag, snapshot.version));
  return { version: snapshot.version, etag: snapshot.etag, publishedAt: snapshot.publishedAt, flags };
}
