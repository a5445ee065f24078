/**
 * OFREP change events over server-sent events: `GET /ofrep/v1/flag-changes`.
 * Browsers with an OFREP web provider (or any `EventSource`) learn that the
 * configuration changed and re-fetch their bulk evaluation once — not per
 * flag, and without polling.
 *
 * - Event ids are configuration versions (stable and increasing), so a
 *   reconnecting client's `Last-Event-ID` says what it has seen: if the
 *   configuration moved on meanwhile it gets one event at once.
 * - Each event is a default `message` whose data is
 *   `{"type": "refetchEvaluation", "etag": "<config etag>"}` — the shape the
 *   OFREP web provider's SSE handling reads.
 * - The stream watches this isolate's snapshot (no storage read per
 *   connection: the snapshot cache refreshes on its own cadence), so an
 *   event follows a change within the propagation bound
 *   (`docs/propagation.md`). Comments keep idle connections open; a stream
 *   ends after STREAM_LIFETIME_MS and the browser reconnects with its
 *   `Last-Event-ID`, which bounds how long one Worker invocation lives.
 */
import type { CompiledSnapshot } from "../core/compile";
import type { Schedule, SnapshotCache } from "./snapshot";

export const CHANGE_STREAM_PATH = "/ofrep/v1/flag-changes";
/** How often a stream looks at the isolate's snapshot. */
export const WATCH_MS = 250;
const HEARTBEAT_MS = 15_000;
export const STREAM_LIFETIME_MS = 5 * 60_000;
/** What the bulk response advertises as the client's inactivity delay (OFREP `inactivityDelaySec`). */
export const INACTIVITY_DELAY_SEC = 120;

/** The `eventStreams` entry OFREP bulk responses carry, so providers find the stream. */
export function eventStreamsFor(requestUrl: string) {
  return [{ type: "sse", endpoint: { origin: new URL(requestUrl).origin, requestUri: CHANGE_STREAM_PATH }, inactivityDelaySec: INACTIVITY_DELAY_SEC }];
}

/** A client's last seen version from `Last-Event-ID` (or `?lastEventId=` for clients that cannot set headers). */
export function lastSeenVersion(header: string | undefined, query: string | undefined): number | null {
  const text = header ?? query;
  if (text === undefined || !/^\d{1,15}$/.test(text)) return null;
  return Number(text);
}

function event(snapshot: CompiledSnapshot): string {
  return `id: ${snapshot.version}\ndata: ${JSON.stringify({ type: "refetchEvaluation", etag: snapshot.etag })}\n\n`;
}

/** The event stream body; `lastSeen` null: the client starts from what it fetches now. */
export function changeStream(cache: SnapshotCache, schedule: Schedule, lastSeen: number | null, sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms))): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let seen = lastSeen;
  /** Time since the stream opened, counted in watch steps (the clock does not advance inside a request on Workers). */
  let elapsed = 0;
  let lastWrite = 0;
  const current = async (): Promise<CompiledSnapshot | null> => {
    const served = cache.serve(schedule);
    return served instanceof Promise ? await served : served;
  };
  return new ReadableStream<Uint8Array>({
    async start(controller) {
      const snapshot = await current();
      // Tell EventSource to reconnect after 1 s when the stream ends; say where the client stands.
      let head = `retry: 1000\n: rampart change stream, configuration version ${snapshot?.version ?? "none yet"}\n\n`;
      if (snapshot && seen !== null && snapshot.version > seen) head += event(snapshot);
      if (snapshot) seen = Math.max(seen ?? 0, snapshot.version);
      controller.enqueue(encoder.encode(head));
    },
    async pull(controller) {
      // One pull per wake-up: wait, look, maybe write; the runtime calls pull again while the client reads.
      for (;;) {
        await sleep(WATCH_MS);
        elapsed += WATCH_MS;
        if (elapsed >= STREAM_LIFETIME_MS) {
          controller.close();
          return;
        }
        const snapshot = await current();
        if (snapshot && (seen === null || snapshot.version > seen)) {
          seen = snapshot.version;
          lastWrite = elapsed;
          controller.enqueue(encoder.encode(event(snapshot)));
          return;
        }
        if (elapsed - lastWrite >= HEARTBEAT_MS) {
          lastWrite = elapsed;
          controller.enqueue(encoder.encode(": keep-alive\n\n"));
          return;
        }
      }
    },
  });
}
