/**
 * HTTP throughput of warm OFREP evaluations, side by side with a hello-world
 * Worker on the same runtime: the bundled worker (wrangler deploy --dry-run)
 * and the reference both served by Miniflare directly (wrangler dev's proxy
 * caps throughput), loaded with wrk on 127.0.0.1 in interleaved rounds.
 * The ratio shows what evaluation costs on top of the runtime itself — and
 * that a warm evaluation never waits on a Durable Object or KV.
 *
 *   npm run bench:http -- [--seconds 8] [--rounds 3] [--connections 32]
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "8" },
    rounds: { type: "string", default: "3" },
    connections: { type: "string", default: "32" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) {
  console.log("usage: npm run bench:http -- [--seconds N (default 8)] [--rounds R (default 3)] [--connections C (default 32)]\nneeds wrk (apt-get install wrk)");
  process.exit(0);
}
const seconds = Number(args.seconds);
const rounds = Number(args.rounds);
const connections = Number(args.connections);
if (!(seconds >= 1 && seconds <= 60) || !(rounds >= 1 && rounds <= 10) || !(connections >= 1 && connections <= 256)) {
  console.error("--seconds 1..60, --rounds 1..10, --connections 1..256");
  process.exit(2);
}
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
console.error("building the bundle (wrangler deploy --dry-run)…");
execFileSync("node_modules/.bin/wrangler", ["deploy", "--dry-run", "--outdir", "dist"], { stdio: "ignore" });
const { workerOptions } = unstable_getMiniflareWorkerOptions("wrangler.toml");
const persist = mkdtempSync(join(tmpdir(), "rampart-bench-"));
const rampart = new Miniflare({
  host: "127.0.0.1",
  port: 0,
  defaultPersistRoot: persist,
  workers: [
    {
      ...workerOptions,
      name: "rampart",
      modules: true,
      scriptPath: "dist/index.js",
      bindings: { ...((workerOptions.bindings ?? {}) as Record<string, unknown>), ADMIN_TOKEN: TOKEN },
    },
  ],
} as ConstructorParameters<typeof Miniflare>[0]);
const hello = new Miniflare({
  host: "127.0.0.1",
  port: 0,
  modules: true,
  script: `export default { async fetch(request) { await request.text(); return new Response('{"ok":true}', { headers: { "content-type": "application/json" } }); } };`,
});

async function main() {
  const rampartUrl = (await rampart.ready).toString().replace(/\/$/, "");
  const helloUrl = (await hello.ready).toString().replace(/\/$/, "");
  const put = await fetch(`${rampartUrl}/admin/flags/bench-ranker`, {
    method: "PUT",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ key: "bench-ranker", type: "string", variants: { baseline: "v1", candidate: "v2" }, rollout: { stages: [{ weight: 50 }, { weight: 100 }] } }),
  });
  if (!put.ok) throw new Error(`creating the flag failed: ${put.status} ${await put.text()}`);
  for (let i = 0; i < 200; i++) {
    const r = await fetch(`${rampartUrl}/ofrep/v1/evaluate/flags/bench-ranker`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"context":{"targetingKey":"warm"}}' });
    if (r.status === 200 && i > 20) break;
    await new Promise((res) => setTimeout(res, 50));
  }

  // Every request a distinct targeting key, as real traffic would be.
  const lua = join(persist, "post.lua");
  writeFileSync(lua, `
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, '{"context":{"targetingKey":"user-' .. counter .. '-' .. math.random(1000000) .. '"}}')
end
`);
  const run = (url: string) => {
    const out = execFileSync("wrk", ["-t2", `-c${connections}`, `-d${seconds}s`, "--latency", "-s", lua, url], { encoding: "utf8" });
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
    const p50 = /50%\s+([\d.]+\w+)/.exec(out)?.[1] ?? "?";
    const p99 = /99%\s+([\d.]+\w+)/.exec(out)?.[1] ?? "?";
    const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
    return { rps, p50, p99, non2xx };
  };
  const results = { rampart: [] as ReturnType<typeof run>[], hello: [] as ReturnType<typeof run>[] };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? (["rampart", "hello"] as const) : (["hello", "rampart"] as const);
    for (const which of order) {
      results[which].push(run(which === "rampart" ? `${rampartUrl}/ofrep/v1/evaluate/flags/bench-ranker` : `${helloUrl}/`));
      process.stderr.write(`round ${round + 1}/${rounds}: ${which} done\n`);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? NaN;
  const r = median(results.rampart.map((x) => x.rps));
  const h = median(results.hello.map((x) => x.rps));
  console.log(`wrk -t2 -c${connections} -d${seconds}s, ${rounds} interleaved rounds, Miniflare direct, node ${process.version}`);
  console.log("");
  console.log("| worker | median req/s | runs (req/s, p50, p99) | non-2xx |");
  console.log("|---|---:|---|---:|");
  console.log(`| rampart OFREP single evaluation (50/50 split, distinct keys) | ${r.toFixed(0)} | ${results.rampart.map((x) => `${x.rps.toFixed(0)} ${x.p50} ${x.p99}`).join("; ")} | ${results.rampart.reduce((s, x) => s + x.non2xx, 0)} |`);
  console.log(`| hello-world worker (reference) | ${h.toFixed(0)} | ${results.hello.map((x) => `${x.rps.toFixed(0)} ${x.p50} ${x.p99}`).join("; ")} | ${results.hello.reduce((s, x) => s + x.non2xx, 0)} |`);
  console.log("");
  console.log(`evaluation throughput is ${((100 * r) / h).toFixed(0)}% of a hello-world worker on the same runtime`);
}

try {
  await main();
} finally {
  await Promise.all([rampart.dispose(), hello.dispose()]);
}
