/**
 * Publishing: the snapshot head edges poll, each flag's published entry, the
 * change log that lets an isolate apply a delta, and the flags marked to be
 * composed again (tables `snapshot`, `flag_entries`, `snapshot_changes`,
 * `dirty_flags`). Each changed entry goes to KV under its own immutable key
 * (`entry/<key>/<version>`) and the whole snapshot under its versioned key;
 * the head moves last. Edges fall back to the registry for anything KV lacks.
 */
import { fingerprint } from "../../core/canonical";
import { entryStorageKey, snapshotStorageKey, type SnapshotChange, type SnapshotFlag, type SnapshotHead } from "../../core/snapshot";
import type { RegistryMeta } from "./meta";
import type { Sql } from "../sql";

/** How long superseded snapshots stay readable in KV (edges only read the newest). */
const SNAPSHOT_KV_TTL_S = 86_400;
/** Versions the head's change log reaches back, at most, and keys it lists, at most (a manifest touching more is loaded whole). */
const HEAD_CHANGE_VERSIONS = 64;
const HEAD_CHANGE_KEYS = 128;

/** What publishing needs of the flags: their keys, and each one's entry as it should be served now (null: deleted). */
export interface Composer {
  keys(): string[];
  compose(key: string): SnapshotFlag | null;
}

export class Publisher {
  constructor(
    private readonly sql: Sql,
    private readonly meta: RegistryMeta,
    private readonly kv: KVNamespace,
  ) {}

  /** An empty registry still publishes: edges then answer FLAG_NOT_FOUND, not "no snapshot". */
  ensureSnapshot(): void {
    if (this.sql.first("SELECT id FROM snapshot WHERE id = 1") === null) {
      this.sql.run("INSERT INTO snapshot (id, version, etag, body) VALUES (1, 1, ?, '')", snapshotEtag(1, []));
    }
  }

  version(): number {
    return this.sql.first<{ version: number }>("SELECT version FROM snapshot WHERE id = 1")?.version ?? 0;
  }

  /** The head edges poll, with what the recent versions changed (a delta an isolate can apply). */
  head(): SnapshotHead {
    const row = this.sql.first<{ version: number; etag: string }>("SELECT version, etag FROM snapshot WHERE id = 1");
    const version = row?.version ?? 0;
    return { version, etag: row?.etag ?? '"0"', ...this.changeLog(version) };
  }

  /**
   * The newest versions' changes, newest first, while they fit HEAD_CHANGE_KEYS
   * keys (the head is read by every isolate every refresh, so it stays small);
   * `since` is the newest version they do not cover.
   */
  private changeLog(version: number): { since: number; changes: SnapshotChange[] } {
    const rows = this.sql.all<{ version: number; key: string; deleted: number }>(
      "SELECT version, key, deleted FROM snapshot_changes WHERE version > ? ORDER BY version DESC, key", version - HEAD_CHANGE_VERSIONS,
    );
    const byVersion = new Map<number, SnapshotChange>();
    for (const r of rows) {
      const change = byVersion.get(r.version) ?? { version: r.version, set: [], deleted: [] };
      (r.deleted ? change.deleted : change.set).push(r.key);
      byVersion.set(r.version, change);
    }
    const changes: SnapshotChange[] = [];
    let keys = 0;
    let since = version;
    // Versions published before delta snapshots existed, or by a full recomposition, are not deltas.
    const firstKnown = this.meta.get("first_delta_version") ?? Number.POSITIVE_INFINITY;
    // Versions with no row changed nothing edges see (a republish): they are covered too.
    for (let v = version; v > Math.max(0, version - HEAD_CHANGE_VERSIONS); v--) {
      const change = byVersion.get(v);
      const size = change ? change.set.length + change.deleted.length : 0;
      if (keys + size > HEAD_CHANGE_KEYS || v < firstKnown) break;
      if (change) changes.push(change);
      keys += size;
      since = v - 1;
    }
    return { since, changes };
  }

  /** The latest snapshot as JSON text (edges parse and validate it once), built from the published entries. */
  snapshotJson(): string {
    const row = this.sql.first<{ version: number; etag: string }>("SELECT version, etag FROM snapshot WHERE id = 1");
    if (row === null) throw new Error("registry has no snapshot");
    const bodies = this.sql.all<{ body: string }>("SELECT body FROM flag_entries ORDER BY key").map((r) => r.body);
    return fullSnapshotText(row.version, row.etag, this.meta.get("published_at") ?? 0, bodies);
  }

  /** One flag's entry as published in `version`, or null when it has changed since. */
  entryJson(key: string, version: number): string | null {
    return this.sql.first<{ body: string }>("SELECT body FROM flag_entries WHERE key = ? AND version = ?", key, version)?.body ?? null;
  }

  /** One flag's current entry (null: no such flag). */
  currentEntry(key: string): string | null {
    return this.sql.first<{ body: string }>("SELECT body FROM flag_entries WHERE key = ?", key)?.body ?? null;
  }

  /** The flag's entry must be published again (its spec or a wave's state changed, or it was deleted). */
  markDirty(key: string): void {
    this.sql.run("INSERT INTO dirty_flags (key) VALUES (?) ON CONFLICT (key) DO NOTHING", key);
  }

  hasDirty(): boolean {
    return this.sql.first("SELECT key FROM dirty_flags LIMIT 1") !== null;
  }

  /**
   * Publishes the next version. Only flags marked dirty are composed again;
   * an entry whose content did not change is not republished.
   */
  async publish(now: number, flags: Composer): Promise<void> {
    const version = this.version() + 1;
    // Keys and versions of every entry (small); contents only for the dirty flags compared below.
    const published = new Map(this.sql.all<{ key: string; version: number }>("SELECT key, version FROM flag_entries").map((r) => [r.key, r]));
    const allKeys = flags.keys();
    // After the upgrade that introduced entries (none yet) every flag is composed once.
    const all = published.size === 0 && allKeys.length > 0;
    const dirty = all ? allKeys : this.sql.all<{ key: string }>("SELECT key FROM dirty_flags").map((r) => r.key);
    const set: { key: string; content: string; body: string }[] = [];
    const deleted: string[] = [];
    for (const key of dirty) {
      const entry = flags.compose(key);
      if (entry === null) {
        if (published.has(key)) deleted.push(key);
        continue;
      }
      const content = JSON.stringify(entry);
      if (this.sql.first<{ content: string }>("SELECT content FROM flag_entries WHERE key = ?", key)?.content === content) continue;
      set.push({ key, content, body: JSON.stringify({ ...entry, configVersion: version }) });
    }
    for (const { key } of set) published.set(key, { key, version });
    for (const key of deleted) published.delete(key);
    const etag = snapshotEtag(version, [...published.values()].map((e) => [e.key, e.version] as const));
    const bodies = new Map(this.sql.all<{ key: string; body: string }>("SELECT key, body FROM flag_entries").map((r) => [r.key, r.body]));
    for (const { key, body } of set) bodies.set(key, body);
    for (const key of deleted) bodies.delete(key);
    const full = fullSnapshotText(version, etag, now, [...bodies.keys()].sort().map((k) => bodies.get(k) ?? ""));
    try {
      await Promise.all([
        ...set.map(({ key, body }) => this.kv.put(entryStorageKey(key, version), body, { expirationTtl: SNAPSHOT_KV_TTL_S })),
        this.kv.put(snapshotStorageKey({ version, etag }), full, { expirationTtl: SNAPSHOT_KV_TTL_S }),
      ]);
    } catch (error) {
      // Edges fall back to the registry when KV lacks an entry or a version; publishing goes on.
      console.error(`snapshot ${version}: KV write failed`, error);
    }
    this.sql.transaction(() => {
      for (const { key, content, body } of set) {
        this.sql.run("INSERT INTO flag_entries (key, version, content, body) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET version = excluded.version, content = excluded.content, body = excluded.body", key, version, content, body);
        this.sql.run("INSERT INTO snapshot_changes (version, key, deleted) VALUES (?, ?, 0)", version, key);
      }
      for (const key of deleted) {
        this.sql.run("DELETE FROM flag_entries WHERE key = ?", key);
        this.sql.run("INSERT INTO snapshot_changes (version, key, deleted) VALUES (?, ?, 1)", version, key);
      }
      this.sql.run("DELETE FROM snapshot_changes WHERE version <= ?", version - HEAD_CHANGE_VERSIONS);
      // A full recomposition (the first after the upgrade) is not a delta from the version before it.
      if (all || this.meta.get("first_delta_version") === null) this.meta.set("first_delta_version", version + 1);
      this.sql.run("UPDATE snapshot SET version = ?, etag = ?, body = '' WHERE id = 1", version, etag);
      this.meta.set("published_at", now);
      this.sql.run("DELETE FROM dirty_flags");
    });
  }
}

/** A snapshot's ETag: its version and a fingerprint of which entry (key, version changed in) each flag is at. */
function snapshotEtag(version: number, entries: readonly (readonly [string, number])[]): string {
  return `"${version}-${fingerprint(entries.map(([k, v]) => `${k}@${v}`).sort().join(","))}"`;
}

/** The whole snapshot's JSON from its entries' JSON, without parsing or serialising them again. */
function fullSnapshotText(version: number, etag: string, publishedAt: number, bodies: readonly string[]): string {
  return `{"version":${version},"etag":${JSON.stringify(etag)},"publishedAt":${publishedAt},"flags":[${bodies.join(",")}]}`;
}
