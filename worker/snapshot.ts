/**
 * The isolate's copy of the published snapshot. Warm requests get it
 * synchronously; when it is older than `refreshMs` a refresh runs in the
 * background (stale-while-revalidate, coalesced: one at a time per isolate).
 * Only a snapshot older than `maxStaleMs` — an isolate idle for a while — is
 * refreshed before serving, and then for at most `loadTimeoutMs`; on failure
 * the last-known-good snapshot is served. An isolate that never loaded one
 * gets null at once, so evaluation answers 503 instead of hanging.
 */
import { compileSnapshot, type CompiledSnapshot } from "../core/compile";
import type { Snapshot, SnapshotHead } from "../core/snapshot";
import type { Settings } from "./config";

export interface SnapshotSource {
  fetchHead(): Promise<SnapshotHead>;
  fetchSnapshot(head: SnapshotHead): Promise<Snapshot>;
}

export type Schedule = (work: Promise<unknown>) => void;

export class SnapshotCache {
  private current: CompiledSnapshot | null = null;
  /** When the current snapshot was last confirmed against the head (start of that check). */
  private checkedAt = Number.NEGATIVE_INFINITY;
  private failedAt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<void> | null = null;

  constructor(
    private readonly source: SnapshotSource,
    private readonly settings: Pick<Settings, "refreshMs" | "maxStaleMs" | "loadTimeoutMs">,
    private readonly clock: () => number = Date.now,
  ) {}

  /** The snapshot to serve: synchronous when warm, a bounded wait otherwise; null if none is known. */
  serve(schedule: Schedule): CompiledSnapshot | null | Promise<CompiledSnapshot | null> {
    const now = this.clock();
    const age = now - this.checkedAt;
    if (this.current !== null && age < this.settings.refreshMs) return this.current;
    // After a failure, back off for one refresh interval instead of retrying on every request.
    if (now - this.failedAt < this.settings.refreshMs) return this.current;
    if (this.current !== null && age < this.settings.maxStaleMs) {
      schedule(this.refresh());
      return this.current;
    }
    const refresh = this.refresh();
    schedule(refresh);
    return this.within(refresh).then(() => this.current);
  }

  /** Milliseconds since the served snapshot was last confirmed current; null before the first load. */
  ageMs(): number | null {
    return this.current === null ? null : this.clock() - this.checkedAt;
  }

  peek(): CompiledSnapshot | null {
    return this.current;
  }

  /** Checks the head and loads a newer snapshot; concurrent callers share one refresh. */
  refresh(): Promise<void> {
    this.inflight ??= this.load().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  private async load(): Promise<void> {
    const startedAt = this.clock();
    try {
      const head = await this.source.fetchHead();
      if (this.current === null || head.version > this.current.version) {
        const snapshot = await this.source.fetchSnapshot(head);
        if (this.current === null || snapshot.version > this.current.version) this.current = compileSnapshot(snapshot);
      }
      this.checkedAt = startedAt;
    } catch (error) {
      this.failedAt = this.clock();
      console.error("snapshot refresh failed; serving the last-known-good snapshot", error);
    }
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
