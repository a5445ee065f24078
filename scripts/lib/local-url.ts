/**
 * Where a local Rampart listens. `npm start` records its URL here, so the CLI
 * and the demo follow whatever `--port` chose; the order every tool resolves
 * the base URL in is: `--url`, `RAMPART_URL`, the URL `npm start` last
 * recorded, http://127.0.0.1:8787.
 */
import { z } from "zod";

export const LOCAL_STACK_FILE = ".wrangler/rampart-local.json";
export const DEFAULT_URL = "http://127.0.0.1:8787";

const LocalStackRecordSchema = z.object({ url: z.url(), pid: z.int() });
export type LocalStackRecord = z.infer<typeof LocalStackRecordSchema>;

/** The recorded local stack, or null when there is none (or the file is unreadable). */
export function readLocalStack(readFile: (path: string) => string): LocalStackRecord | null {
  try {
    const parsed = LocalStackRecordSchema.safeParse(JSON.parse(readFile(LOCAL_STACK_FILE)));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** The base URL and where it came from (for error messages that say why this URL). */
export function resolveBaseUrl(flag: string | undefined, env: Record<string, string | undefined>, readFile: (path: string) => string): { url: string; from: string } {
  const pick = (url: string, from: string) => ({ url: url.replace(/\/+$/, ""), from });
  if (flag) return pick(flag, "--url");
  const fromEnv = env["RAMPART_URL"];
  if (fromEnv) return pick(fromEnv, "RAMPART_URL");
  const local = readLocalStack(readFile);
  if (local) return pick(local.url, `${LOCAL_STACK_FILE} (written by npm start)`);
  return pick(DEFAULT_URL, "the default");
}
