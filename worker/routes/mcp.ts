/**
 * `/mcp`: the Model Context Protocol endpoint (streamable HTTP, JSON
 * answers). The caller signs in as on the admin API (an API token, Access
 * or OIDC, or a bootstrap token) and must hold some grant; each tool then
 * makes its admin request with the same credentials, so every read and
 * action is checked, validated and audited by the route that owns it.
 */
import { Hono, type ExecutionContext as HonoExecutionContext } from "hono";
import { forbidden, identify } from "../auth";
import { readJson } from "../body";
import type { AppEnv } from "../context";
import type { AdminCall } from "../mcp/tools";

/** An MCP request body at most: JSON-RPC messages are small. */
const MCP_BODY_LIMIT = 262_144;

/** The request fields an admin call carries over from the MCP request: who is asking. */
const CREDENTIAL_HEADERS = ["authorization", "cf-access-jwt-assertion", "x-rampart-actor"] as const;

/** Sends a request through the whole app, as the worker would answer it. */
export type Dispatch = (request: Request, env: Env, ctx: HonoExecutionContext) => Response | Promise<Response>;

export function mcpRoutes(dispatch: Dispatch) {
  const app = new Hono<AppEnv>();

  app.post("/", async (c) => {
    // 1. Who is asking, and whether any grant lets them read: an agent with none has nothing to do here.
    const caller = await identify(c.env, c.req.raw.headers);
    if (!caller.permissionsAnywhere().has("read")) throw forbidden(caller, "read", null);
    // 2. The JSON-RPC message(s), bounded.
    const message = await readJson(c.req.raw, MCP_BODY_LIMIT);
    // 3. Tools call the admin API as this caller.
    const origin = new URL(c.req.url).origin;
    const admin: AdminCall = async (method, path, body) => {
      const headers = new Headers({ accept: "application/json" });
      for (const name of CREDENTIAL_HEADERS) {
        const value = c.req.header(name);
        if (value !== undefined) headers.set(name, value);
      }
      if (body !== undefined) headers.set("content-type", "application/json");
      const response = await dispatch(new Request(`${origin}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) }), c.env, c.executionCtx);
      const text = await response.text();
      return { status: response.status, body: text === "" ? null : (JSON.parse(text) as unknown) };
    };
    // 4. A server and a transport for this request alone (stateless), answering in JSON. The SDK is
    // loaded on the first MCP request: the bundle inlines it, but its modules run only then, so an
    // isolate that only evaluates flags never pays for them at start.
    const [{ mcpServer }, { WebStandardStreamableHTTPServerTransport }] = await Promise.all([import("../mcp/server"), import("@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js")]);
    const server = mcpServer(admin);
    const transport = new WebStandardStreamableHTTPServerTransport({ enableJsonResponse: true });
    await server.connect(transport);
    try {
      return await transport.handleRequest(c.req.raw, { parsedBody: message });
    } finally {
      await server.close();
    }
  });

  // No server-initiated stream and no sessions: a stateless server answers 405 to both (MCP, Transports §2.2.3).
  app.on(["GET", "DELETE"], "/", (c) => c.json({ error: "method_not_allowed", message: "this MCP server is stateless: POST JSON-RPC messages to /mcp" }, 405, { allow: "POST" }));
  return app;
}
