/**
 * A fixed-window rate limit per client, kept in isolate memory. It bounds
 * what one client can push through one isolate (backpressure instead of a
 * retry storm) before the global limit (Cloudflare's Rate Limiting binding)
 * is asked. Memory is bounded: past `maxClients` the expired windows go
 * first, then the oldest — never everyone's at once, so a flood of new
 * client keys cannot clear other clients' limits.
 */
export class RateLimiter {
  private windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly maxClients = 10_000,
  ) {}

  /** Counts a call; returns 0 when allowed, else the seconds until the client may retry. */
  take(client: string, now: number): number {
    const w = this.windows.get(client);
    if (!w || now - w.start >= this.windowMs) {
      this.windows.delete(client);
      if (this.windows.size >= this.maxClients) this.evict(now);
      this.windows.set(client, { start: now, count: 1 });
      return 0;
    }
    if (w.count >= this.limit) return Math.max(1, Math.ceil((w.start + this.windowMs - now) / 1000));
    w.count += 1;
    return 0;
  }

  /** Makes room: expired windows first, else the oldest one (Map keeps insertion order). */
  private evict(now: number): void {
    for (const [client, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(client);
    if (this.windows.size < this.maxClients) return;
    const oldest = this.windows.keys().next();
    if (!oldest.done) this.windows.delete(oldest.value);
  }
}
