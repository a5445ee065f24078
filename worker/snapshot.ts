/**
 * The isolate's copy of the published snapshot. Warm requests get it
 * synchronously; when it is older than `refreshMs` a refresh runs in the
 * background (stale-while-revalidate, one at a time per isolate); a request
 * that must wait loads on its own, never awaiting another request's I/O.
 * Only a snapshot older than `maxStaleMs` — an isolate idle for a while — is
 * refreshed before serving, and then for at most `loadTimeoutMs`; on failure
 * the last-known-good snapshot is served. An isolate that never loaded one
 * gets null at once, so evaluation answers 503 instead of hanging.
 */
import { applyDelta, compileEntry, compileSnapshot, type CompiledSnapshot } from "../core/compile";
import { deltaSince, type SnapshotEnvelope, type SnapshotHead } from "../core/snapshot";
import type { Settings } from "./config";

export interface SnapshotSource {
  fetchHead(): Promise<SnapshotHead>;
  fetchSnapshot(head: SnapshotHead): Promise<SnapshotEnvelope>;
  /**
   * One flag's entry as published in `version` (the version it changed in),
   * as parsed JSON — validated by the cache, like the whole snapshot's
   * entries; null when it is gone or superseded. Without it, every change is
   * a full load.
   */
  fetchEntry?(key: string, version: number): Promise<unknown>;
  /** One flag as currently published (parsed JSON, null: no such flag), with the version, in one read: a cold isolate's first answer. */
  fetchFlag?(key: string): Promise<{ version: number; flag: unknown }>;
}

/** What the isolate's loads cost, for /metrics and the snapshot benchmark. */
export interface LoadStats {
  full: number;
  delta: number;
  entries: number;
  /** Cold answers for one flag read on their own while the whole snapshot loaded. */
  single: number;
}

export type Schedule = (work: Promise<unknown>) => void;

/** How often a request waiting for another request's load looks at its result. */
const LOAD_POLL_MS = 5;

/**
 * The longest a keep-warm chain runs: it lives in the `waitUntil` of the
 * request that started it, which a Worker may extend by at most ~30 s after
 * its response; the next refresh a request starts begins a new chain.
 */
export const KEEP_WARM_CHAIN_MS = 25_000;

export class SnapshotCache {
  private current: CompiledSnapshot | null = null;
  /** When the current snapshot was last confirmed against the head (start of that check). */
  private checkedAt = Number.NEGATIVE_INFINITY;
  private failedAt = Number.NEGATIVE_INFINITY;
  /** A load is running (a flag, not a promise: no request ever awaits another request's I/O). */
  private loading = false;
  /** When a request last asked for the snapshot (keep-warm runs while this is recent). */
  private servedAt = Number.NEGATIVE_INFINITY;
  /** The deadline of the running keep-warm chain; a new chain may start once it has passed (or the chain ended). */
  private warmingUntil = Number.NEGATIVE_INFINITY;
  readonly loads: LoadStats = { full: 0, delta: 0, entries: 0, single: 0 };

  constructor(
    private readonly source: SnapshotSource,
    private readonly settings: Pick<Settings, "refreshMs" | "maxStaleMs" | "loadTimeoutMs"> & { readonly keepWarmMs?: number },
    private readonly clock: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {}

  /** The snapshot to serve: synchronous when warm, a bounded wait otherwise; null if none is known. */
  serve(schedule: Schedule): CompiledSnapshot | null | Promise<CompiledSnapshot | null> {
    const now = this.clock();
    this.servedAt = now;
    const age = now - this.checkedAt;
    if (this.current !== null && age < this.settings.refreshMs) return this.current;
    // After a failure, back off for one refresh interval instead of retrying on every request.
    if (now - this.failedAt < this.settings.refreshMs) return this.current;
    if (this.current !== null && age < this.settings.maxStaleMs) {
      if (!this.loading) schedule(this.startLoad(schedule));
      return this.current;
    }
    // Too stale or cold: wait, bounded. Another request's load is waited for by polling its result on this
    // request's own timer — awaiting that request's promise would make workerd cancel this one ("code had
    // hung") when the other request ends first — so concurrent requests still make one load between them.
    if (this.loading) return this.awaitLoad().then(() => this.current);
    const own = this.startLoad(schedule);
    schedule(own);
    return this.within(own).then(() => this.current);
  }

  /**
   * The snapshot to answer for one flag. Warm, it is `serve`. Cold, the
   * whole snapshot starts loading in the background and this request reads
   * only its flag (one read; bounded by LOAD_TIMEOUT_MS) — a cold isolate
   * answers its first evaluation without waiting for every flag. The
   * one-flag snapshot is this request's alone; the isolate keeps the full one.
   */
  serveFlag(schedule: Schedule, key: string): CompiledSnapshot | null | Promise<CompiledSnapshot | null> {
    if (this.current !== null || !this.source.fetchFlag) return this.serve(schedule);
    const fetchFlag = this.source.fetchFlag.bind(this.source);
    if (!this.loading) schedule(this.startLoad(schedule));
    const known = this.coldFlags.get(key);
    // A one-flag read stands only within the bound: past it (the whole snapshot still not in), read it again.
    if (known !== undefined && known !== "reading" && this.clock() - known.publishedAt <= this.settings.maxStaleMs) return known;
    // One read per flag however many requests arrive cold at once: the others poll for its result on their
    // own timers (awaiting the reading request's promise would make workerd cancel them).
    if (known === "reading") return this.awaitColdFlag(key);
    this.coldFlags.set(key, "reading");
    const own = (async (): Promise<CompiledSnapshot | null> => {
      const { version, flag } = await fetchFlag(key);
      this.loads.single++;
      const compiled = flag === null ? null : compileEntry(key, flag, version);
      const flags = new Map(compiled ? [[key, compiled] as const] : []);
      // Only for single evaluations of this flag until the whole snapshot is in: no route or wave list.
      const one: CompiledSnapshot = { version, etag: "", publishedAt: this.clock(), flags, routeKeys: [], waveKeys: [], partial: true };
      if (this.current === null) this.coldFlags.set(key, one);
      return one;
    })();
    // Never past LOAD_TIMEOUT_MS: a failed or slow read answers with whatever the isolate has by then (null: 503).
    return this.withinValue(own).then(
      (one) => this.current ?? one,
      () => {
        this.coldFlags.delete(key);
        return this.current;
      },
    );
  }

  /** One-flag snapshots read while cold (or being read), by key; dropped once the whole snapshot is in. */
  private readonly coldFlags = new Map<string, CompiledSnapshot | "reading">();

  /** Waits (bounded by LOAD_TIMEOUT_MS) for another request's one-flag read, or the whole snapshot, to arrive. */
  private async awaitColdFlag(key: string): Promise<CompiledSnapshot | null> {
    await this.pollUntil(() => this.current !== null || this.coldFlags.get(key) !== "reading");
    const known = this.coldFlags.get(key);
    return this.current ?? (known === "reading" ? null : (known ?? null));
  }

  /** `work`'s value, or null when it takes longer than LOAD_TIMEOUT_MS. */
  private withinValue<T>(work: Promise<T>): Promise<T | null> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), this.settings.loadTimeoutMs);
    });
    return Promise.race([work, timeout]).finally(() => {
      if (timer !== undefined) clearTimeout(timer);
    });
  }

  private startLoad(schedule: Schedule): Promise<void> {
    const load = this.loadExclusive();
    this.keepWarm(schedule);
    return load;
  }

  /** One load, with `loading` set while it runs (requests and the keep-warm chain look at it before starting another). */
  private loadExclusive(): Promise<void> {
    this.loading = true;
    return this.load().finally(() => {
      this.loading = false;
    });
  }

  /**
   * Keeps the snapshot confirmed while the isolate's traffic pauses: for
   * `keepWarmMs` after the last request, a background chain refreshes it
   * every `refreshMs`, so the next request after a pause of a few seconds is
   * served from memory instead of waiting for a head check — and a burst
   * arriving after such a pause does not queue behind one load (requests
   * that wait poll on timers, which a busy isolate fires late). Under
   * steady traffic requests start the refreshes themselves and the chain
   * only looks. One chain at a time, inside the `waitUntil` of the request
   * that started it, for at most KEEP_WARM_CHAIN_MS.
   */
  private keepWarm(schedule: Schedule): void {
    const keepWarmMs = this.settings.keepWarmMs ?? 0;
    const startedAt = this.clock();
    if (keepWarmMs <= 0 || startedAt < this.warmingUntil) return;
    const deadline = startedAt + KEEP_WARM_CHAIN_MS;
    this.warmingUntil = deadline;
    const chain = async (): Promise<void> => {
      for (;;) {
        await this.sleep(this.settings.refreshMs);
        const now = this.clock();
        if (now - this.servedAt >= keepWarmMs || now + this.settings.refreshMs >= deadline) return;
        if (!this.loading && now - this.checkedAt >= this.settings.refreshMs) await this.loadExclusive();
      }
    };
    schedule(
      chain().finally(() => {
        if (this.warmingUntil === deadline) this.warmingUntil = Number.NEGATIVE_INFINITY;
      }),
    );
  }

  /** Waits (bounded by LOAD_TIMEOUT_MS) for a load another request started to finish. */
  private awaitLoad(): Promise<void> {
    return this.pollUntil(() => !this.loading);
  }

  /**
   * Looks every LOAD_POLL_MS, on this request's own timer, until `done` or
   * LOAD_TIMEOUT_MS: how a request waits for another request's I/O without
   * awaiting its promise.
   */
  private async pollUntil(done: () => boolean): Promise<void> {
    for (let waited = 0; !done() && waited < this.settings.loadTimeoutMs; waited += LOAD_POLL_MS) {
      await new Promise((resolve) => setTimeout(resolve, LOAD_POLL_MS));
    }
  }

  /** Milliseconds since the served snapshot was last confirmed current; null before the first load. */
  ageMs(): number | null {
    return this.current === null ? null : this.clock() - this.checkedAt;
  }

  peek(): CompiledSnapshot | null {
    return this.current;
  }

  private async load(): Promise<void> {
    const startedAt = this.clock();
    try {
      const head = await this.source.fetchHead();
      const base = this.current;
      if (base === null || head.version > base.version) {
        const next = base === null ? null : await this.loadDelta(base, head);
        if (next !== null) this.current = next;
        else {
          const snapshot = await this.source.fetchSnapshot(head);
          this.loads.full++;
          if (this.current === null || snapshot.version > this.current.version) this.current = compileSnapshot(snapshot);
          this.coldFlags.clear();
        }
      }
      this.checkedAt = startedAt;
    } catch (error) {
      this.failedAt = this.clock();
      console.error("snapshot refresh failed; serving the last-known-good snapshot", error);
    }
  }

  /**
   * Moves `base` to `head` reading only the flags changed since (the head
   * lists them); null when the head's log does not reach back far enough or
   * an entry is no longer there — the caller then loads the whole snapshot.
   */
  private async loadDelta(base: CompiledSnapshot, head: SnapshotHead): Promise<CompiledSnapshot | null> {
    const fetchEntry = this.source.fetchEntry?.bind(this.source);
    const delta = fetchEntry ? deltaSince(head, base.version) : null;
    if (!fetchEntry || delta === null) return null;
    const keys = [...delta.set.keys()];
    const entries = await Promise.all([...delta.set].map(([key, version]) => fetchEntry(key, version)));
    if (entries.some((e) => e === null)) return null;
    this.loads.delta++;
    this.loads.entries += entries.length;
    if (this.current !== base) return this.current; // another load moved on meanwhile
    // Entries this release cannot read are dropped one by one inside applyDelta, never the whole refresh.
    return applyDelta(base, head, new Map(keys.map((key, i) => [key, entries[i]])), delta.deleted, this.clock());
  }

  private within(work: Promise<void>): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.settings.loadTimeoutMs);
    });
    return Promise.race([work, timeout]).finally(() => {
      if (timer !== undefined) clearTimeout(timer);
    });
  }
}
