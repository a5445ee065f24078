/**
 * The CLI's team-access commands: who am I, grants, API tokens, and asking
 * for a stage's approval. Each is one admin request; the API checks the
 * permission and names what is wrong.
 */
import { CliError, iso, type CliContext } from "./cli";

const prefixesOf = (text: string | undefined) => (text === undefined ? undefined : text.split(",").map((p) => p.trim()).filter(Boolean));

function kindOf(value: string): "user" | "group" {
  if (value !== "user" && value !== "group") throw new CliError(`the first argument is user or group, not "${value}"`, "usage");
  return value;
}

/** `whoami`: the identity, its permissions everywhere and on prefixes. */
export async function whoamiCommand(ctx: CliContext): Promise<number> {
  const { io, request, show } = ctx;
  const json = await request("GET", "/admin/whoami");
  const identity = json["identity"] as { kind: string; subject: string; groups: string[] };
  const prefixed = (json["prefixed"] ?? []) as { prefixes: string[]; permissions: string[] }[];
  show(json, () => {
    io.out(`${identity.subject} (${identity.kind}${identity.groups.length > 0 ? `; groups ${identity.groups.join(", ")}` : ""}), audited as ${String(json["actor"])}`);
    io.out(`  on every flag: ${(json["permissions"] as string[]).join(", ") || "nothing"}`);
    for (const g of prefixed) io.out(`  on ${g.prefixes.join(", ")}: ${g.permissions.join(", ")}`);
  });
  return 0;
}

/** `grants`: every grant. */
export async function grantsCommand(ctx: CliContext): Promise<number> {
  const { io, request, show } = ctx;
  const json = await request("GET", "/admin/grants");
  const grants = json["grants"] as { kind: string; subject: string; role: string; prefixes?: string[]; createdBy: string; createdAt: number }[];
  show(json, () => {
    if (grants.length === 0) io.out("no grants (only the bootstrap tokens can act)");
    for (const g of grants) io.out(`${g.kind.padEnd(5)} ${g.subject.padEnd(28)} ${g.role.padEnd(8)} ${g.prefixes ? g.prefixes.join(", ") : "every flag"}  (by ${g.createdBy}, ${iso(g.createdAt)})`);
  });
  return 0;
}

/** `grant user|group SUBJECT ROLE [--prefix P,…]`. */
export async function grantCommand(ctx: CliContext): Promise<number> {
  const { io, opts, args, request, show, need } = ctx;
  const kind = kindOf(need("user or group", args[0]));
  const subject = need("subject", args[1]);
  const role = need("role (viewer, operator, approver or admin)", args[2]);
  const prefixes = prefixesOf(opts.prefix);
  const json = await request("PUT", `/admin/grants/${kind}/${encodeURIComponent(subject)}`, JSON.stringify({ role, ...(prefixes ? { prefixes } : {}) }));
  show(json, () => io.out(`${kind} ${subject}: ${role} on ${prefixes ? prefixes.join(", ") : "every flag"}${json["created"] ? "" : " (replaced the grant before)"}`));
  return 0;
}

/** `ungrant user|group SUBJECT`. */
export async function ungrantCommand(ctx: CliContext): Promise<number> {
  const { io, args, request, show, need } = ctx;
  const kind = kindOf(need("user or group", args[0]));
  const subject = need("subject", args[1]);
  const json = await request("DELETE", `/admin/grants/${kind}/${encodeURIComponent(subject)}`);
  show(json, () => io.out(`${kind} ${subject}: grant removed`));
  return 0;
}

/** `tokens`: API tokens without their secrets. */
export async function tokensCommand(ctx: CliContext): Promise<number> {
  const { io, request, show } = ctx;
  const json = await request("GET", "/admin/tokens");
  const tokens = json["tokens"] as { id: string; name: string; role: string; prefixes?: string[]; expiresAt?: number; lastUsedAt: number | null; revokedAt: number | null }[];
  show(json, () => {
    if (tokens.length === 0) io.out("no API tokens");
    for (const t of tokens) {
      const state = t.revokedAt !== null ? `revoked ${iso(t.revokedAt)}` : t.expiresAt !== undefined ? `until ${iso(t.expiresAt)}` : "until revoked";
      io.out(`${t.id} ${t.name.padEnd(24)} ${t.role.padEnd(8)} ${t.prefixes ? t.prefixes.join(", ") : "every flag"}; ${state}; last used ${t.lastUsedAt !== null ? iso(t.lastUsedAt) : "never"}`);
    }
  });
  return 0;
}

/** `token NAME --role ROLE [--prefix P,…] [--expires T]`: the secret is printed once. */
export async function tokenCommand(ctx: CliContext): Promise<number> {
  const { io, opts, args, request, show, need } = ctx;
  const name = need("name", args[0]);
  const role = need("role (--role viewer|operator|approver|admin)", opts.role);
  const prefixes = prefixesOf(opts.prefix);
  let expiresAt: number | undefined;
  if (opts.expires !== undefined) {
    expiresAt = /^\d+$/.test(opts.expires) ? Number(opts.expires) : Date.parse(opts.expires);
    if (Number.isNaN(expiresAt)) throw new CliError(`--expires takes ISO 8601 with a zone or milliseconds, not "${opts.expires}"`, "usage");
  }
  const json = await request("POST", "/admin/tokens", JSON.stringify({ name, role, ...(prefixes ? { prefixes } : {}), ...(expiresAt !== undefined ? { expiresAt } : {}) }));
  show(json, () => {
    io.out(String(json["token"]));
    io.err(`token ${name} (${String(json["id"])}): ${role} on ${prefixes ? prefixes.join(", ") : "every flag"}${expiresAt !== undefined ? ` until ${iso(expiresAt)}` : ""}. The secret above is shown once: store it now (revoke with: revoke-token ${String(json["id"])})`);
  });
  return 0;
}

/** `revoke-token ID`. */
export async function revokeTokenCommand(ctx: CliContext): Promise<number> {
  const { io, args, request, show, need } = ctx;
  const id = need("id", args[0]);
  const json = await request("DELETE", `/admin/tokens/${encodeURIComponent(id)}`);
  show(json, () => io.out(`token ${String(json["name"])} (${id}) revoked`));
  return 0;
}

/** `ask-approval KEY [--note TEXT]`: ask people to approve the stage the flag waits in now. */
export async function askApprovalCommand(ctx: CliContext): Promise<number> {
  const { io, opts, args, request, show, need } = ctx;
  const key = need("key", args[0]);
  const state = (await request("GET", `/admin/flags/${key}`))["state"] as { generation: number; stageIndex: number };
  const json = await request("POST", `/admin/flags/${key}/approval-requests`, JSON.stringify({ generation: state.generation, stage: state.stageIndex, ...(opts.note ? { note: opts.note } : {}) }));
  show(json, () => io.out(`${key}: approval of stage ${state.stageIndex} (generation ${state.generation}) asked for; the webhooks and the audit log say so`));
  return 0;
}
