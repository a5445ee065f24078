/**
 * Rampart's hot paths beside their references and its peers, in one run, on
 * one workerd (Miniflare, each Worker on its own direct socket — wrangler
 * dev's proxy caps throughput), loaded with wrk on 127.0.0.1 in interleaved
 * rounds; medians and ratios, p50/p99 beside them:
 *
 * - OFREP single evaluation (50/50, distinct keys) vs a bare Worker, and vs
 *   a Worker doing only what any OFREP evaluator with Rampart's input rules
 *   must (strict UTF-8, JSON.parse, targetingKey, CORS); a targeted flag
 *   (10 rules, a 1,000-key segment, a 3-way split) vs the two-arm flag on
 *   the same contexts;
 * - a routed GET (sticky id in X-Rampart-Id) vs a bare pass-through proxy
 *   Worker, and vs one doing only what an intermediary must (RFC 9110 §7.6:
 *   hop-by-hop fields, Via; plus Forwarded and X-Forwarded-*), all to the
 *   same local origin (node, `no-store` JSON);
 * - a call through the Worker binding (RampartFlags.getStringDetails) vs the
 *   same call to a bare WorkerEntrypoint, each from a caller Worker;
 * - the same flag evaluated by LaunchDarkly's Cloudflare SDK (flag data in
 *   local KV) and by GrowthBook's SDK (payload in local KV);
 * - a 500-span OTLP/HTTP protobuf batch (OpenTelemetry's own serializer) at
 *   /v1/traces vs a bare Worker that only decodes the same batch.
 *
 *   npm run bench:edge -- [--seconds 6] [--rounds 3] [--connections 32] [--only ofrep,routed,binding,peers]
 *   npm run bench:edge -- --profile ofrep|routed|bare|ofrep-minimal|passthrough|proxy-rfc9110
 *                                                                 (where the time goes: V8's CPU profile of one wrk run, by function;
 *                                                                  the others profile the references, to compare with;
 *                                                                  --profile-out FILE also writes V8's .cpuprofile, for line-level reading)
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Miniflare } from "miniflare";
import WebSocket from "ws";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { scriptArgs } from "./lib/script-args";
import { TARGETED_SEGMENT_KEYS, targetedSpec } from "./lib/targeted-flag";
import { build } from "esbuild";
import { otlpBatch } from "./lib/otlp-batch";

const args = scriptArgs({ command: "npm run bench:edge", about: "Rampart's edge paths against reference Workers on Miniflare, interleaved, with wrk (apt-get install wrk)" }, {
  seconds: { type: "int", default: 6, min: 1, max: 60, help: "seconds per measurement" },
  rounds: { type: "int", default: 3, min: 1, max: 10, help: "interleaved rounds (medians are quoted)" },
  connections: { type: "int", default: 32, min: 1, max: 256, help: "wrk connections" },
  only: { type: "list", default: ["ofrep", "routed", "binding", "peers", "otlp"], choices: ["ofrep", "routed", "binding", "peers", "otlp"], help: "groups to run" },
  profile: { type: "string", placeholder: "TARGET", help: "CPU-profile one target: ofrep, routed, bare, ofrep-minimal, passthrough or proxy-rfc9110" },
  "profile-out": { type: "string", placeholder: "FILE", help: "where the .cpuprofile goes" },
});
const { seconds, rounds, connections } = args;
const only = new Set(args.only);
try {
  execFileSync("wrk", ["--version"], { stdio: "ignore" });
} catch (error) {
  // wrk --version exits 1 but prints; only a missing binary is fatal.
  if ((error as NodeJS.ErrnoException).code === "ENOENT") {
    console.error("wrk is not installed: apt-get install wrk");
    process.exit(2);
  }
}

const TOKEN = "bench-admin-token";
const EVENTS_TOKEN = "bench-events-token";
const FLAG = "bench-ranker";
mkdirSync(".wrangler", { recursive: true });
const work = resolve(mkdtempSync(join(".wrangler", "bench-edge-")));

function bundle(config: string, name: string): string {
  execFileSync("node_modules/.bin/wrangler", ["deploy", "--dry-run", "--config", config, "--outdir", join(work, name)], { stdio: "ignore" });
  return join(work, name, "index.js");
}

// The origin both the routed request and the bare proxy reach: its own process, since wrk runs synchronously here.
const origin = spawn(process.execPath, ["-e", `
  const server = require("node:http").createServer((req, res) => {
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
    res.end('{"ok":true}');
  });
  server.listen(0, "127.0.0.1", () => console.log(server.address().port));
`], { stdio: ["ignore", "pipe", "inherit"] });
const originPort = await new Promise<string>((done) => origin.stdout.once("data", (chunk: Buffer) => done(chunk.toString().trim())));
const originUrl = `http://127.0.0.1:${originPort}`;

/** The OFREP reference that does only what the protocol and Rampart's input rules require (an answer the size of Rampart's). */
const MINIMAL_OFREP = `
const headers = { "content-type": "application/json", "access-control-allow-origin": "*" };
export default { async fetch(request) {
  let body;
  try {
    const text = await request.text();
    if (text.includes("\\uFFFD")) throw new Error("not UTF-8");
    body = JSON.parse(text);
  } catch { return new Response('{"errorCode":"PARSE_ERROR"}', { status: 400, headers }); }
  const key = body && body.context && body.context.targetingKey;
  if (typeof key !== "string" || key === "") return new Response('{"errorCode":"TARGETING_KEY_MISSING"}', { status: 400, headers });
  return new Response(JSON.stringify({ key: "${FLAG}", value: "v1", reason: "SPLIT", variant: "baseline", metadata: { generation: 1, stage: 0, configVersion: 2, wave: 1 } }), { headers });
} };`;

/**
 * The proxy reference that does only what an intermediary must (RFC 9110 §7.6: hop-by-hop fields, including
 * those Connection lists, dropped both ways; Via both ways) plus the forwarding fields Rampart sets
 * (Forwarded, RFC 7239; X-Forwarded-*), nothing more: no flag, no assignment, no counting, no cache.
 */
const RFC9110_PROXY = `
const HOP = ["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"];
const hopByHop = (connection) => connection === null ? HOP : HOP.concat(connection.split(",").map((name) => name.trim().toLowerCase()));
export default { async fetch(request, env) {
  const url = new URL(request.url);
  const proto = url.protocol.slice(0, -1);
  const headers = new Headers(request.headers);
  const via = headers.get("via");
  const client = headers.get("cf-connecting-ip");
  for (const name of hopByHop(headers.get("connection"))) headers.delete(name);
  for (const name of ["host", "forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"]) headers.delete(name);
  if (client) headers.set("x-forwarded-for", client);
  headers.set("x-forwarded-host", url.host);
  headers.set("x-forwarded-proto", proto);
  headers.set("forwarded", (client ? "for=" + (client.includes(":") ? '"' + client + '"' : client) : "for=unknown") + ";host=" + url.host + ";proto=" + proto);
  headers.set("via", via ? via + ", 1.1 proxy" : "1.1 proxy");
  const response = await fetch(env.ORIGIN + url.pathname + url.search, { method: request.method, headers, redirect: "manual" });
  const outgoing = new Response(response.body, response);
  const back = outgoing.headers.get("via");
  for (const name of hopByHop(outgoing.headers.get("connection"))) outgoing.headers.delete(name);
  outgoing.headers.set("via", back ? back + ", 1.1 proxy" : "1.1 proxy");
  return outgoing;
} };`;

console.error("building the bundles (wrangler deploy --dry-run)…");
const rampartScript = bundle("wrangler.toml", "rampart");
const ldScript = bundle("scripts/bench-edge/launchdarkly/wrangler.toml", "launchdarkly");
const gbScript = bundle("scripts/bench-edge/growthbook/wrangler.toml", "growthbook");
const otlpDecodeScript = join(work, "otlp-decode", "index.js");
await build({ entryPoints: ["scripts/bench-edge/otlp-decode.ts"], bundle: true, format: "esm", platform: "neutral", target: "es2022", outfile: otlpDecodeScript, logLevel: "warning" });
const otlpStoreScript = join(work, "otlp-store", "index.js");
await build({ entryPoints: ["scripts/bench-edge/otlp-store.ts"], bundle: true, format: "esm", platform: "neutral", target: "es2022", outfile: otlpStoreScript, external: ["cloudflare:workers"], logLevel: "warning" });
const { workerOptions } = unstable_getMiniflareWorkerOptions("wrangler.toml");
const direct = [{ host: "127.0.0.1", port: 0 }];
const caller = (flags: { name: string; entrypoint: string }, name: string) => ({
  name,
  modules: true,
  compatibilityDate: "2026-04-20",
  unsafeDirectSockets: direct,
  serviceBindings: { FLAGS: flags },
  script: `export default { async fetch(request, env) { const { context } = await request.json(); return Response.json(await env.FLAGS.getStringDetails("${FLAG}", "default", context)); } };`,
});
const INSPECTOR_PORT = 9300 + Math.floor(Math.random() * 500);
const mf = new Miniflare({
  defaultPersistRoot: join(work, "state"),
  ...(args.profile ? { inspectorPort: INSPECTOR_PORT } : {}),
  workers: [
    {
      ...workerOptions,
      name: "rampart",
      modules: true,
      scriptPath: rampartScript,
      unsafeDirectSockets: direct,
      bindings: { ...((workerOptions.bindings ?? {}) as Record<string, unknown>), ADMIN_TOKEN: TOKEN, EVENTS_TOKEN: EVENTS_TOKEN, EVENTS_RATE_PER_MINUTE: "100000000" },
      // The events limits are for abuse, not for a load test from one client.
      ratelimits: { EVENTS_RATE_LIMITER: { simple: { limit: 1_000_000_000, period: 60 } } },
    },
    { name: "otlp-decode", modules: true, scriptPath: otlpDecodeScript, compatibilityDate: "2026-04-20", unsafeDirectSockets: direct },
    { name: "otlp-store", modules: true, scriptPath: otlpStoreScript, compatibilityDate: "2026-04-20", unsafeDirectSockets: direct, durableObjects: { SINK: { className: "Sink", useSQLite: true } } },
    // What any OFREP evaluator with Rampart's input rules must do, nothing more: read the body as UTF-8, refusing
    // what is not (RFC 8259 §8.1; as Rampart does, by U+FFFD), parse it, check targetingKey, answer OFREP's JSON
    // with Content-Type and a CORS header.
    { name: "ofrep-minimal", modules: true, compatibilityDate: "2026-04-20", unsafeDirectSockets: direct, script: MINIMAL_OFREP },
    // What any HTTP intermediary must do (RFC 9110 §7.6) and Rampart's forwarding fields, nothing more.
    { name: "proxy-rfc9110", modules: true, compatibilityDate: "2026-04-20", unsafeDirectSockets: direct, bindings: { ORIGIN: originUrl }, script: RFC9110_PROXY },
    { name: "hello", modules: true, compatibilityDate: "2026-04-20", unsafeDirectSockets: direct, script: `export default { async fetch(request) { await request.text(); return new Response('{"ok":true}', { headers: { "content-type": "application/json" } }); } };` },
    {
      name: "passthrough",
      modules: true,
      compatibilityDate: "2026-04-20",
      unsafeDirectSockets: direct,
      bindings: { ORIGIN: originUrl },
      script: `export default { async fetch(request, env) { const url = new URL(request.url); return fetch(env.ORIGIN + url.pathname + url.search, { method: request.method, headers: request.headers }); } };`,
    },
    {
      name: "bare-flags",
      modules: true,
      compatibilityDate: "2026-04-20",
      script: `import { WorkerEntrypoint } from "cloudflare:workers"; export class Bare extends WorkerEntrypoint { async getStringDetails(flagKey, defaultValue, context) { return { flagKey, value: context && context.targetingKey ? "v1" : defaultValue, reason: "STATIC" }; } } export default { fetch() { return new Response(null, { status: 404 }); } };`,
    },
    caller({ name: "rampart", entrypoint: "RampartFlags" }, "binding-rampart"),
    caller({ name: "bare-flags", entrypoint: "Bare" }, "binding-bare"),
    { name: "launchdarkly", modules: true, scriptPath: ldScript, compatibilityDate: "2026-04-20", compatibilityFlags: ["nodejs_compat"], unsafeDirectSockets: direct, kvNamespaces: { LD_KV: "bench-ld-kv" } },
    { name: "growthbook", modules: true, scriptPath: gbScript, compatibilityDate: "2026-04-20", unsafeDirectSockets: direct, kvNamespaces: { GB_KV: "bench-gb-kv" } },
  ],
} as ConstructorParameters<typeof Miniflare>[0]);

await mf.ready;
/** The workerd processes Miniflare started (children of this process), whose CPU time each run reads. */
const workerdPids = readdirSync("/proc")
  .filter((entry) => /^\d+$/.test(entry))
  .filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      return stat.includes("(workerd)") && stat.replace(/^.*\) /, "").split(" ")[1] === String(process.pid);
    } catch {
      return false; // gone meanwhile
    }
  });
if (workerdPids.length === 0) console.error("workerd's process not found: CPU per request will read NaN");

const url = async (worker: string) => (await mf.unsafeGetDirectURL(worker)).toString().replace(/\/$/, "");

/** wrk scripts: every request a distinct user, as real traffic would be. */
const postLua = join(work, "post.lua");
writeFileSync(postLua, `
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, '{"context":{"targetingKey":"user-' .. counter .. '-' .. math.random(1000000) .. '"}}')
end
`);
/** Contexts as a targeted flag sees them: every request a distinct user carrying the attributes its rules read; most reach the split. */
const contextLua = join(work, "context.lua");
writeFileSync(contextLua, `
counter = 0
local countries = { "DE", "US", "FR", "BR", "JP", "IN", "GB", "US", "US", "US" }
local plans = { "free", "pro", "free", "free", "pro", "free" }
request = function()
  counter = counter + 1
  local key = "user-" .. counter .. "-" .. math.random(1000000)
  if counter % 50 == 0 then key = "user-" .. ((counter % 1000) * 7) .. "-seg" end
  local email = "u" .. counter .. (counter % 40 == 1 and "@example.com" or "@mail.test")
  local body = '{"context":{"targetingKey":"' .. key .. '","email":"' .. email .. '","groups":["users"],"plan":"' .. plans[counter % 6 + 1] .. '","appVersion":"' .. (counter % 30 == 3 and "1.9.0" or "2.4.1") .. '","country":"' .. countries[counter % 10 + 1] .. '","age":' .. (18 + counter % 60) .. ',"region":"us-east-1"}}'
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, body)
end
`);
/**
 * One 500-span OTLP protobuf batch, as an instrumented service's exporter sends it (OpenTelemetry's serializer). Each request
 * stamps the first 4 bytes of every trace id with its thread and count, so each batch is 500 new spans (new event ids), as a
 * live exporter's are; a fixed body would be one batch and then retries, which a FlagDO drops after one lookup per id.
 */
const otlpBody = join(work, "otlp-500.bin");
const otlp = otlpBatch(`${FLAG}-otel`, 500);
writeFileSync(otlpBody, otlp.body);
const otlpLua = join(work, "otlp.lua");
writeFileSync(otlpLua, `
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local f = io.open("${otlpBody}", "rb")
local body = f:read("*all")
f:close()
local offsets = { ${otlp.traceIdOffsets.join(", ")} }
local pieces, stamps = {}, {}
local from = 1
for _, offset in ipairs(offsets) do
  pieces[#pieces + 1] = body:sub(from, offset)
  pieces[#pieces + 1] = ""
  stamps[#stamps + 1] = #pieces
  from = offset + 5
end
pieces[#pieces + 1] = body:sub(from)
local counter = 0
request = function()
  counter = counter + 1
  local stamp = string.char(tid % 256, bit.band(bit.rshift(counter, 16), 255), bit.band(bit.rshift(counter, 8), 255), bit.band(counter, 255))
  for _, i in ipairs(stamps) do pieces[i] = stamp end
  return wrk.format("POST", nil, { ["Content-Type"] = "application/x-protobuf", ["Authorization"] = "Bearer ${EVENTS_TOKEN}" }, table.concat(pieces))
end
`);
const getLua = join(work, "get.lua");
writeFileSync(getLua, `
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", nil, { ["X-Rampart-Id"] = "user-" .. counter .. "-" .. math.random(1000000) }, nil)
end
`);

interface Run {
  rps: number;
  /** workerd's CPU time (all threads, user + system) per request served: what the Worker costs, apart from wrk's share of the two cores. */
  cpuUs: number;
  p50: string;
  p99: string;
  bad: number;
}

/** workerd's CPU seconds so far (utime + stime of /proc/PID/stat, in clock ticks of 10 ms). */
function workerdCpuSeconds(): number {
  let total = 0;
  for (const pid of workerdPids) {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ");
    total += (Number(fields[11]) + Number(fields[12])) / 100;
  }
  return total;
}

function wrk(target: string, lua: string): Run {
  const cpuBefore = workerdCpuSeconds();
  const out = execFileSync("wrk", ["-t2", `-c${connections}`, `-d${seconds}s`, "--latency", "-s", lua, target], { encoding: "utf8" });
  const cpu = workerdCpuSeconds() - cpuBefore;
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  if (!/Requests\/sec:\s+[1-9]/.test(out)) console.error(`wrk ${target}: no requests served\n${out}`);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    cpuUs: (1e6 * cpu) / requests,
    p50: /50%\s+([\d.]+\w+)/.exec(out)?.[1] ?? "?",
    p99: /99%\s+([\d.]+\w+)/.exec(out)?.[1] ?? "?",
    bad: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0) + Number(/Socket errors:.*timeout (\d+)/.exec(out)?.[1] ?? 0),
  };
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} never became ready`);
}

async function main() {
  const rampart = await url("rampart");
  const put = await fetch(`${rampart}/admin/flags/${FLAG}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ key: FLAG, type: "string", variants: { baseline: "v1", candidate: "v2" }, rollout: { stages: [{ weight: 50 }, { weight: 100 }] }, route: { pathPrefix: "/routed", origins: { baseline: originUrl, candidate: originUrl } } }),
  });
  if (!put.ok) throw new Error(`creating the flag failed: ${put.status} ${await put.text()}`);
  // The same flag counting no served exposures (exposures: events): what evaluation costs without the counter
  // buffer and its flushes — whose FlagDO, unlike on Cloudflare, runs on this machine's two cores too.
  const uncounted = await fetch(`${rampart}/admin/flags/${FLAG}-uncounted`, {
    method: "PUT",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ key: `${FLAG}-uncounted`, exposures: "events", type: "string", variants: { baseline: "v1", candidate: "v2" }, rollout: { stages: [{ weight: 50 }, { weight: 100 }] } }),
  });
  if (!uncounted.ok) throw new Error(`creating the uncounted flag failed: ${uncounted.status} ${await uncounted.text()}`);
  // A targeted flag: 10 rules of mixed operators, a 1,000-key segment, a 3-way split (bench:core's phase 3 flag).
  const segment = await fetch(`${rampart}/admin/segments/bench-testers`, {
    method: "PUT",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ keys: TARGETED_SEGMENT_KEYS }),
  });
  if (!segment.ok) throw new Error(`creating the segment failed: ${segment.status} ${await segment.text()}`);
  const targeted = await fetch(`${rampart}/admin/flags/${FLAG}-targeted`, {
    method: "PUT",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(targetedSpec(`${FLAG}-targeted`, "bench-testers")),
  });
  if (!targeted.ok) throw new Error(`creating the targeted flag failed: ${targeted.status} ${await targeted.text()}`);
  // Peers: the same 50/50 flag in each vendor's own format, in its KV.
  await (await mf.getKVNamespace("LD_KV", "launchdarkly")).put(
    "LD-Env-bench-client-side-id",
    JSON.stringify({
      flags: { [FLAG]: { key: FLAG, version: 1, on: true, salt: "bench-salt", variations: ["v1", "v2"], offVariation: 0, fallthrough: { rollout: { variations: [{ variation: 0, weight: 50_000 }, { variation: 1, weight: 50_000 }] } }, targets: [], rules: [], prerequisites: [], trackEvents: false } },
      segments: {},
    }),
  );
  await (await mf.getKVNamespace("GB_KV", "growthbook")).put(
    "gb-payload",
    JSON.stringify({ features: { [FLAG]: { defaultValue: "v1", rules: [{ key: FLAG, variations: ["v1", "v2"], weights: [0.5, 0.5], hashAttribute: "id" }] } } }),
  );

  const otlpFlag = await fetch(`${rampart}/admin/flags/${FLAG}-otel`, {
    method: "PUT",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ key: `${FLAG}-otel`, type: "string", variants: { baseline: "v1", candidate: "v2" }, rollout: { stages: [{ weight: 50 }, { weight: 100 }] } }),
  });
  if (!otlpFlag.ok) throw new Error(`creating the OTLP flag failed: ${otlpFlag.status} ${await otlpFlag.text()}`);
  const postOtlp = async (target: string) => (await fetch(target, { method: "POST", headers: { "content-type": "application/x-protobuf", authorization: `Bearer ${EVENTS_TOKEN}` }, body: readFileSync(otlpBody) })).status;
  const post = (target: string) => fetch(target, { method: "POST", headers: { "content-type": "application/json" }, body: '{"context":{"targetingKey":"warm"}}' });
  const contenders: { group: string; name: string; target: string; lua: string; check: () => Promise<boolean> }[] = [];
  const add = (group: string, name: string, target: string, lua: string, check: () => Promise<boolean>) => {
    if (only.has(group)) contenders.push({ group, name, target, lua, check });
  };
  add("ofrep", "rampart OFREP single evaluation", `${rampart}/ofrep/v1/evaluate/flags/${FLAG}`, postLua, async () => (await post(`${rampart}/ofrep/v1/evaluate/flags/${FLAG}`)).status === 200);
  add("ofrep", "rampart OFREP, exposures not counted", `${rampart}/ofrep/v1/evaluate/flags/${FLAG}-uncounted`, postLua, async () => (await post(`${rampart}/ofrep/v1/evaluate/flags/${FLAG}-uncounted`)).status === 200);
  add("ofrep", "bare Worker (reference)", `${await url("hello")}/`, postLua, async () => (await post(await url("hello"))).ok);
  add("ofrep", "OFREP's minimum: UTF-8, JSON.parse, CORS (reference)", `${await url("ofrep-minimal")}/`, postLua, async () => (await post(await url("ofrep-minimal"))).ok);
  add("ofrep", "rampart OFREP, targeted flag (10 rules, 1,000-key segment, 3-way split)", `${rampart}/ofrep/v1/evaluate/flags/${FLAG}-targeted`, contextLua, async () => (await post(`${rampart}/ofrep/v1/evaluate/flags/${FLAG}-targeted`)).status === 200);
  add("ofrep", "rampart OFREP, two-arm flag, same contexts", `${rampart}/ofrep/v1/evaluate/flags/${FLAG}`, contextLua, async () => (await post(`${rampart}/ofrep/v1/evaluate/flags/${FLAG}`)).status === 200);
  add("routed", "rampart routed GET", `${rampart}/routed/item`, getLua, async () => (await fetch(`${rampart}/routed/item`)).headers.has("x-rampart-variant"));
  add("routed", "bare pass-through proxy (reference)", `${await url("passthrough")}/routed/item`, getLua, async () => (await fetch(`${await url("passthrough")}/routed/item`)).ok);
  add("routed", "RFC 9110 proxy: hop-by-hop, Via, Forwarded (reference)", `${await url("proxy-rfc9110")}/routed/item`, getLua, async () => (await fetch(`${await url("proxy-rfc9110")}/routed/item`)).headers.get("via") === "1.1 proxy");
  add("binding", "rampart binding call", `${await url("binding-rampart")}/`, postLua, async () => ((await (await post(await url("binding-rampart"))).json()) as { reason?: string }).reason === "SPLIT");
  add("binding", "bare service-binding call (reference)", `${await url("binding-bare")}/`, postLua, async () => (await post(await url("binding-bare"))).ok);
  add("otlp", "rampart OTLP /v1/traces, 500 spans", `${rampart}/v1/traces`, otlpLua, async () => (await postOtlp(`${rampart}/v1/traces`)) === 200);
  add("otlp", "bare Worker decoding the same batch (reference)", `${await url("otlp-decode")}/`, otlpLua, async () => (await postOtlp(`${await url("otlp-decode")}/`)) === 200);
  add("otlp", "bare Worker decoding it and storing one row in one Durable Object call (reference)", `${await url("otlp-store")}/`, otlpLua, async () => (await postOtlp(`${await url("otlp-store")}/`)) === 200);
  if (only.has("peers") && !only.has("ofrep")) add("peers", "rampart OFREP single evaluation", `${rampart}/ofrep/v1/evaluate/flags/${FLAG}`, postLua, async () => (await post(`${rampart}/ofrep/v1/evaluate/flags/${FLAG}`)).status === 200);
  add("peers", "LaunchDarkly Cloudflare SDK (KV)", `${await url("launchdarkly")}/`, postLua, async () => ((await (await post(await url("launchdarkly"))).json()) as { value?: string }).value?.startsWith("v") === true);
  add("peers", "GrowthBook SDK (payload in KV)", `${await url("growthbook")}/`, postLua, async () => ((await (await post(await url("growthbook"))).json()) as { value?: string }).value?.startsWith("v") === true);
  for (const c of contenders) await waitFor(c.check, c.name);
  if (args.profile) {
    const references: Record<string, [string, string]> = { bare: ["ofrep", "hello"], "ofrep-minimal": ["ofrep", "ofrep-minimal"], passthrough: ["routed", "passthrough"], "proxy-rfc9110": ["routed", "proxy-rfc9110"] };
    const [group, worker] = references[args.profile] ?? [args.profile, "rampart"];
    const base = worker === "rampart" ? rampart : await url(worker);
    const target = contenders.find((c) => c.group === group && c.target.startsWith(`${base}/`));
    if (!target) throw new Error(`--profile ${args.profile}: name ofrep, routed, bare, ofrep-minimal, passthrough or proxy-rfc9110`);
    await profile(worker, target.target, target.lua);
    return;
  }

  const results = new Map(contenders.map((c) => [c, [] as Run[]]));
  for (let round = 0; round < rounds; round++) {
    // Interleaved, alternating direction each round, so drift hits every contender alike.
    const order = round % 2 === 0 ? contenders : [...contenders].reverse();
    for (const c of order) {
      results.get(c)?.push(wrk(c.target, c.lua));
      process.stderr.write(`round ${round + 1}/${rounds}: ${c.name}\n`);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? NaN;
  const rps = (name: string) => median(results.get(contenders.find((c) => c.name === name) ?? (null as never))?.map((r) => r.rps) ?? []);
  console.log(`bench:edge — ${new Date().toISOString().slice(0, 10)}, wrk -t2 -c${connections} -d${seconds}s, ${rounds} interleaved rounds, Miniflare direct sockets, node ${process.version}\n`);
  console.log("| contender | median req/s | workerd CPU µs/request (median) | runs (req/s p50 p99) | errors |");
  console.log("|---|---:|---:|---|---:|");
  for (const [c, runs] of results) console.log(`| ${c.name} | ${median(runs.map((r) => r.rps)).toFixed(0)} | ${median(runs.map((r) => r.cpuUs)).toFixed(1)} | ${runs.map((r) => `${r.rps.toFixed(0)} ${r.p50} ${r.p99}`).join("; ")} | ${runs.reduce((s, r) => s + r.bad, 0)} |`);
  console.log("");
  const ratio = (a: string, b: string, goal: string) => {
    const x = rps(a) / rps(b);
    if (Number.isFinite(x)) console.log(`${a} / ${b}: ${(100 * x).toFixed(0)}% (${goal})`);
  };
  ratio("rampart OFREP single evaluation", "bare Worker (reference)", "goal ≥ 90%");
  ratio("rampart OFREP, exposures not counted", "bare Worker (reference)", "no goal: evaluation without counting, whose FlagDO shares this machine");
  ratio("rampart OFREP single evaluation", "OFREP's minimum: UTF-8, JSON.parse, CORS (reference)", "no goal: what Rampart adds to what any OFREP evaluator must do");
  ratio("rampart OFREP, targeted flag (10 rules, 1,000-key segment, 3-way split)", "rampart OFREP, two-arm flag, same contexts", "goal ≥ 90%");
  ratio("rampart routed GET", "bare pass-through proxy (reference)", "goal ≥ 85%");
  ratio("rampart routed GET", "RFC 9110 proxy: hop-by-hop, Via, Forwarded (reference)", "no goal: what Rampart adds to what any intermediary must do");
  ratio("rampart binding call", "bare service-binding call (reference)", "no goal: what evaluation adds to a binding call");
  ratio("rampart OTLP /v1/traces, 500 spans", "bare Worker decoding the same batch (reference)", "goal ≥ 50%");
  ratio("bare Worker decoding it and storing one row in one Durable Object call (reference)", "bare Worker decoding the same batch (reference)", "no goal: the ceiling of any receiver that stores before it acknowledges, on this stack");
  ratio("rampart OTLP /v1/traces, 500 spans", "bare Worker decoding it and storing one row in one Durable Object call (reference)", "no goal: what crediting 597 events exactly once adds to one storing call");
  ratio("rampart OFREP single evaluation", "LaunchDarkly Cloudflare SDK (KV)", "goal ≥ 100%");
  ratio("rampart OFREP single evaluation", "GrowthBook SDK (payload in KV)", "goal ≥ 100%");
}

/** V8's CPU profile of one Worker during one wrk run, summed by function (self time), the top 25 printed. */
async function profile(worker: string, target: string, lua: string): Promise<void> {
  const socket = new WebSocket(`ws://127.0.0.1:${INSPECTOR_PORT}/core:user:${worker}`);
  await new Promise<void>((done, fail) => socket.once("open", () => done()).once("error", fail));
  let id = 0;
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<Record<string, unknown>>((done) => {
      const mine = ++id;
      const onMessage = (data: Buffer) => {
        const message = JSON.parse(data.toString()) as { id?: number; result?: Record<string, unknown> };
        if (message.id !== mine) return;
        socket.off("message", onMessage);
        done(message.result ?? {});
      };
      socket.on("message", onMessage);
      socket.send(JSON.stringify({ id: mine, method, params }));
    });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: 200 });
  await send("Profiler.start");
  const run = wrk(target, lua);
  const { profile: cpu } = (await send("Profiler.stop")) as { profile: { nodes: { callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[] } };
  socket.close();
  if (args["profile-out"]) writeFileSync(args["profile-out"], JSON.stringify(cpu));
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const node of cpu.nodes) {
    const hits = node.hitCount ?? 0;
    total += hits;
    const { functionName, url: file, lineNumber } = node.callFrame;
    const where = `${functionName || "(anonymous)"} ${file ? `${file.split("/").pop() ?? ""}:${lineNumber + 1}` : ""}`.trim();
    byFunction.set(where, (byFunction.get(where) ?? 0) + hits);
  }
  console.log(`CPU profile of ${worker} during ${run.rps.toFixed(0)} req/s (${target}), self time by function:\n`);
  console.log("| share | function |");
  console.log("|---:|---|");
  for (const [where, hits] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`| ${((100 * hits) / total).toFixed(1)}% | ${where} |`);
}

try {
  await main();
} finally {
  await mf.dispose();
  origin.kill();
  rmSync(work, { recursive: true, force: true });
}
