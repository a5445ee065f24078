/**
 * The operator CLI: every admin action in one command, against a local stack
 * or a deployment. `runCli` takes its arguments and writers so tests can
 * drive it; scripts/rampart.ts is the executable.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";

export const HELP = `usage: npm run rampart -- <command> [options]

commands:
  flags                               list flags: status, stage, weight, generation
  show <key>                          a flag's spec (as written) and rollout state
  apply <file.yaml|json>              create/replace a flag, or apply a manifest (flags: [...])
        [--dry-run] [--prune]         show the diff only; delete flags not in the manifest
  promote|demote|rollback|pause|resume|kill|unkill <key> [--reason TEXT]
  force <key> --variant baseline|candidate [--reason TEXT]
  unforce <key>
  delete <key>                        delete a flag (its decision log is kept)
  decisions <key> [--limit N]         the decision log, newest first
  replay <key> <decision-id>          recompute a cron decision from its stored inputs
  report <key> [--from T] [--to T]    the A/B compare report (T: ISO 8601 or ms; default last 24 h)
  audit [--limit N]                   the registry's audit log
  cron                                the cron's progress
  tick [--time MS]                    fire the cron on a local stack (wrangler dev does not)

options:
  --url URL        Rampart's base URL (env RAMPART_URL, default http://127.0.0.1:8787)
  --token TOKEN    admin token (env RAMPART_TOKEN, else ADMIN_TOKEN from .dev.vars)
  --actor NAME     who you are, for the logs (env USER)
  --json           print the raw JSON response
  -h, --help       this text`;

const ACTIONS = new Set(["promote", "demote", "rollback", "pause", "resume", "kill", "unkill", "force", "unforce"]);

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  fetch: typeof fetch;
  env: Record<string, string | undefined>;
  readFile: (path: string) => string;
}

export const processIo: CliIo = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
  fetch: (input, init) => fetch(input, init),
  env: process.env,
  readFile: (path) => readFileSync(path, "utf8"),
};

class CliError extends Error {}

function tokenFrom(io: CliIo, given: string | undefined): string {
  if (given) return given;
  if (io.env["RAMPART_TOKEN"]) return io.env["RAMPART_TOKEN"];
  try {
    const line = io.readFile(".dev.vars").split("\n").find((l) => l.startsWith("ADMIN_TOKEN="));
    if (line) return line.slice("ADMIN_TOKEN=".length).trim();
  } catch {
    // no .dev.vars: fall through to the error below
  }
  throw new CliError("no admin token: pass --token, set RAMPART_TOKEN, or run from a checkout with .dev.vars");
}

/** Runs one CLI command; returns the process exit status. */
export async function runCli(argv: string[], io: CliIo = processIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: "string" },
        token: { type: "string" },
        actor: { type: "string" },
        json: { type: "boolean", default: false },
        "dry-run": { type: "boolean", default: false },
        prune: { type: "boolean", default: false },
        reason: { type: "string" },
        variant: { type: "string" },
        limit: { type: "string" },
        from: { type: "string" },
        to: { type: "string" },
        time: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    io.err(`${error instanceof Error ? error.message : String(error)}\n\n${HELP}`);
    return 2;
  }
  const { values: opts, positionals } = parsed;
  const [command, ...args] = positionals;
  if (opts.help || !command) {
    io.out(HELP);
    return command || opts.help ? 0 : 2;
  }
  const base = (opts.url ?? io.env["RAMPART_URL"] ?? "http://127.0.0.1:8787").replace(/\/$/, "");
  try {
    const token = command === "tick" ? "" : tokenFrom(io, opts.token);
    const actor = opts.actor ?? io.env["USER"] ?? "cli";
    const request = async (method: string, path: string, body?: string, type = "application/json") => {
      const response = await io.fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "x-rampart-actor": actor, ...(body !== undefined ? { "content-type": type } : {}) },
        body,
      });
      const text = await response.text();
      const json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      if (!response.ok) {
        const issues = Array.isArray(json["issues"]) ? (json["issues"] as { path: string; message: string }[]).map((i) => `\n  ${i.path || "(body)"}: ${i.message}`).join("") : "";
        const code = typeof json["error"] === "string" ? json["error"] : "";
        const message = typeof json["message"] === "string" ? json["message"] : text;
        throw new CliError(`${response.status} ${code}: ${message}${issues}`);
      }
      return json;
    };
    const need = (name: string, value: string | undefined): string => {
      if (!value) throw new CliError(`${command} needs <${name}>`);
      return value;
    };
    const show = (json: unknown, pretty: () => void) => (opts.json ? io.out(JSON.stringify(json, null, 2)) : pretty());

    switch (command) {
      case "flags": {
        const json = await request("GET", "/admin/flags");
        const flags = json["flags"] as { key: string; status: string; stage: number; weight: number; generation: number; forced: string | null }[];
        show(json, () => {
          io.out(`${"flag".padEnd(28)} ${"status".padEnd(12)} stage  weight  gen  forced`);
          for (const f of flags) io.out(`${f.key.padEnd(28)} ${f.status.padEnd(12)} ${String(f.stage).padStart(5)}  ${`${f.weight}%`.padStart(6)}  ${String(f.generation).padStart(3)}  ${f.forced ?? ""}`);
        });
        return 0;
      }
      case "show":
        io.out(JSON.stringify(await request("GET", `/admin/flags/${need("key", args[0])}`), null, 2));
        return 0;
      case "apply": {
        const path = need("file", args[0]);
        const text = io.readFile(path);
        const doc = (path.endsWith(".json") ? JSON.parse(text) : parseYaml(text)) as Record<string, unknown> | null;
        if (doc && Array.isArray(doc["flags"])) {
          const query = [opts["dry-run"] ? "dryRun=1" : "", opts.prune ? "prune=1" : ""].filter(Boolean).join("&");
          const json = await request("POST", `/admin/manifest${query ? `?${query}` : ""}`, JSON.stringify(doc));
          show(json, () => {
            for (const c of json["changes"] as { key: string; change: string; fields?: string[]; newGeneration?: boolean }[]) {
              const detail = c.fields ? ` (${c.fields.join(", ")}${c.newGeneration ? "; new generation" : ""})` : "";
              io.out(`${c.change.padEnd(9)} ${c.key}${detail}`);
            }
            if (opts["dry-run"]) io.out("dry run: nothing changed");
          });
          return 0;
        }
        if (opts["dry-run"] || opts.prune) throw new CliError("--dry-run and --prune apply to manifests (flags: [...]), not a single flag");
        const key = doc && typeof doc["key"] === "string" ? doc["key"] : null;
        if (!key) throw new CliError(`${path}: expected a flag spec with a key, or a manifest with flags: [...]`);
        const json = await request("PUT", `/admin/flags/${key}`, JSON.stringify(doc));
        show(json, () => io.out(`${json["created"] ? "created" : json["changed"] ? "updated" : "unchanged"} ${key}`));
        return 0;
      }
      case "delete":
        await request("DELETE", `/admin/flags/${need("key", args[0])}`);
        io.out(`deleted ${args[0] ?? ""}`);
        return 0;
      case "decisions": {
        const json = await request("GET", `/admin/flags/${need("key", args[0])}/decisions?limit=${opts.limit ?? "20"}`);
        show(json, () => {
          for (const d of json["decisions"] as { id: number; at: number; action: string; actor: string; from: { status: string; stage: number }; to: { status: string; stage: number }; reason: string | null }[]) {
            io.out(`#${d.id} ${new Date(d.at).toISOString()} ${d.action.padEnd(14)} ${d.from.status}/${d.from.stage} → ${d.to.status}/${d.to.stage} by ${d.actor}${d.reason ? ` — ${d.reason}` : ""}`);
          }
        });
        return 0;
      }
      case "replay": {
        const json = await request("GET", `/admin/flags/${need("key", args[0])}/decisions/${need("decision-id", args[1])}/replay`);
        show(json, () => {
          const replayed = json["replayed"] as { action: string; rule: string };
          io.out(`replayed: ${replayed.action} (${replayed.rule}) — ${json["matches"] ? "matches the logged decision" : "DIFFERS from the logged decision"}`);
        });
        return json["matches"] ? 0 : 1;
      }
      case "report": {
        const query = new URLSearchParams();
        if (opts.from) query.set("from", opts.from);
        if (opts.to) query.set("to", opts.to);
        const json = await request("GET", `/admin/flags/${need("key", args[0])}/report${query.size ? `?${query.toString()}` : ""}`);
        show(json, () => printReport(json, io));
        return 0;
      }
      case "audit": {
        const json = await request("GET", `/admin/audit?limit=${opts.limit ?? "20"}`);
        show(json, () => {
          for (const e of json["entries"] as { at: number; actor: string; action: string; flag: string | null; summary: string }[]) {
            io.out(`${new Date(e.at).toISOString()} ${e.actor.padEnd(16)} ${e.action.padEnd(16)} ${e.flag ?? ""} ${e.summary}`);
          }
        });
        return 0;
      }
      case "cron":
        io.out(JSON.stringify(await request("GET", "/admin/cron"), null, 2));
        return 0;
      case "tick": {
        const response = await io.fetch(`${base}/cdn-cgi/handler/scheduled?time=${opts.time ?? Date.now()}`);
        await response.text();
        if (!response.ok) throw new CliError(`the scheduled handler answered ${response.status}`);
        io.out("cron tick fired");
        return 0;
      }
      default: {
        if (!ACTIONS.has(command)) throw new CliError(`unknown command "${command}"; see --help`);
        const body = JSON.stringify({ action: command, ...(opts.variant ? { variant: opts.variant } : {}), ...(opts.reason ? { reason: opts.reason } : {}) });
        const json = await request("POST", `/admin/flags/${need("key", args[0])}/actions`, body);
        const state = json["state"] as { status: string; stageIndex: number; generation: number; forced: string | null };
        show(json, () => io.out(`${args[0] ?? ""}: ${state.status}, stage ${state.stageIndex}, generation ${state.generation}${state.forced ? `, forced ${state.forced}` : ""}${json["published"] ? "" : " (publishing will be retried)"}`));
        return 0;
      }
    }
  } catch (error) {
    io.err(`rampart: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

function printReport(json: Record<string, unknown>, io: CliIo): void {
  const arms = json["arms"] as Record<"baseline" | "candidate", { exposures: number; metrics: Record<string, { value: number | null; samples: number }> }>;
  io.out(`${String(json["flag"])} generation ${String(json["generation"])}: exposures baseline ${arms.baseline.exposures}, candidate ${arms.candidate.exposures}`);
  const gates = json["gates"] as { metric: string; compare: string; delta: number | null; interval: [number, number] | null; verdict: string; baseline: number | null; candidate: number | null }[];
  const fmt = (x: number | null) => (x === null ? "n/a" : Math.abs(x) < 10 ? x.toFixed(4) : x.toFixed(1));
  for (const g of gates) {
    const interval = g.interval ? `[${fmt(g.interval[0])}, ${fmt(g.interval[1])}]` : "";
    io.out(`  ${g.metric.padEnd(24)} ${g.compare.padEnd(9)} baseline ${fmt(g.baseline)} candidate ${fmt(g.candidate)} delta ${fmt(g.delta)} ${interval} → ${g.verdict}`);
  }
}
