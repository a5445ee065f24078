/**
 * Webhook delivery for a FlagDO: notifications are written to an outbox in
 * the same transaction as the decision, and delivered afterwards by the
 * object's alarm with exponential backoff, so a slow or failing receiver
 * never delays or blocks a decision. Each POST carries
 * `X-Rampart-Signature: sha256=<hex HMAC-SHA256 of the body>` under
 * WEBHOOK_SECRET; without the secret nothing is sent.
 */
import { toHex } from "../../core/canonical";
import type { Sql } from "../sql";

export const MAX_ATTEMPTS = 8;
const BACKOFF_BASE_MS = 2_000;
const BACKOFF_MAX_MS = 3_600_000;
const DELIVERY_TIMEOUT_MS = 10_000;
/** Deliveries in flight at once from one object's alarm. */
const DELIVERY_CONCURRENCY = 6;

interface OutboxRow extends Record<string, string | number | null> {
  id: number;
  url: string;
  body: string;
  attempts: number;
  next_at: number;
}

export class Outbox {
  /** Its table comes from the FlagDO's migrations (`flag-schema.ts`). */
  constructor(private readonly sql: Sql) {}

  enqueue(urls: readonly string[], payload: unknown, now: number): number {
    const body = JSON.stringify(payload);
    for (const url of urls) this.sql.run("INSERT INTO outbox (url, body, next_at) VALUES (?, ?, ?)", url, body, now);
    return urls.length;
  }

  /** When the next delivery is due, or null when the outbox is empty. */
  nextDue(): number | null {
    return this.sql.first<{ t: number | null }>("SELECT MIN(next_at) AS t FROM outbox")?.t ?? null;
  }

  pending(): number {
    return this.sql.first<{ n: number }>("SELECT COUNT(*) AS n FROM outbox")?.n ?? 0;
  }

  /**
   * Delivers what is due, several at a time (one hanging receiver cannot hold
   * up the others: each POST has its own timeout); a failure is rescheduled
   * with backoff counted from when the attempt ended, and dropped after
   * MAX_ATTEMPTS. Without a WEBHOOK_SECRET nothing is sent: a receiver could
   * not tell Rampart's notifications from anyone's.
   */
  async deliverDue(now: number, secret: string | undefined, send: typeof fetch = fetch, clock: () => number = Date.now): Promise<{ delivered: number; failed: number }> {
    const due = this.sql.all<OutboxRow>("SELECT * FROM outbox WHERE next_at <= ? ORDER BY id LIMIT 50", now);
    let delivered = 0;
    let failed = 0;
    const started = clock();
    for (let i = 0; i < due.length; i += DELIVERY_CONCURRENCY) {
      const slice = due.slice(i, i + DELIVERY_CONCURRENCY);
      const results = await Promise.all(slice.map((item) => (secret ? post(item, secret, send) : unsigned(item))));
      // Backoff counts from the end of the attempt (a 10 s timeout must not eat a 2 s backoff).
      const ended = now + (clock() - started);
      slice.forEach((item, j) => {
        if (results[j]) {
          this.sql.run("DELETE FROM outbox WHERE id = ?", item.id);
          delivered++;
          return;
        }
        failed++;
        const attempts = item.attempts + 1;
        if (attempts >= MAX_ATTEMPTS) {
          console.error(`webhook ${item.url}: giving up after ${attempts} attempts`);
          this.sql.run("DELETE FROM outbox WHERE id = ?", item.id);
        } else {
          const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempts - 1));
          this.sql.run("UPDATE outbox SET attempts = ?, next_at = ? WHERE id = ?", attempts, ended + delay, item.id);
        }
      });
    }
    return { delivered, failed };
  }
}

async function unsigned(item: OutboxRow): Promise<boolean> {
  console.error(`webhook ${item.url}: not sent, WEBHOOK_SECRET is not set (notifications are always signed)`);
  return false;
}

async function post(item: OutboxRow, secret: string, send: typeof fetch): Promise<boolean> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": "rampart-webhook",
    "x-rampart-signature": `sha256=${await hmacHex(secret, item.body)}`,
  };
  try {
    const response = await send(item.url, { method: "POST", headers, body: item.body, signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS) });
    await response.body?.cancel();
    return response.ok;
  } catch (error) {
    console.warn(`webhook ${item.url} failed`, error);
    return false;
  }
}

/** Hex HMAC-SHA256 of `body` under `secret` (what a receiver recomputes to verify). */
export async function hmacHex(secret: string, body: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const signature = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(body));
  return toHex(signature);
}

/** Whether `header` is `sha256=<HMAC of body>` under `secret`, compared in constant time. */
export async function signatureMatches(secret: string, body: string, header: string | null): Promise<boolean> {
  const expected = new TextEncoder().encode(`sha256=${await hmacHex(secret, body)}`);
  const given = new TextEncoder().encode(header ?? "");
  let diff = expected.length ^ given.length;
  for (let i = 0; i < expected.length; i++) diff |= (expected[i] ?? 0) ^ (given[i] ?? 0);
  return diff === 0;
}
