/**
 * The operator CLI: every admin action in one command, against a local stack
 * or a deployment. `runCli` takes its arguments and writers so tests can
 * drive it; scripts/rampart.ts is the executable.
 */
import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline/promises";
import { parseArgs } from "node:util";
import { parseDocument, stringify as stringifyYaml } from "yaml";
import { askApprovalCommand, grantCommand, grantsCommand, revokeTokenCommand, tokenCommand, tokensCommand, ungrantCommand, whoamiCommand } from "./cli-access";
import { DEFAULT_URL, LOCAL_STACK_FILE, resolveBaseUrl } from "./local-url";

export const USAGE = "usage: npm run rampart -- <command> [options]   (npm run rampart -- --help for the list)";

export const HELP = `usage: npm run rampart -- <command> [options]

commands:
  flags                               list flags: status, stage, weight, generation, what the cron waits for
  show <key>                          a flag's rollout state and its spec (as written, YAML)
  apply <file.yaml|json>              create/replace a flag, or apply a manifest (flags: [...])
        [--dry-run]                   show what would change, field by field, and change nothing
        [--prune] [--yes]             also delete flags not in the manifest (asks first; --yes to skip)
        [--sign-key FILE [--key-id ID]]  sign the body (Ed25519) for a deployment with MANIFEST_PUBLIC_KEYS
  import flagd <file.json|yaml>       store a flagd flag-definition document's flags as they are (OFREP then
        [--dry-run]                   answers what flagd answers); all or nothing; other flags untouched
  keygen [--id ID] [--out FILE]       make a signing key pair: the private key to FILE, the public
                                      MANIFEST_PUBLIC_KEYS entry printed
  promote|demote|rollback|pause|resume|kill|unkill|start <key> [--reason TEXT]
  force <key> --variant baseline|candidate [--reason TEXT]
  unforce <key>
  clear_srm <key> --reason TEXT       release a sample-ratio-mismatch hold (the reason is audited)
  approve <key> [--reject] [--note TEXT]  approve (or reject) the stage the flag waits in, for its current generation
  schedule <key> <action> --at T [--reason TEXT] [--variant ARM] [--wave N]
                                      have the cron carry out an action at T (ISO 8601 with a zone, or ms):
                                      kill, unkill, pause, resume, promote, demote, rollback, force, unforce, start;
                                      update --spec FILE stores that spec then (a split's new weights,
                                      an experiment's cutoff: the spec serving its winner)
  schedules <key>                     the flag's pending scheduled changes, soonest first
  unschedule <key> <id>               cancel a pending schedule
  delete <key>                        delete a flag (its decision log is kept)
  segments                            segments: version, size, and the flags whose rules use each
  segment <name> <file.yaml|json>     create/replace a segment (keys, excluded, when); republishes the flags using it
  delete-segment <name>               delete a segment no flag uses
  decisions <key> [--limit N]         the decision log, newest first
  replay <key> <decision-id>          recompute a cron decision from its stored inputs (id as printed, e.g. #12)
  report <key> [--from T] [--to T]    the A/B compare report (T: ISO 8601 or ms; default last 24 h)
  experiment <key> <rule> [--iteration ID] [--from T] [--to T]
                                      an experiment's report: each variant of the rule's split against its
                                      control, intervals corrected for the number of arms (default: the
                                      split as served now, since its first exposure)
  exposures <key> [--from T] [--to T] [--out FILE]
                                      logged exposures as newline-delimited JSON (default last hour), to FILE or stdout
  ask-approval <key> [--note TEXT]    ask people to approve the stage the flag waits in (webhook and audit entry)
  audit [--limit N]                   the registry's audit log
  whoami                              who the token or identity is, and what it may do
  grants                              role grants to people and groups
  grant user|group <subject> <role> [--prefix 'search-*,feed-*']
                                      grant viewer, operator, approver or admin (on those prefixes only)
  ungrant user|group <subject>        remove a grant
  tokens                              API tokens (never their secrets), with last use
  token <name> --role ROLE [--prefix P,…] [--expires T]
                                      make an API token for a machine, CI or agent; its secret is printed once
  revoke-token <id>                   revoke an API token at once
  cron                                the cron's progress

  Flags with region waves: --wave N or --region NAME picks the wave an action, approve,
  show, decisions or report is about (default wave 1); start begins a waiting wave early.
  tick [--time MS]                    fire the cron on a local stack (wrangler dev does not)

options:
  --url URL        Rampart's base URL; resolved in this order: --url, env RAMPART_URL,
                   the URL npm start last recorded (${LOCAL_STACK_FILE}), ${DEFAULT_URL}
  --token TOKEN    admin token (env RAMPART_TOKEN, else ADMIN_TOKEN from .dev.vars)
  --actor NAME     who you are, for the logs (env USER)
  --json           print JSON: the response, or {"error": …} for a failure
  -h, --help       this text`;

const ACTIONS = new Set(["promote", "demote", "rollback", "pause", "resume", "kill", "unkill", "force", "unforce", "start", "clear_srm"]);

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  fetch: typeof fetch;
  env: Record<string, string | undefined>;
  readFile: (path: string) => string;
  writeFile: (path: string, text: string, mode?: number) => void;
  /** Asks a yes/no question; null when nobody can answer (not a terminal). */
  confirm: (question: string) => Promise<boolean | null>;
}

export const processIo: CliIo = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
  fetch: (input, init) => fetch(input, init),
  env: process.env,
  readFile: (path) => readFileSync(path, "utf8"),
  writeFile: (path, text, mode) => writeFileSync(path, text, mode === undefined ? undefined : { mode }),
  confirm: async (question) => {
    if (!process.stdin.isTTY) return null;
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
    } finally {
      rl.close();
    }
  },
};

/** A failure the CLI explains; `code` and `status` go into `--json` output. */
export class CliError extends Error {
  constructor(message: string, readonly code = "cli_error", readonly status: number | null = null) {
    super(message);
  }
}

function tokenFrom(io: CliIo, given: string | undefined): string {
  if (given) return given;
  if (io.env["RAMPART_TOKEN"]) return io.env["RAMPART_TOKEN"];
  try {
    const line = io.readFile(".dev.vars").split("\n").find((l) => l.startsWith("ADMIN_TOKEN="));
    if (line) return line.slice("ADMIN_TOKEN=".length).trim();
  } catch {
    // no .dev.vars: fall through to the error below
  }
  throw new CliError("no admin token: pass --token, set RAMPART_TOKEN, or run from a checkout with .dev.vars", "no_token");
}

export const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** A file's document (YAML or JSON by extension), with errors that name the file and the place. */
function readDocument(io: CliIo, path: string): unknown {
  let text: string;
  try {
    text = io.readFile(path);
  } catch (error) {
    throw new CliError(`${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`, "unreadable_file");
  }
  if (path.endsWith(".json")) {
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new CliError(`${path}: not valid JSON: ${error instanceof Error ? error.message : String(error)}`, "invalid_file");
    }
  }
  const doc = parseDocument(text, { uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    const at = first.linePos?.[0];
    throw new CliError(`${path}${at ? `:${at.line}:${at.col}` : ""}: not valid YAML: ${first.message.split("\n")[0] ?? first.code}`, "invalid_file");
  }
  return doc.toJS();
}

/** A decision id as the log prints it ("#12") or bare ("12"). */
function decisionId(text: string): string {
  const id = text.replace(/^#/, "");
  if (!/^\d+$/.test(id)) throw new CliError(`"${text}" is not a decision id: use the number the decision log prints, e.g. #12`, "bad_argument");
  return id;
}

/** A signing key from a PEM file (PKCS#8 Ed25519); its id from --key-id, else from a keygen file name. */
function loadSigner(io: CliIo, path: string, keyId: string | undefined): { header: (body: string) => string } {
  let pem: string;
  try {
    pem = io.readFile(path);
  } catch (error) {
    throw new CliError(`${path}: cannot read the signing key (${(error as NodeJS.ErrnoException).code ?? String(error)})`, "unreadable_file");
  }
  const id = keyId ?? /rampart-signing-([A-Za-z0-9._-]+)\.pem$/.exec(path)?.[1];
  if (!id) throw new CliError(`--sign-key ${path}: say which MANIFEST_PUBLIC_KEYS id it is with --key-id (keygen names its files rampart-signing-<id>.pem)`, "usage");
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new CliError(`${path}: not a PEM private key`, "invalid_file");
  }
  if (key.asymmetricKeyType !== "ed25519") throw new CliError(`${path}: an ${key.asymmetricKeyType ?? "unknown"} key; signatures are Ed25519 (npm run rampart -- keygen)`, "invalid_file");
  return { header: (body) => `keyid="${id}"; sig="${sign(null, Buffer.from(body, "utf8"), key).toString("base64")}"` };
}

/** `keygen`: an Ed25519 pair; the private key to a file only its owner reads, the public entry to stdout. */
function keygen(io: CliIo, id: string | undefined, out: string | undefined): number {
  const keyId = id ?? `key-${new Date().toISOString().slice(0, 10).replace(/-/g, "")}`;
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(keyId)) {
    io.err(`rampart: --id must be 1–64 of A-Z a-z 0-9 . _ - (got "${keyId}")`);
    return 2;
  }
  const file = out ?? `rampart-signing-${keyId}.pem`;
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const raw = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  io.writeFile(file, privateKey.export({ format: "pem", type: "pkcs8" }).toString(), 0o600);
  io.out(`private key: ${file} (keep it secret; sign with: npm run rampart -- apply FILE --sign-key ${file}${out ? ` --key-id ${keyId}` : ""})`);
  io.out(`public key, for MANIFEST_PUBLIC_KEYS (comma-separate several to rotate): ${keyId}:${raw.toString("base64")}`);
  return 0;
}

/** Why a request never got an answer, in words a user can act on. */
function unreachable(base: { url: string; from: string }, error: unknown): CliError {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const detail = code ?? (cause instanceof Error ? cause.message : String(cause));
  return new CliError(
    `cannot reach Rampart at ${base.url} (${detail}); the URL came from ${base.from}. Is the stack running (npm start)? Otherwise pass --url or set RAMPART_URL.`,
    "unreachable",
  );
}

interface DiffEntry { path: string; from?: string; to?: string }
interface Change { key: string; change: string; fields?: string[]; diff?: DiffEntry[]; newGeneration?: boolean }

const shown = (v: string | undefined) => v ?? "(unset)";

function printChanges(io: CliIo, changes: Change[]): void {
  for (const c of changes) {
    io.out(`${c.change.padEnd(9)} ${c.key}${c.newGeneration ? " (new generation: the candidate changed)" : ""}`);
    for (const d of c.diff ?? []) io.out(`            ${d.path}: ${shown(d.from)} → ${shown(d.to)}`);
  }
}

/** What every command gets: the parsed options and positionals, the writers, and the HTTP client bound to the resolved URL and token. */
export interface CliContext {
  io: CliIo;
  opts: CliOptions;
  args: string[];
  command: string;
  base: { url: string; from: string };
  send: (method: string, path: string, body?: string, type?: string) => Promise<Response>;
  request: (method: string, path: string, body?: string) => Promise<Record<string, unknown>>;
  show: (json: unknown, pretty: () => void) => void;
  need: (name: string, value: string | undefined) => string;
  waveBody: () => { wave?: number; region?: string };
  waveQuery: (sep: string) => string;
}

const CLI_OPTIONS = {
  url: { type: "string" },
  token: { type: "string" },
  actor: { type: "string" },
  json: { type: "boolean", default: false },
  "dry-run": { type: "boolean", default: false },
  prune: { type: "boolean", default: false },
  yes: { type: "boolean", short: "y", default: false },
  reason: { type: "string" },
  variant: { type: "string" },
  wave: { type: "string" },
  spec: { type: "string" },
  region: { type: "string" },
  limit: { type: "string" },
  from: { type: "string" },
  to: { type: "string" },
  time: { type: "string" },
  at: { type: "string" },
  out: { type: "string" },
  "sign-key": { type: "string" },
  "key-id": { type: "string" },
  id: { type: "string" },
  iteration: { type: "string" },
  reject: { type: "boolean", default: false },
  note: { type: "string" },
  role: { type: "string" },
  prefix: { type: "string" },
  expires: { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} as const;
export type CliOptions = ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof CLI_OPTIONS }>>["values"];

/** Runs one CLI command; returns the process exit status. */
export async function runCli(argv: string[], io: CliIo = processIo): Promise<number> {
  const wantsJson = argv.includes("--json");
  const fail = (error: CliError): number => {
    if (wantsJson) io.out(JSON.stringify({ error: error.code, message: error.message, ...(error.status !== null ? { status: error.status } : {}) }, null, 2));
    else io.err(`rampart: ${error.message}`);
    return error.code === "usage" ? 2 : 1;
  };
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: CLI_OPTIONS,
    });
  } catch (error) {
    // Node's message is several lines long; the first says what was wrong.
    const first = (error instanceof Error ? error.message : String(error)).split("\n")[0] ?? "";
    return fail(new CliError(`${first}\n${USAGE}`, "usage"));
  }
  const { values: opts, positionals } = parsed;
  const [command, ...args] = positionals;
  if (command === "keygen") return keygen(io, opts.id, opts.out);
  if (opts.help || !command) {
    if (!command && !opts.help) {
      io.err(USAGE);
      return 2;
    }
    io.out(HELP);
    return 0;
  }
  const base = resolveBaseUrl(opts.url, io.env, io.readFile);
  try {
    const token = command === "tick" ? "" : tokenFrom(io, opts.token);
    const actor = opts.actor ?? io.env["USER"] ?? "cli";
    // With --sign-key, every spec or manifest body goes with its Ed25519 signature over the exact bytes sent.
    const signer = opts["sign-key"] ? loadSigner(io, opts["sign-key"], opts["key-id"]) : null;
    const send = async (method: string, path: string, body?: string, type = "application/json") => {
      const signed = signer && body !== undefined && (path.startsWith("/admin/manifest") || (method === "PUT" && path.startsWith("/admin/flags/")));
      try {
        return await io.fetch(`${base.url}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            "x-rampart-actor": actor,
            ...(body !== undefined ? { "content-type": type } : {}),
            ...(signed ? { "rampart-signature": signer.header(body) } : {}),
          },
          body,
        });
      } catch (error) {
        throw unreachable(base, error);
      }
    };
    const request = async (method: string, path: string, body?: string) => {
      const response = await send(method, path, body);
      const text = await response.text();
      let json: Record<string, unknown>;
      try {
        json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      } catch {
        throw new CliError(`${method} ${base.url}${path} answered ${response.status} with something that is not JSON — is ${base.url} Rampart?`, "not_rampart", response.status);
      }
      if (!response.ok) {
        const issues = Array.isArray(json["issues"]) ? (json["issues"] as { path: string; message: string }[]).map((i) => `\n  ${i.path || "(body)"}: ${i.message}`).join("") : "";
        const code = typeof json["error"] === "string" ? json["error"] : "http_error";
        const message = typeof json["message"] === "string" ? json["message"] : text;
        throw new CliError(`${response.status} ${code}: ${message}${issues}`, code, response.status);
      }
      return json;
    };
    const need = (name: string, value: string | undefined): string => {
      if (!value) throw new CliError(`${command} needs <${name}>\n${USAGE}`, "usage");
      return value;
    };
    const show = (json: unknown, pretty: () => void) => (opts.json ? io.out(JSON.stringify(json, null, 2)) : pretty());
    // --wave N / --region NAME: the region wave meant (the server checks the flag has it and names the field when not).
    const waveBody = () => ({ ...(opts.wave ? { wave: Number(opts.wave) } : {}), ...(opts.region ? { region: opts.region } : {}) });
    const waveQuery = (sep: string) => (opts.wave ? `${sep}wave=${encodeURIComponent(opts.wave)}` : opts.region ? `${sep}region=${encodeURIComponent(opts.region)}` : "");

    const ctx: CliContext = { io, opts, args, command, base, send, request, show, need, waveBody, waveQuery };
    const run = COMMANDS.get(command) ?? (ACTIONS.has(command) ? actionCommand : null);
    if (run === null) throw new CliError(`unknown command "${command}"\n${USAGE}`, "usage");
    return await run(ctx);
  } catch (error) {
    if (error instanceof CliError) return fail(error);
    return fail(new CliError(error instanceof Error ? error.message : String(error), "internal"));
  }
}

/** `flags`: list flags: status, stage, weight, generation, what the cron waits for. */
async function flagsCommand(ctx: CliContext): Promise<number> {
  const { io, request, show } = ctx;
  const json = await request("GET", "/admin/flags");
  const flags = json["flags"] as { key: string; kind: string; status: string; stage: number; weight: number; generation: number; forced: string | null; judgement: { at: number; action: string; reason: string } | null; waves?: { wave: number; status: string; weight: number }[] }[];
  show(json, () => {
    io.out(`${"flag".padEnd(28)} ${"kind".padEnd(11)} ${"status".padEnd(12)} stage  weight  gen  forced     latest judgement`);
    for (const f of flags) {
      const now = f.judgement ? `${iso(f.judgement.at)} ${f.judgement.action}: ${f.judgement.reason}` : "";
      io.out(`${f.key.padEnd(28)} ${f.kind.padEnd(11)} ${f.status.padEnd(12)} ${String(f.stage).padStart(5)}  ${`${f.weight}%`.padStart(6)}  ${String(f.generation).padStart(3)}  ${(f.forced ?? "").padEnd(9)}  ${now}`);
      if (f.waves) io.out(`${"".padEnd(28)} waves: ${f.waves.map((w) => `${w.wave} ${w.status}${w.status === "ramping" || w.status === "paused" ? ` ${w.weight}%` : ""}`).join(" · ")}`);
    }
  });
  return 0;
}
/** `show`: a flag's rollout state and its spec as written (YAML). */
async function showCommand(ctx: CliContext): Promise<number> {
  const { io, args, request, show, need } = ctx;
  const key = need("key", args[0]);
  const json = await request("GET", `/admin/flags/${key}`);
  const schedules = (await request("GET", `/admin/flags/${key}/schedules`))["schedules"] as ScheduleLine[];
  show(json, () => {
    const state = json["state"] as { status: string; stageIndex: number; generation: number; forced: string | null; updatedAt: number; reason?: string | null };
    io.out(`${String(json["key"])}: ${state.status}, stage ${state.stageIndex}, generation ${state.generation}${state.forced ? `, forced ${state.forced}` : ""}`);
    io.out(`  spec version ${String(json["specVersion"])}, hash ${String(json["specHash"])}`);
    for (const w of (json["waves"] ?? []) as { wave: number; regions: string[]; status: string; stage: number; weight: number; generation: number; specHash: string }[]) {
      io.out(`  wave ${w.wave} [${w.regions.join(", ")}]: ${w.status}, stage ${w.stage} (${w.weight}%), generation ${w.generation}, serving spec ${w.specHash.slice(0, 12)}`);
    }
    io.out(`  created ${iso(Number(json["createdAt"]))}, updated ${iso(Number(json["updatedAt"]))}, state changed ${iso(state.updatedAt)}`);
    if (schedules.length > 0) {
      io.out("scheduled:");
      for (const line of schedules) io.out(`  #${line.id} ${iso(line.at)} ${line.action}${line.variant ? `:${line.variant}` : ""}${line.wave > 1 ? ` wave ${line.wave}` : ""} by ${line.createdBy}${line.reason ? ` — ${line.reason}` : ""}`);
    }
    io.out("spec (as written):");
    for (const line of stringifyYaml(json["spec"]).trimEnd().split("\n")) io.out(`  ${line}`);
  });
  return 0;
}
/** `apply`: one flag or a manifest; a dry run for either; prune only after saying what goes. */
async function applyCommand(ctx: CliContext): Promise<number> {
  const { io, opts, args, request, show, need } = ctx;
  const path = need("file", args[0]);
  const doc = readDocument(io, path);
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new CliError(`${path}: expected a flag spec (key: …) or a manifest (flags: [...])`, "invalid_file");
  const isManifest = Array.isArray((doc as Record<string, unknown>)["flags"]);
  const key = (doc as Record<string, unknown>)["key"];
  if (!isManifest && typeof key !== "string") throw new CliError(`${path}: expected a flag spec with a key, or a manifest with flags: [...]`, "invalid_file");
  if (!isManifest && opts.prune) throw new CliError("--prune deletes flags missing from a manifest (flags: [...]); a single-flag file cannot say which flags to keep", "usage");
  // A single flag goes through the manifest endpoint for its dry run, so both show the same diff.
  const manifest = JSON.stringify(isManifest ? doc : { flags: [doc] });
  const post = (query: string) => request("POST", `/admin/manifest${query ? `?${query}` : ""}`, manifest);
  if (opts["dry-run"]) {
    const json = await post(opts.prune ? "dryRun=1&prune=1" : "dryRun=1");
    show(json, () => {
      printChanges(io, json["changes"] as Change[]);
      io.out("dry run: nothing changed");
    });
    return 0;
  }
  if (opts.prune) {
    const plan = await post("dryRun=1&prune=1");
    const deletions = (plan["changes"] as Change[]).filter((c) => c.change === "delete").map((c) => c.key);
    if (deletions.length > 0 && !opts.yes) {
      io.err(`--prune will delete ${deletions.length} flag(s) that ${path} does not list: ${deletions.join(", ")}`);
      const answer = await io.confirm("Delete them?");
      if (answer === null) throw new CliError(`--prune would delete ${deletions.join(", ")}; nobody can confirm here (not a terminal): pass --yes to go ahead`, "confirmation_required");
      if (!answer) throw new CliError("nothing changed: the prune was not confirmed", "not_confirmed");
    }
  }
  if (isManifest) {
    const json = await post(opts.prune ? "prune=1" : "");
    show(json, () => printChanges(io, json["changes"] as Change[]));
    return 0;
  }
  const json = await request("PUT", `/admin/flags/${String(key)}`, JSON.stringify(doc));
  show(json, () => io.out(`${json["created"] ? "created" : json["changed"] ? "updated" : "unchanged"} ${String(key)}`));
  return 0;
}
/** `import flagd`: a flagd flag-definition document, each flag stored as it is; a dry run shows the changes. */
async function importCommand(ctx: CliContext): Promise<number> {
  const { io, opts, args, request, show, need } = ctx;
  const format = need("format", args[0]);
  if (format !== "flagd") throw new CliError(`unknown import format "${format}": Rampart imports flagd documents (import flagd FILE)`, "usage");
  const path = need("file", args[1]);
  const doc = readDocument(io, path);
  const json = await request("POST", `/admin/import/flagd${opts["dry-run"] ? "?dryRun=1" : ""}`, JSON.stringify(doc));
  show(json, () => {
    printChanges(io, json["changes"] as Change[]);
    if (opts["dry-run"]) io.out("dry run: nothing changed");
  });
  return 0;
}

/** `delete`: delete a flag (its decision log is kept). */
async function deleteCommand(ctx: CliContext): Promise<number> {
  const { io, args, request, show, need } = ctx;
  await request("DELETE", `/admin/flags/${need("key", args[0])}`);
  show({ deleted: args[0] }, () => io.out(`deleted ${args[0] ?? ""}`));
  return 0;
}
/** `decisions`: the decision log, newest first. */
async function decisionsCommand(ctx: CliContext): Promise<number> {
  const { io, opts, args, request, show, need, waveQuery } = ctx;
  const json = await request("GET", `/admin/flags/${need("key", args[0])}/decisions?limit=${opts.limit ?? "20"}${waveQuery("&")}`);
  show(json, () => {
    for (const d of json["decisions"] as { id: number; at: number; action: string; actor: string; from: { status: string; stage: number }; to: { status: string; stage: number }; reason: string | null }[]) {
      io.out(`#${d.id} ${iso(d.at)} ${d.action.padEnd(14)} ${d.from.status}/${d.from.stage} → ${d.to.status}/${d.to.stage} by ${d.actor}${d.reason ? ` — ${d.reason}` : ""}`);
    }
  });
  return 0;
}
/** `replay`: recompute a cron decision from its stored inputs; exit 1 when it differs. */
async function replayCommand(ctx: CliContext): Promise<number> {
  const { io, args, request, show, need } = ctx;
  const id = decisionId(need("decision-id", args[1]));
  const json = await request("GET", `/admin/flags/${need("key", args[0])}/decisions/${id}/replay`);
  show(json, () => {
    const replayed = json["replayed"] as { action: string; rule: string };
    io.out(`#${id} replayed: ${replayed.action} (${replayed.rule}) — ${json["matches"] ? "matches the logged decision" : "DIFFERS from the logged decision"}`);
  });
  return json["matches"] ? 0 : 1;
}
/** `report`: the A/B compare report. */
async function reportCommand(ctx: CliContext): Promise<number> {
  const { io, opts, args, request, show, need } = ctx;
  const query = new URLSearchParams();
  if (opts.from) query.set("from", opts.from);
  if (opts.to) query.set("to", opts.to);
  if (opts.wave) query.set("wave", opts.wave);
  if (opts.region) query.set("region", opts.region);
  const json = await request("GET", `/admin/flags/${need("key", args[0])}/report${query.size ? `?${query.toString()}` : ""}`);
  show(json, () => printReport(json, io));
  return 0;
}
/** `experiment`: an experiment's compare report, each treatment against the control. */
async function experimentCommand(ctx: CliContext): Promise<number> {
  const { io, opts, args, request, show, need } = ctx;
  const key = need("key", args[0]);
  const rule = need("rule", args[1]);
  const query = new URLSearchParams();
  if (opts.iteration) query.set("iteration", opts.iteration);
  if (opts.from) query.set("from", opts.from);
  if (opts.to) query.set("to", opts.to);
  const json = await request("GET", `/admin/flags/${key}/experiments/${encodeURIComponent(rule)}${query.size ? `?${query.toString()}` : ""}`);
  show(json, () => printExperiment(json, io));
  return 0;
}
/** `exposures`: logged exposures as newline-delimited JSON, to a file or stdout. */
async function exposuresCommand(ctx: CliContext): Promise<number> {
  const { io, opts, args, send, need } = ctx;
  const key = need("key", args[0]);
  const query = new URLSearchParams();
  if (opts.from) query.set("from", opts.from);
  if (opts.to) query.set("to", opts.to);
  const response = await send("GET", `/admin/flags/${key}/exposures${query.size ? `?${query.toString()}` : ""}`);
  const text = await response.text();
  if (!response.ok) {
    let message = text;
    try {
      const parsed = JSON.parse(text) as { message?: unknown };
      if (typeof parsed.message === "string") message = parsed.message;
    } catch {
      // not JSON: show it as it came
    }
    throw new CliError(`${response.status}: ${message}`, "http_error", response.status);
  }
  const count = text === "" ? 0 : text.trimEnd().split("\n").length;
  if (opts.out) {
    io.writeFile(opts.out, text);
    io.err(`${count} exposures of ${key} written to ${opts.out}`);
  } else if (text !== "") io.out(text.trimEnd());
  return 0;
}
/** `approve`: approve (or reject) the stage the flag waits in, for its current generation and stage. */
async function approveCommand(ctx: CliContext): Promise<number> {
  const { io, opts, args, request, show, need, waveBody } = ctx;
  const key = need("key", args[0]);
  // An approval names the generation and stage it covers: those the flag is in now.
  const flag = await request("GET", `/admin/flags/${key}`);
  const waves = (flag["waves"] ?? []) as { wave: number; regions: string[]; generation: number; stage: number }[];
  const chosen = opts.wave ? waves.find((w) => String(w.wave) === opts.wave) : opts.region ? waves.find((w) => w.regions.includes(opts.region ?? "")) : undefined;
  const state = chosen ? { generation: chosen.generation, stageIndex: chosen.stage } : (flag["state"] as { generation: number; stageIndex: number });
  const body = JSON.stringify({ decision: opts.reject ? "reject" : "approve", generation: state.generation, stage: state.stageIndex, ...(opts.note ? { note: opts.note } : {}), ...waveBody() });
  const json = await request("POST", `/admin/flags/${key}/approve`, body);
  show(json, () => io.out(`${key}: stage ${state.stageIndex} of generation ${state.generation} ${opts.reject ? "rejected" : "approved"}; the cron acts on it at its next look`));
  return 0;
}
/** `audit`: the registry's audit log. */
async function auditCommand(ctx: CliContext): Promise<number> {
  const { io, opts, request, show } = ctx;
  const json = await request("GET", `/admin/audit?limit=${opts.limit ?? "20"}`);
  show(json, () => {
    for (const e of json["entries"] as { at: number; actor: string; action: string; flag: string | null; summary: string; signingKey?: string | null }[]) {
      io.out(`${iso(e.at)} ${e.actor.padEnd(16)} ${e.action.padEnd(16)} ${e.flag ?? ""} ${e.summary}${e.signingKey ? ` (signed by ${e.signingKey})` : ""}`);
    }
  });
  return 0;
}
/** `cron`: the cron's progress. */
async function cronCommand(ctx: CliContext): Promise<number> {
  const { io, request, show } = ctx;
  const json = await request("GET", "/admin/cron");
  show(json, () => {
    const last = json["last"] as { now: number; evaluated: number; changed: number; failed: number; batches: number; finishedAt: number } | null;
    const pending = json["pending"] as { now: number; cursor: number; flags: number } | null;
    io.out(last ? `last tick ${iso(last.now)}: ${last.evaluated} judged, ${last.changed} changed, ${last.failed} failed, in ${last.batches} batch(es), finished ${iso(last.finishedAt)}` : "no tick has run yet");
    io.out(pending ? `running: tick ${iso(pending.now)}, ${pending.cursor} of ${pending.flags} flags done` : "nothing running");
  });
  return 0;
}
/** `tick`: fire the cron on a local stack (wrangler dev does not). */
async function tickCommand(ctx: CliContext): Promise<number> {
  const { io, opts, send, show, base } = ctx;
  const response = await send("GET", `/cdn-cgi/handler/scheduled?time=${opts.time ?? Date.now()}`);
  await response.text();
  if (!response.ok) throw new CliError(`the scheduled handler at ${base.url} answered ${response.status}`, "tick_failed", response.status);
  show({ fired: true }, () => io.out("cron tick fired"));
  return 0;
}
/** `action`: an operator action (promote, kill, force, …) on a flag. */
async function actionCommand(ctx: CliContext): Promise<number> {
  const { io, opts, args, request, show, need, waveBody, command } = ctx;
  if (!ACTIONS.has(command)) throw new CliError(`unknown command "${command}"\n${USAGE}`, "usage");
  const body = JSON.stringify({ action: command, ...(opts.variant ? { variant: opts.variant } : {}), ...(opts.reason ? { reason: opts.reason } : {}), ...waveBody() });
  const json = await request("POST", `/admin/flags/${need("key", args[0])}/actions`, body);
  const state = json["state"] as { status: string; stageIndex: number; generation: number; forced: string | null };
  show(json, () => io.out(`${args[0] ?? ""}${typeof json["wave"] === "number" ? ` wave ${json["wave"]}` : ""}: ${state.status}, stage ${state.stageIndex}, generation ${state.generation}${state.forced ? `, forced ${state.forced}` : ""}${json["published"] ? "" : " (publishing will be retried)"}`));
  return 0;
}

/** `schedule`: have the cron carry out an operator action at a time. */
async function scheduleCommand(ctx: CliContext): Promise<number> {
  const { io, opts, args, request, show, need } = ctx;
  const key = need("key", args[0]);
  const action = need("action", args[1]);
  const at = need("time (--at)", opts.at);
  if (action === "update" && !opts.spec) throw new CliError("schedule KEY update needs --spec FILE: the flag's spec (YAML or JSON) from that time on", "usage");
  const spec = opts.spec ? readDocument(io, opts.spec) : undefined;
  const body = JSON.stringify({ at: /^\d+$/.test(at) ? Number(at) : at, action, ...(opts.reason ? { reason: opts.reason } : {}), ...(opts.variant ? { variant: opts.variant } : {}), ...(opts.wave ? { wave: Number(opts.wave) } : {}), ...(spec !== undefined ? { spec } : {}) });
  const json = await request("POST", `/admin/flags/${key}/schedules`, body);
  const schedule = json["schedule"] as { id: number; at: number; action: string; wave: number };
  show(json, () => io.out(`${key}: #${schedule.id} ${schedule.action}${schedule.wave > 1 ? ` wave ${schedule.wave}` : ""} at ${iso(schedule.at)} (the first cron tick at or after it; cancel with: unschedule ${key} ${schedule.id})`));
  return 0;
}

/** `schedules`: a flag's pending scheduled changes. */
async function schedulesCommand(ctx: CliContext): Promise<number> {
  const { io, args, request, show, need } = ctx;
  const json = await request("GET", `/admin/flags/${need("key", args[0])}/schedules`);
  show(json, () => printSchedules(io, json["schedules"] as ScheduleLine[]));
  return 0;
}

interface SegmentLine {
  segment: { name: string; attribute: string; keys: string[]; excluded: string[]; when?: unknown; description?: string };
  version: number;
  updatedBy: string;
  flags: string[];
}

/** `segments`: every segment, its size and who uses it. */
async function segmentsCommand(ctx: CliContext): Promise<number> {
  const { io, request, show } = ctx;
  const json = await request("GET", "/admin/segments");
  show(json, () => {
    const segments = json["segments"] as SegmentLine[];
    if (segments.length === 0) io.out("no segments");
    for (const { segment, version, updatedBy, flags } of segments) {
      const size = `${segment.keys.length} keys${segment.excluded.length ? `, ${segment.excluded.length} excluded` : ""}${segment.when ? ", a rule" : ""}`;
      io.out(`${segment.name} v${version} (${size}; by ${updatedBy}) used by ${flags.length ? flags.join(", ") : "no flag"}`);
    }
  });
  return 0;
}

/** `segment`: create or replace a segment from a file. */
async function segmentCommand(ctx: CliContext): Promise<number> {
  const { io, args, request, show, need } = ctx;
  const name = need("name", args[0]);
  const path = need("file", args[1]);
  const doc = readDocument(io, path);
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new CliError(`${path}: expected a segment (keys: [...], when: …)`, "invalid_file");
  const json = await request("PUT", `/admin/segments/${encodeURIComponent(name)}`, JSON.stringify(doc));
  const republished = json["republished"] as string[];
  show(json, () => io.out(`${json["created"] ? "created" : "updated"} segment ${name} v${String(json["version"])}; republished ${republished.length ? republished.join(", ") : "no flag"}`));
  return 0;
}

/** `delete-segment`: delete a segment no flag uses. */
async function deleteSegmentCommand(ctx: CliContext): Promise<number> {
  const { io, args, request, show, need } = ctx;
  const name = need("name", args[0]);
  const json = await request("DELETE", `/admin/segments/${encodeURIComponent(name)}`);
  show(json, () => io.out(`segment ${name} deleted`));
  return 0;
}

/** `unschedule`: cancel a pending schedule. */
async function unscheduleCommand(ctx: CliContext): Promise<number> {
  const { io, args, request, show, need } = ctx;
  const key = need("key", args[0]);
  const id = need("id", args[1]).replace(/^#/, "");
  const json = await request("DELETE", `/admin/flags/${key}/schedules/${encodeURIComponent(id)}`);
  show(json, () => io.out(`${key}: schedule #${id} cancelled`));
  return 0;
}

interface ScheduleLine { id: number; at: number; action: string; variant: string | null; wave: number; reason: string | null; createdBy: string }

function printSchedules(io: CliIo, schedules: ScheduleLine[]): void {
  if (schedules.length === 0) io.out("no pending schedules");
  for (const s of schedules) io.out(`#${s.id} ${iso(s.at)} ${s.action}${s.variant ? `:${s.variant}` : ""}${s.wave > 1 ? ` wave ${s.wave}` : ""} by ${s.createdBy}${s.reason ? ` — ${s.reason}` : ""}`);
}

/** The commands by name; every other name in ACTIONS is an operator action. */
const COMMANDS = new Map<string, (ctx: CliContext) => Promise<number>>([
  ["flags", flagsCommand],
  ["show", showCommand],
  ["apply", applyCommand],
  ["import", importCommand],
  ["delete", deleteCommand],
  ["decisions", decisionsCommand],
  ["replay", replayCommand],
  ["report", reportCommand],
  ["experiment", experimentCommand],
  ["exposures", exposuresCommand],
  ["approve", approveCommand],
  ["ask-approval", askApprovalCommand],
  ["whoami", whoamiCommand],
  ["grants", grantsCommand],
  ["grant", grantCommand],
  ["ungrant", ungrantCommand],
  ["tokens", tokensCommand],
  ["token", tokenCommand],
  ["revoke-token", revokeTokenCommand],
  ["audit", auditCommand],
  ["cron", cronCommand],
  ["tick", tickCommand],
  ["schedule", scheduleCommand],
  ["schedules", schedulesCommand],
  ["unschedule", unscheduleCommand],
  ["segments", segmentsCommand],
  ["segment", segmentCommand],
  ["delete-segment", deleteSegmentCommand],
]);

interface ExperimentLine { variant: string; metric: string; compare: string; control: number | null; treatment: number | null; delta: number | null; interval: [number, number] | null; verdict: string }

/** An experiment's report: exposures per variant, then each treatment against the control, one line per metric. */
function printExperiment(json: Record<string, unknown>, io: CliIo): void {
  const variants = json["variants"] as Record<string, { exposures: number }>;
  const correction = json["correction"] as { comparisons: number; alphaEach: number };
  io.out(`${String(json["flag"])} rule ${String(json["rule"])} iteration ${String(json["iteration"])}${json["current"] ? "" : " (no longer served)"}, ${iso(Number(json["from"]))} → ${iso(Number(json["to"]))}`);
  io.out(`  exposures: ${Object.entries(variants).map(([v, m]) => `${v}${v === json["control"] ? " (control)" : ""} ${m.exposures}`).join(", ")}`);
  io.out(`  ${correction.comparisons} comparisons, each interval at α = ${correction.alphaEach.toPrecision(3)} (Bonferroni; always valid)`);
  const level = (x: number | null) => (x === null ? "n/a" : x.toPrecision(4));
  for (const c of json["comparisons"] as ExperimentLine[]) {
    const fmt = (x: number | null) => (x === null ? "n/a" : `${x >= 0 ? "+" : ""}${(x * 100).toFixed(2)}%`);
    const interval = c.interval ? ` [${fmt(c.interval[0])}, ${fmt(c.interval[1])}]` : "";
    io.out(`  ${c.variant.padEnd(12)} ${c.metric.padEnd(20)} control ${level(c.control)} ${c.variant} ${level(c.treatment)} delta ${fmt(c.delta)}${interval} → ${c.verdict}`);
  }
}

/** The report as the decision log words it: relative and absolute deltas in percent, levels to 4 significant digits. */
function printReport(json: Record<string, unknown>, io: CliIo): void {
  const arms = json["arms"] as Record<"baseline" | "candidate", { exposures: number }>;
  io.out(`${String(json["flag"])} generation ${String(json["generation"])}, ${iso(Number(json["from"]))} → ${iso(Number(json["to"]))}: exposures baseline ${arms.baseline.exposures}, candidate ${arms.candidate.exposures}`);
  const gates = json["gates"] as { metric: string; compare: string; delta: number | null; interval: [number, number] | null; verdict: string; baseline: number | null; candidate: number | null }[];
  const level = (x: number | null) => (x === null ? "n/a" : x.toPrecision(4));
  for (const g of gates) {
    const inPercent = g.compare === "relative" || g.compare === "absolute";
    const fmt = (x: number | null) => (x === null ? "n/a" : inPercent ? `${x >= 0 ? "+" : ""}${(x * 100).toFixed(2)}%` : x.toPrecision(4));
    const interval = g.interval ? ` [${fmt(g.interval[0])}, ${fmt(g.interval[1])}]` : "";
    io.out(`  ${g.metric.padEnd(24)} ${g.compare.padEnd(9)} baseline ${level(g.baseline)} candidate ${level(g.candidate)} delta ${fmt(g.delta)}${interval} → ${g.verdict}`);
  }
}
