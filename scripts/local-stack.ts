/**
 * The local stack: `wrangler dev` (workerd, local Durable Objects and KV),
 * the demo flags from examples/ applied as one manifest, one cron tick, and a
 * printout of the URL and sample requests. Ctrl-C stops it.
 *
 *   npm start -- [--port 8787] [--fresh] [--smoke] [--no-demo] [--verbose]
 *
 * The URL it serves is recorded in .wrangler/rampart-local.json, so the CLI
 * and the demo follow a non-default --port without being told.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { stripVTControlCharacters } from "node:util";
import { parse } from "yaml";
import { LOCAL_STACK_FILE, readLocalStack } from "./lib/local-url";
import { scriptArgs } from "./lib/script-args";
import { parseDurationMs } from "../core/units";

const opts = scriptArgs(
  { command: "npm start", about: "Starts Rampart on workerd with local Durable Object and KV storage (state in\n.wrangler/state), loads the demo flags from examples/, and prints the URL." },
  {
    port: { type: "int", default: 8787, min: 1, max: 65535, help: "port to listen on" },
    fresh: { type: "boolean", help: "delete the local state first" },
    "no-demo": { type: "boolean", help: "do not load the demo flags" },
    smoke: { type: "boolean", help: "start, load, evaluate once, stop (exit status says whether it worked)" },
    verbose: { type: "boolean", help: "also print wrangler's line for every request (off: a demo makes thousands)" },
  },
);
const port = opts.port;
const base = `http://127.0.0.1:${port}`;

function readDevVar(name: string): string {
  const line = readFileSync(".dev.vars", "utf8").split("\n").find((l) => l.startsWith(`${name}=`));
  return line?.slice(name.length + 1).trim() ?? "";
}
const adminToken = readDevVar("ADMIN_TOKEN");
const readToken = readDevVar("READ_TOKEN");

/** wrangler's per-request line, e.g. "[wrangler:info] POST /v1/events 202 Accepted (4ms)". */
const REQUEST_LOG = /^\[wrangler:info\] (GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) \S+ \d{3}\b/;

function startWrangler(): ChildProcess {
  const child = spawn(
    "node_modules/.bin/wrangler",
    ["dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", ".wrangler/state", "--show-interactive-dev-session=false"],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, WRANGLER_SEND_METRICS: "false" } },
  );
  const relay = (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n")) {
      // The Request.cf warning is expected offline; keep the rest of wrangler's output.
      if (!line.trim() || /Request\.cf|workers\.cloudflare\.com|getaddrinfo|GetAddrInfoReqWrap/.test(line)) continue;
      if (!opts.verbose && REQUEST_LOG.test(stripVTControlCharacters(line))) continue;
      console.log(`  [wrangler] ${line}`);
    }
  };
  child.stdout?.on("data", relay);
  child.stderr?.on("data", relay);
  return child;
}

async function waitForHealth(child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = "";
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with code ${child.exitCode}`);
    try {
      const r = await fetch(`${base}/health`);
      if (r.ok) return;
      lastError = `status ${r.status}`;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the worker did not become healthy within ${timeoutMs / 1000}s (${lastError})`);
}

async function loadDemoFlags(): Promise<string[]> {
  const files = readdirSync("examples").filter((f) => f.endsWith(".yaml")).sort();
  const flags = files.map((f) => parse(readFileSync(join("examples", f), "utf8")) as { key: string });
  const r = await fetch(`${base}/admin/manifest`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json", "x-rampart-actor": "local-stack" },
    body: JSON.stringify({ flags }),
  });
  if (!r.ok) throw new Error(`loading the demo flags failed: ${r.status} ${await r.text()}`);
  const body = (await r.json()) as { changes: { key: string; change: string }[] };
  for (const c of body.changes) console.log(`  ${c.change.padEnd(9)} ${c.key}`);
  const imported = await importDemoFlagd();
  await addDemoSchedules();
  return [...flags.map((f) => f.key), ...imported];
}

/** Demo schedules (examples/schedules/*.yaml: a flag, `in` a duration from now, the request), added once per fresh stack. */
async function addDemoSchedules(): Promise<void> {
  for (const file of readdirSync(join("examples", "schedules")).filter((f) => f.endsWith(".yaml")).sort()) {
    const { flag, in: after, ...request } = parse(readFileSync(join("examples", "schedules", file), "utf8")) as { flag: string; in: string } & Record<string, unknown>;
    const delay = parseDurationMs(after);
    if (delay === null) throw new Error(`examples/schedules/${file}: \`in\` must be a duration like 14d`);
    const headers = { authorization: `Bearer ${adminToken}`, "content-type": "application/json", "x-rampart-actor": "local-stack" };
    const pending = (await (await fetch(`${base}/admin/flags/${flag}/schedules`, { headers })).json()) as { schedules?: { reason: string | null }[] };
    if (pending.schedules?.some((s) => s.reason === request["reason"])) continue;
    const r = await fetch(`${base}/admin/flags/${flag}/schedules`, { method: "POST", headers, body: JSON.stringify({ ...request, at: Date.now() + delay }) });
    if (!r.ok) throw new Error(`adding examples/schedules/${file} failed: ${r.status} ${await r.text()}`);
    console.log(`  scheduled ${flag}: ${String(request["action"])} in ${after} (examples/schedules/${file})`);
  }
}

/** flagd documents (examples/flagd/*.json) stored as they are, through the import route. */
async function importDemoFlagd(): Promise<string[]> {
  const keys: string[] = [];
  for (const file of readdirSync(join("examples", "flagd")).filter((f) => f.endsWith(".json")).sort()) {
    const r = await fetch(`${base}/admin/import/flagd`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json", "x-rampart-actor": "local-stack" },
      body: readFileSync(join("examples", "flagd", file), "utf8"),
    });
    if (!r.ok) throw new Error(`importing examples/flagd/${file} failed: ${r.status} ${await r.text()}`);
    const body = (await r.json()) as { changes: { key: string; change: string }[] };
    for (const c of body.changes) console.log(`  ${c.change.padEnd(9)} ${c.key} (flagd, examples/flagd/${file})`);
    keys.push(...body.changes.map((c) => c.key));
  }
  return keys;
}

async function evaluateOnce(key: string): Promise<unknown> {
  // Poll: the edge picks the new snapshot up within the propagation bound.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await fetch(`${base}/ofrep/v1/evaluate/flags/${key}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ context: { targetingKey: "user-42" } }),
    });
    if (r.status === 200 || Date.now() > deadline) return { status: r.status, body: (await r.json()) as unknown };
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** Records where this stack listens, for the CLI and the demo (`scripts/lib/local-url.ts`). */
function recordLocalStack(): void {
  mkdirSync(dirname(LOCAL_STACK_FILE), { recursive: true });
  writeFileSync(LOCAL_STACK_FILE, JSON.stringify({ url: base, pid: process.pid }));
}

/** Removes the record if it is still this stack's (another stack may have started since). */
function forgetLocalStack(): void {
  try {
    if (readLocalStack((p) => readFileSync(p, "utf8"))?.pid === process.pid) unlinkSync(LOCAL_STACK_FILE);
  } catch {
    // already gone
  }
}

/** Whether something already listens on the port (then the stack would talk to it instead of to Rampart). */
function portTaken(p: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(true));
    probe.once("listening", () => probe.close(() => resolve(false)));
    probe.listen(p, "127.0.0.1");
  });
}

async function main() {
  if (await portTaken(port)) {
    console.error(`rampart: port ${port} is already in use on 127.0.0.1 (another server, or a local stack still running); pick another with --port`);
    process.exitCode = 1;
    return;
  }
  if (opts.fresh) rmSync(".wrangler/state", { recursive: true, force: true });
  console.log(`rampart: starting the local stack on ${base} …`);
  const child = startWrangler();
  const stop = () => {
    forgetLocalStack();
    if (child.exitCode === null) child.kill("SIGINT");
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  try {
    await waitForHealth(child, 60_000);
    recordLocalStack();
    let keys: string[] = [];
    if (!opts["no-demo"]) {
      console.log("rampart: applying the demo flags (examples/*.yaml, and examples/flagd/*.json imported as flagd documents):");
      keys = await loadDemoFlags();
      // wrangler dev does not fire crons by itself: tick once so the cron path runs.
      await fetch(`${base}/cdn-cgi/handler/scheduled?time=${Date.now()}`);
    }
    const sample = keys.includes("feed-ranker") ? "feed-ranker" : keys[0];
    if (sample) console.log(`rampart: ${sample} for user-42 →`, JSON.stringify(await evaluateOnce(sample)));
    console.log(`
Rampart is running at ${base}
  dashboard: ${base}/dashboard   (admin token: ${adminToken}${readToken ? `; read-only token: ${readToken}` : ""})
  CLI:       npm run rampart -- flags   (it finds this URL in ${LOCAL_STACK_FILE})
  health:    curl ${base}/health
  evaluate:  curl -s -X POST ${base}/ofrep/v1/evaluate/flags/feed-ranker -H 'content-type: application/json' -d '{"context":{"targetingKey":"user-42"}}'
  all flags: curl -s -X POST ${base}/ofrep/v1/evaluate/flags -H 'content-type: application/json' -d '{"context":{"targetingKey":"user-42"}}'
  admin:     curl -s ${base}/admin/flags -H 'authorization: Bearer ${adminToken}'
  kill:      curl -s -X POST ${base}/admin/flags/feed-ranker/actions -H 'authorization: Bearer ${adminToken}' -H 'content-type: application/json' -d '{"action":"kill","reason":"demo"}'
  cron tick: curl ${base}/cdn-cgi/handler/scheduled
Ctrl-C stops it.${opts.verbose ? "" : " Request lines are off; npm start -- --verbose shows them."}`);
    if (opts.smoke) {
      stop();
      return;
    }
    await new Promise<void>((resolve) => child.on("exit", () => resolve()));
  } catch (error) {
    stop();
    console.error(`rampart: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}

await main();
