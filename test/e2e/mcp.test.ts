/**
 * The MCP server at /mcp, driven by the official MCP TypeScript SDK client
 * over streamable HTTP against the worker on workerd: an agent holding a
 * prefix-scoped operator token lists the tools, reads a report, is refused
 * an action outside its grant (and nothing changes), performs one inside it,
 * and the audit names the token.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_PROPAGATION_MS, startLocalWorker, type LocalWorker } from "../../scripts/lib/local-worker";

let worker: LocalWorker;
const rollout = (approval = false) => ({ type: "string", variants: { baseline: "v1", candidate: "v2" }, rollout: { stages: [{ weight: 10, ...(approval ? { approval: "required" } : {}) }, { weight: 100 }] } });

beforeAll(async () => {
  worker = await startLocalWorker();
  expect((await worker.admin("PUT", "/admin/flags/agent-ranker", rollout(true))).status).toBe(201);
  expect((await worker.admin("PUT", "/admin/flags/agent-retriever", rollout())).status).toBe(201);
  expect((await worker.admin("PUT", "/admin/flags/billing-model", rollout())).status).toBe(201);
  await new Promise((r) => setTimeout(r, E2E_PROPAGATION_MS + 100));
}, 120_000);

afterAll(async () => {
  await worker?.dispose();
});

async function token(name: string, role: string, prefixes?: string[]): Promise<string> {
  const created = await worker.admin("POST", "/admin/tokens", { name, role, ...(prefixes ? { prefixes } : {}) });
  expect(created.status).toBe(201);
  return ((await created.json()) as { token: string }).token;
}

async function connect(secret: string): Promise<Client> {
  const client = new Client({ name: "rampart-test-agent", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${worker.baseUrl}/mcp`), { requestInit: { headers: { authorization: `Bearer ${secret}` } } }));
  return client;
}

const text = (result: unknown) => ((result as CallToolResult).content[0] as { text: string }).text;
const json = (result: unknown) => JSON.parse(text(result)) as Record<string, any>;
const statusOf = async (key: string) => ((await (await worker.admin("GET", `/admin/flags/${key}`)).json()) as { state: { status: string } }).state.status;

describe("the MCP server", () => {
  it("lets an agent read and act within its token's grant, refuses the rest, and audits it as the token", async () => {
    const agent = await connect(await token("rollout-agent", "operator", ["agent-*"]));
    // 1. The tools, read ones marked read-only.
    const { tools } = await agent.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(["list_flags", "get_flag", "compare_report", "experiment_report", "get_series", "list_decisions", "audit_log", "pause", "resume", "rollback", "kill", "request_approval"]));
    expect(tools.find((t) => t.name === "compare_report")?.annotations?.readOnlyHint).toBe(true);
    expect(tools.find((t) => t.name === "kill")?.annotations?.destructiveHint).toBe(true);
    expect(tools.find((t) => t.name === "pause")?.inputSchema.required).toEqual(expect.arrayContaining(["key", "reason"]));

    // 2. Reads: only the flags its prefix covers; a report; what a flag waits for.
    const listed = json(await agent.callTool({ name: "list_flags", arguments: {} }));
    expect(listed["flags"].map((f: { key: string }) => f.key).sort()).toEqual(["agent-ranker", "agent-retriever"]);
    const report = json(await agent.callTool({ name: "compare_report", arguments: { key: "agent-ranker" } }));
    expect(report).toMatchObject({ flag: "agent-ranker", generation: 1 });
    expect(Object.keys(report["arms"])).toEqual(expect.arrayContaining(["baseline", "candidate"]));
    const shown = json(await agent.callTool({ name: "get_flag", arguments: { key: "agent-ranker" } }));
    expect(shown["state"]).toMatchObject({ status: "ramping", stageIndex: 0 });
    expect(shown).toHaveProperty("judgement");

    // 3. Outside its grant: refused with the permission and the flag named, and nothing changed.
    const refused = (await agent.callTool({ name: "pause", arguments: { key: "billing-model", reason: "error rate looks high" } })) as CallToolResult;
    expect(refused.isError).toBe(true);
    expect(text(refused)).toContain('403 forbidden: this needs the "act" permission on flag "billing-model"; it was asked by token:rollout-agent (operator on agent-*)');
    expect(await statusOf("billing-model")).toBe("ramping");
    const unreadable = (await agent.callTool({ name: "compare_report", arguments: { key: "billing-model" } })) as CallToolResult;
    expect(unreadable.isError).toBe(true);
    expect(text(unreadable)).toContain('"read" permission on flag "billing-model"');

    // 4. Inside its grant: asks for the stage's approval, then pauses another flag; both audited as the token.
    const asked = json(await agent.callTool({ name: "request_approval", arguments: { key: "agent-ranker", note: "error rate flat for 2 h" } }));
    expect(asked["requested"]).toMatchObject({ actor: "token:rollout-agent", action: "approval:request", flag: "agent-ranker", summary: "approval asked for generation 1 stage 0: error rate flat for 2 h" });
    const paused = json(await agent.callTool({ name: "pause", arguments: { key: "agent-retriever", reason: "latency p99 up" } }));
    expect(paused["state"]).toMatchObject({ status: "paused" });
    expect(await statusOf("agent-retriever")).toBe("paused");
    const auditResult = await agent.callTool({ name: "audit_log", arguments: { flag: "agent-retriever", limit: 5 } });
    expect(text(auditResult)).toMatch(/^{/);
    const audit = json(auditResult);
    expect(audit["entries"][0]).toMatchObject({ actor: "token:rollout-agent", flag: "agent-retriever" });
    expect(audit["entries"][0].summary).toContain("latency p99 up");
    await agent.close();
  });

  it("refuses what the rollout does not allow, and input the tool does not take, naming it", async () => {
    const agent = await connect(await token("careful-agent", "operator", ["agent-*"]));
    // A rollout that needs no approval at its stage.
    const notAwaited = (await agent.callTool({ name: "request_approval", arguments: { key: "agent-retriever" } })) as CallToolResult;
    expect(notAwaited.isError).toBe(true);
    expect(text(notAwaited)).toMatch(/^409 not_awaiting_approval: /);
    // A rule the flag does not have: the report route's 404, naming the rule.
    const noRule = (await agent.callTool({ name: "experiment_report", arguments: { key: "agent-ranker", rule: "layout" } })) as CallToolResult;
    expect(noRule.isError).toBe(true);
    expect(text(noRule)).toMatch(/^404 .*layout/);
    // A key the API would never take: the SDK's schema check refuses it before any request.
    const badKey = (await agent.callTool({ name: "kill", arguments: { key: "agent ranker!", reason: "x" } })) as CallToolResult;
    expect(badKey.isError).toBe(true);
    expect(text(badKey)).toContain("key");
    // An action without its reason.
    const noReason = (await agent.callTool({ name: "rollback", arguments: { key: "agent-ranker" } })) as CallToolResult;
    expect(noReason.isError).toBe(true);
    expect(text(noReason)).toContain("reason");
    expect(await statusOf("agent-ranker")).toBe("ramping");
    await agent.close();
  });

  it("gives a viewer's token the reads and none of the actions", async () => {
    const viewer = await connect(await token("watch-agent", "viewer"));
    const listed = json(await viewer.callTool({ name: "list_flags", arguments: {} }));
    expect(listed["flags"].length).toBeGreaterThanOrEqual(3);
    const kill = (await viewer.callTool({ name: "kill", arguments: { key: "billing-model", reason: "testing" } })) as CallToolResult;
    expect(kill.isError).toBe(true);
    expect(text(kill)).toContain('needs the "act" permission on flag "billing-model"');
    expect(await statusOf("billing-model")).toBe("ramping");
    await viewer.close();
  });

  it("answers 401 without a valid token or with a revoked one, and 405 to the stream it does not offer", async () => {
    const initialize = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "curl", version: "0" } } };
    const post = (headers: Record<string, string>) => fetch(`${worker.baseUrl}/mcp`, { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers }, body: JSON.stringify(initialize) });
    const anonymous = await post({});
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toContain("Bearer");
    const forged = await post({ authorization: "Bearer rmp_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" });
    expect(forged.status).toBe(401);
    expect(((await forged.json()) as { message: string }).message).toBe("the token is not valid");
    // A revoked token stops working at once.
    const secret = await token("short-lived-agent", "operator", ["agent-*"]);
    expect((await post({ authorization: `Bearer ${secret}` })).status).toBe(200);
    const id = /^rmp_([0-9a-f]{12})_/.exec(secret)?.[1];
    expect((await worker.admin("DELETE", `/admin/tokens/${id}`)).status).toBe(200);
    const revoked = await post({ authorization: `Bearer ${secret}` });
    expect(revoked.status).toBe(401);
    expect(((await revoked.json()) as { message: string }).message).toBe("the token has been revoked");
    const stream = await fetch(`${worker.baseUrl}/mcp`, { headers: { authorization: `Bearer ${secret}`, accept: "text/event-stream" } });
    expect(stream.status).toBe(405);
    expect(stream.headers.get("allow")).toBe("POST");
  });
});
