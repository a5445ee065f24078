/**
 * The compiled flags of a snapshot after a delta, without copying the
 * unchanged ones: a small layer of changed and deleted keys over the map
 * of the snapshot it came from. Each delta makes a new layer over the same
 * base (so a snapshot an in-flight request still holds never changes under
 * it), merging the small layers; once a layer holds COMPACT_AT keys it is
 * folded into a fresh map — one copy per COMPACT_AT changed flags instead of
 * one per change, which at 10,000 flags is most of a delta's cost.
 */

/** Changed keys a layer holds before it is folded into a new base map. */
export const COMPACT_AT = 64;

/** A base map that folds changes in itself (a lazily compiled table must not compile everything to be copied). */
export interface Foldable<V> extends ReadonlyMap<string, V> {
  fold(changed: ReadonlyMap<string, V>, deleted: ReadonlySet<string>): ReadonlyMap<string, V>;
}

function isFoldable<V>(map: ReadonlyMap<string, V>): map is Foldable<V> {
  return typeof (map as Partial<Foldable<V>>).fold === "function";
}

/** A read-only map defined by its entries: keys, values, iteration and forEach follow from `entries()`. */
export abstract class EntriesMap<V> implements ReadonlyMap<string, V> {
  abstract get(key: string): V | undefined;
  abstract has(key: string): boolean;
  abstract get size(): number;
  abstract entries(): MapIterator<[string, V]>;

  *keys(): MapIterator<string> {
    for (const [key] of this.entries()) yield key;
  }

  *values(): MapIterator<V> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  forEach(callback: (value: V, key: string, map: ReadonlyMap<string, V>) => void, thisArg?: unknown): void {
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this);
  }
}

export class LayeredMap<V> extends EntriesMap<V> {
  private constructor(
    private readonly base: ReadonlyMap<string, V>,
    private readonly changed: ReadonlyMap<string, V>,
    private readonly deleted: ReadonlySet<string>,
  ) {
    super();
  }

  /** `previous` with `changed` set and `deleted` removed; `previous` itself is left as it was. */
  static applied<V>(previous: ReadonlyMap<string, V>, changed: ReadonlyMap<string, V>, deleted: Iterable<string>): ReadonlyMap<string, V> {
    const layer = previous instanceof LayeredMap ? (previous as LayeredMap<V>) : null;
    const base = layer ? layer.base : previous;
    const nextChanged = new Map(layer ? layer.changed : []);
    const nextDeleted = new Set(layer ? layer.deleted : []);
    for (const [key, value] of changed) {
      nextChanged.set(key, value);
      nextDeleted.delete(key);
    }
    for (const key of deleted) {
      nextChanged.delete(key);
      if (base.has(key)) nextDeleted.add(key);
    }
    if (nextChanged.size + nextDeleted.size < COMPACT_AT) return new LayeredMap(base, nextChanged, nextDeleted);
    if (isFoldable(base)) return base.fold(nextChanged, nextDeleted);
    const folded = new Map(base);
    for (const key of nextDeleted) folded.delete(key);
    for (const [key, value] of nextChanged) folded.set(key, value);
    return folded;
  }

  override get(key: string): V | undefined {
    const value = this.changed.get(key);
    if (value !== undefined) return value;
    return this.deleted.has(key) ? undefined : this.base.get(key);
  }

  override has(key: string): boolean {
    return this.changed.has(key) || (!this.deleted.has(key) && this.base.has(key));
  }

  override get size(): number {
    let size = this.base.size - this.deleted.size;
    for (const key of this.changed.keys()) if (!this.base.has(key)) size++;
    return size;
  }

  override *entries(): MapIterator<[string, V]> {
    for (const [key, value] of this.base) {
      if (this.deleted.has(key)) continue;
      yield [key, this.changed.get(key) ?? value];
    }
    for (const [key, value] of this.changed) if (!this.base.has(key)) yield [key, value];
  }
}
