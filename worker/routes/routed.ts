/**
 * What answers a request none of Rampart's own routes claims: a flag's
 * `route` (proxied), else the dashboard for a browser at the base URL, else
 * 404. The app's catch-all route and the Worker's fast path for routed
 * requests (`worker/index.ts`, which skips the router) both call it, so a
 * routed request is answered alike either way.
 */
import { NOT_READY } from "../../core/evaluation-outcome";
import { AppError, errorResponse, evaluationUnavailable } from "../errors";
import type { Services } from "../context";
import type { RequestTarget } from "../request-url";
import type { Schedule } from "../snapshot";
import { proxy } from "./proxy";

export async function answerUnclaimed(services: Services, request: Request, target: RequestTarget, env: Env, schedule: Schedule): Promise<Response> {
  const served = services.snapshots(env).serve(schedule);
  const snapshot = served instanceof Promise ? await served : served;
  // A browser pointed at the base URL (when no flag routes it) wants the dashboard, not a JSON error.
  const dashboard = request.method === "GET" && target.pathname === "/";
  const toDashboard = () => new Response(null, { status: 302, headers: { location: "/dashboard" } });
  if (snapshot === null) {
    if (dashboard) return toDashboard();
    // Without any snapshot no route is known: answer at once, never hang.
    return errorResponse(evaluationUnavailable(NOT_READY));
  }
  const proxied = await proxy(request, target, env, schedule, services, snapshot);
  if (proxied) return proxied;
  if (dashboard) return toDashboard();
  return errorResponse(new AppError(404, "not_found", `no route for ${request.method} ${target.pathname}`));
}
