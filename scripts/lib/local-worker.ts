/** Starts the worker on workerd through wrangler's API, for tests and scripts that need a real HTTP client. */
import { unstable_startWorker } from "wrangler";

export const E2E_ADMIN_TOKEN = "e2e-admin-token";
export const E2E_TIMING = { HEAD_TTL_MS: "100", REFRESH_MS: "50", MAX_STALE_MS: "150", LOAD_TIMEOUT_MS: "1000" };
export const E2E_PROPAGATION_MS = Number(E2E_TIMING.HEAD_TTL_MS) + Number(E2E_TIMING.MAX_STALE_MS);

export interface LocalWorker {
  baseUrl: string;
  admin(method: string, path: string, body?: unknown): Promise<Response>;
  dispose(): Promise<void>;
}

/** Starts the worker with in-memory state and small propagation timings; `vars` override any setting. */
export async function startLocalWorker(vars: Record<string, string> = {}): Promise<LocalWorker> {
  const plain = (value: string) => ({ type: "plain_text" as const, value });
  const overrides = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, plain(v)]));
  const worker = await unstable_startWorker({
    config: "wrangler.toml",
    envFiles: [],
    bindings: {
      ADMIN_TOKEN: { type: "secret_text", value: E2E_ADMIN_TOKEN },
      HEAD_TTL_MS: plain(E2E_TIMING.HEAD_TTL_MS),
      REFRESH_MS: plain(E2E_TIMING.REFRESH_MS),
      MAX_STALE_MS: plain(E2E_TIMING.MAX_STALE_MS),
      LOAD_TIMEOUT_MS: plain(E2E_TIMING.LOAD_TIMEOUT_MS),
      ...overrides,
    },
    dev: { server: { hostname: "127.0.0.1", port: 0 }, inspector: false, persist: false, watch: false, logLevel: "warn" },
  });
  await worker.ready;
  const baseUrl = (await worker.url).toString().replace(/\/$/, "");
  return {
    baseUrl,
    admin: (method, path, body) =>
      fetch(`${baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${E2E_ADMIN_TOKEN}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    dispose: () => worker.dispose(),
  };
}

export interface ArmMetric {
  value: number | null;
  samples: number;
}

/**
 * Polls a flag's report until the candidate's `metric` satisfies `done`
 * (bounded: 10 s), and returns it as last seen — for tests waiting on
 * counts that reach the FlagDO after a flush.
 */
export async function candidateMetricWhen(worker: LocalWorker, key: string, metric: string, done: (m: ArmMetric | undefined) => boolean): Promise<ArmMetric | undefined> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const report = (await (await worker.admin("GET", `/admin/flags/${key}/report?from=0`)).json()) as { arms: { candidate: { metrics: Record<string, ArmMetric> } } };
    const value = report.arms.candidate.metrics[metric];
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
}
