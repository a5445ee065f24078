/**
 * The Model Context Protocol server (spec 2025-06-18 and later, streamable
 * HTTP): Rampart's tools (`tools.ts`) on the official TypeScript SDK. It is
 * stateless: each HTTP request gets its own server and transport, answers
 * in JSON and keeps nothing (Workers share no memory between requests).
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
// The SDK's default validator compiles schemas with `new Function`, which Workers forbid.
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/cfworker";
import { RAMPART_VERSION } from "../version";
import { TOOLS, type AdminCall, type ToolOutcome } from "./tools";

/** A tool outcome as MCP shows it: the answer as JSON text, or the refusal as an error result naming status, code and message. */
export function toolResult(outcome: ToolOutcome): CallToolResult {
  if (outcome.kind === "answer") return { content: [{ type: "text", text: JSON.stringify(outcome.body, null, 2) }] };
  const body = (outcome.body ?? {}) as { error?: string; message?: string; issues?: { path: string; message: string }[] };
  const issues = (body.issues ?? []).filter((i) => i.path !== "permission").map((i) => `${i.path || "(body)"}: ${i.message}`);
  const text = `${outcome.status} ${body.error ?? "error"}: ${body.message ?? "the request was refused"}${issues.length > 0 ? ` (${issues.join("; ")})` : ""}`;
  return { isError: true, content: [{ type: "text", text }], _meta: { status: outcome.status, ...(body.error ? { code: body.error } : {}) } };
}

export function mcpServer(admin: AdminCall): McpServer {
  const server = new McpServer(
    { name: "rampart", title: "Rampart", version: RAMPART_VERSION },
    {
      jsonSchemaValidator: new CfWorkerJsonSchemaValidator(),
      instructions:
        "Rampart runs gated progressive rollouts. Read with list_flags, get_flag (what a rollout waits for), compare_report, experiment_report, get_series, list_decisions and audit_log. " +
        "Act with pause, resume, rollback, kill and request_approval: each needs your token's grant on the flag, says why in `reason`, and is audited under your token's name.",
    },
  );
  for (const tool of TOOLS) {
    const run = tool.run as (input: unknown, admin: AdminCall) => Promise<ToolOutcome>;
    server.registerTool(tool.name, { title: tool.title, description: tool.description, inputSchema: tool.input, annotations: tool.annotations }, async (input: unknown) => toolResult(await run(input, admin)));
  }
  return server;
}
