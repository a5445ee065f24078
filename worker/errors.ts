/**
 * One error type and one mapping to the contract's error shape:
 * `{"error": code, "message": ..., "issues"?: [{path, message}]}`. Never a
 * stack trace, never a raw zod result.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ZodError } from "zod";
import { toIssues, type Issue } from "../core/issues";

export class AppError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly issues?: readonly Issue[],
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
    this.name = "AppError";
  }
}

export function invalidInput(message: string, issues: readonly Issue[]): AppError {
  return new AppError(400, "invalid_request", message, issues);
}

export function errorBody(code: string, message: string, issues?: readonly Issue[]) {
  return issues && issues.length > 0 ? { error: code, message, issues } : { error: code, message };
}

/** What any thrown value answers: the contract's error body, its status and extra header fields. */
function errorAnswer(err: unknown): { body: ReturnType<typeof errorBody>; status: ContentfulStatusCode; headers?: Readonly<Record<string, string>> } {
  if (err instanceof AppError) return { body: errorBody(err.code, err.message, err.issues), status: err.status, headers: err.headers };
  if (err instanceof ZodError) return { body: errorBody("invalid_request", "the request is not valid", toIssues(err.issues)), status: 400 };
  if (err instanceof HTTPException) return { body: errorBody("http_error", err.message || "request failed"), status: err.status };
  console.error("unhandled error", err);
  return { body: errorBody("internal", "internal error; nothing was changed unless the response said so"), status: 500 };
}

/** Maps any thrown value to a JSON error response (the app's `onError`). */
export function handleError(err: unknown, c: Context): Response {
  const { body, status, headers } = errorAnswer(err);
  return c.json(body, status, headers);
}

/** The same answer for a request served without the router (the Worker's fast paths). */
export function errorResponse(err: unknown): Response {
  const { body, status, headers } = errorAnswer(err);
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}
