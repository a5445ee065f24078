/** A snapshot compiled for the hot path: a map from flag key to compiled flag. */
import { compileFlag, type CompiledFlag } from "./assign";
import { EntriesMap, LayeredMap, type Foldable } from "./flag-table";
import { SnapshotFlagSchema, type SnapshotEnvelope, type SnapshotHead } from "./snapshot";

export interface CompiledSnapshot {
  readonly version: number;
  readonly etag: string;
  readonly publishedAt: number;
  readonly flags: ReadonlyMap<string, CompiledFlag>;
  /**
   * Keys of the flags that route requests, and of those with region waves:
   * what a routed request and /health look through, instead of every flag
   * (compiling each) on every request.
   */
  readonly routeKeys: readonly string[];
  readonly waveKeys: readonly string[];
  /** One flag read ahead of the whole snapshot (a cold isolate): a flag with prerequisites waits for the rest. */
  readonly partial?: true;
}

/** Whether a raw or validated entry defines `field` (read before validation: only the key lists depend on it). */
function defines(flag: unknown, field: "route" | "waves"): boolean {
  return flag !== null && typeof flag === "object" && (flag as Record<string, unknown>)[field] !== undefined;
}

export function compileSnapshot(snapshot: Pick<SnapshotEnvelope, "version" | "etag" | "publishedAt"> & { flags: readonly unknown[] }): CompiledSnapshot {
  const raw = new Map<string, unknown>();
  for (const flag of snapshot.flags) {
    const key = flag !== null && typeof flag === "object" ? (flag as { key?: unknown }).key : undefined;
    if (typeof key === "string") raw.set(key, flag);
    else console.error("snapshot: an entry without a key was skipped");
  }
  const keysWith = (field: "route" | "waves") => [...raw].filter(([, flag]) => defines(flag, field)).map(([key]) => key);
  return { version: snapshot.version, etag: snapshot.etag, publishedAt: snapshot.publishedAt, flags: new LazyFlags(raw, new Map(), snapshot.version), routeKeys: keysWith("route"), waveKeys: keysWith("waves") };
}

/**
 * One published entry validated and compiled, or null — reported, and then
 * served as absent (FLAG_NOT_FOUND) — when this release cannot read it (an
 * entry written by a newer release with a field this one does not know, or
 * a damaged one). Every path that reads entries (the whole snapshot, a
 * delta, a cold isolate's one flag) goes through here, so one bad entry
 * costs that flag, never the refresh that carries every other change.
 */
export function compileEntry(key: string, raw: unknown, version: number): CompiledFlag | null {
  const parsed = SnapshotFlagSchema.safeParse(raw);
  if (parsed.success && parsed.data.key === key) return compileFlag(parsed.data, parsed.data.configVersion ?? version);
  console.error(`snapshot: flag "${key}" is not valid and is not served`, parsed.success ? [{ path: ["key"], message: `entry names "${parsed.data.key}"` }] : parsed.error.issues.slice(0, 3));
  return null;
}

/**
 * A snapshot's flags, each validated and compiled the first time it is
 * read: a cold isolate answering one flag compiles one flag, and an
 * isolate keeps compiled only what it serves. An entry that fails
 * validation is reported once and read as absent (FLAG_NOT_FOUND) rather
 * than failing every other flag. Iterating (a bulk evaluation) compiles all.
 */
class LazyFlags extends EntriesMap<CompiledFlag> implements Foldable<CompiledFlag> {
  constructor(
    private readonly raw: ReadonlyMap<string, unknown>,
    /** Compiled so far; null for an entry that failed validation. Shared with tables folded from this one, for their unchanged keys. */
    private readonly compiled: Map<string, CompiledFlag | null>,
    private readonly version: number,
  ) {
    super();
  }

  override get(key: string): CompiledFlag | undefined {
    const known = this.compiled.get(key);
    if (known !== undefined) return known ?? undefined;
    const raw = this.raw.get(key);
    if (raw === undefined) return undefined;
    const compiled = compileEntry(key, raw, this.version);
    this.compiled.set(key, compiled);
    return compiled ?? undefined;
  }

  override has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  override get size(): number {
    return this.raw.size;
  }

  override *entries(): MapIterator<[string, CompiledFlag]> {
    for (const key of this.raw.keys()) {
      const flag = this.get(key);
      if (flag) yield [key, flag];
    }
  }

  /** A new table with the changes folded in: the raw map copied (references only), nothing compiled that was not. */
  fold(changed: ReadonlyMap<string, CompiledFlag>, deleted: ReadonlySet<string>): ReadonlyMap<string, CompiledFlag> {
    const raw = new Map(this.raw);
    const compiled = new Map(this.compiled);
    for (const key of deleted) {
      raw.delete(key);
      compiled.delete(key);
    }
    for (const [key, flag] of changed) {
      raw.set(key, flag.source);
      compiled.set(key, flag);
    }
    return new LazyFlags(raw, compiled, this.version);
  }
}

/**
 * A compiled snapshot moved to `head` by a delta: the changed entries
 * compiled, the deleted keys dropped, every other flag shared with `base`
 * as it was (its compiled form does not depend on the version), layered
 * over base's map rather than copied (`flag-table.ts`). Work is
 * proportional to what changed.
 */
export function applyDelta(base: CompiledSnapshot, head: Pick<SnapshotHead, "version" | "etag">, changed: ReadonlyMap<string, unknown>, deleted: Iterable<string>, publishedAt: number): CompiledSnapshot {
  const compiled = new Map<string, CompiledFlag>();
  const dropped = new Set(deleted);
  for (const [key, raw] of changed) {
    const flag = compileEntry(key, raw, head.version);
    if (flag) compiled.set(key, flag);
    else dropped.add(key); // as the whole-snapshot path reads it: absent, every other change applied
  }
  const gone = new Set([...dropped, ...compiled.keys()]);
  const keysWith = (previous: readonly string[], field: "route" | "waves") => [...previous.filter((k) => !gone.has(k)), ...[...compiled.values()].filter((f) => defines(f.source, field)).map((f) => f.source.key)];
  return { version: head.version, etag: head.etag, publishedAt, flags: LayeredMap.applied(base.flags, compiled, dropped), routeKeys: keysWith(base.routeKeys, "route"), waveKeys: keysWith(base.waveKeys, "waves") };
}
