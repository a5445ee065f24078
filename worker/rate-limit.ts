/**
 * A fixed-window rate limit per client, kept in isolate memory. It bounds
 * what one client can push through one isolate (backpressure instead of a
 * retry storm); a global limit across locations needs Cloudflare's Rate
 * Limiting binding in front.
 */
export class RateLimiter {
  private windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** Counts a call; returns 0 when allowed, else the seconds until the client may retry. */
  take(client: string, now: number): number {
    const w = this.windows.get(client);
    if (!w || now - w.start >= this.windowMs) {
      if (this.windows.size > 10_000) this.windows.clear(); // bounded memory under many clients
      this.windows.set(client, { start: now, count: 1 });
      return 0;
    }
    if (w.count >= this.limit) return Math.max(1, Math.ceil((w.start + this.windowMs - now) / 1000));
    w.count += 1;
    return 0;
  }
}
