/**
 * Hashing response bodies for shadow comparison in bounded memory: bodies
 * are streamed through `crypto.DigestStream` (SHA-256) chunk by chunk, never
 * buffered whole; past `cap` bytes a body is not compared at all.
 */
import { toHex } from "../core/canonical";

/** The digest of a body streamed to its end, or null past `cap` bytes or on a read error. */
export async function streamDigest(body: ReadableStream<Uint8Array> | null, cap: number): Promise<string | null> {
  const digest = new crypto.DigestStream("SHA-256");
  if (body === null) {
    await digest.getWriter().close();
    return toHex(await digest.digest);
  }
  let bytes = 0;
  const limit = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      bytes += chunk.byteLength;
      if (bytes > cap) throw new Error("body larger than the comparison cap");
      controller.enqueue(chunk);
    },
  });
  try {
    await body.pipeThrough(limit).pipeTo(digest);
    return toHex(await digest.digest);
  } catch {
    return null;
  }
}

/**
 * Passes a body through to its reader while hashing it: the hash resolves
 * when the reader has consumed the whole body (null past `cap` bytes, or if
 * the body errors). Nothing is held back beyond the chunk in flight.
 */
export function hashWhileStreaming(body: ReadableStream<Uint8Array> | null, cap: number): { body: ReadableStream<Uint8Array> | null; digest: Promise<string | null> } {
  if (body === null) return { body, digest: streamDigest(null, cap) };
  const digest = new crypto.DigestStream("SHA-256");
  const writer = digest.getWriter();
  let bytes = 0;
  let over = false;
  const result = digest.digest.then(toHex, () => null);
  const pass = new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, controller) {
      controller.enqueue(chunk);
      if (over) return;
      bytes += chunk.byteLength;
      if (bytes > cap) {
        over = true;
        await writer.abort(new Error("body larger than the comparison cap")).catch(() => undefined);
        return;
      }
      await writer.write(chunk);
    },
    async flush() {
      if (!over) await writer.close();
    },
  });
  return { body: body.pipeThrough(pass), digest: result.then((hash) => (over ? null : hash)) };
}
