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
import type { EvaluationFailure } from "../core/evaluation-outcome";
import type { TextPosition } from "../core/text-position";

export class AppError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly issues?: readonly Issue[],
    readonly headers?: Readonly<Record<string, string>>,
    /** Where a body's parser stopped (parse errors): rendered as `offset`, `line` and `column` beside the message. */
    readonly position?: TextPosition,
  ) {
    super(message);
    this.name = "AppError";
  }
}

/** An evaluation failure on the admin-style routes (events, routing): only "not ready" reaches them, as 503 with Retry-After. */
export function evaluationUnavailable(failure: EvaluationFailure): AppError {
  return new AppError(503, "unavailable", failure.message, undefined, { "Retry-After": "1" });
}

export function invalidInput(message: string, issues: readonly Issue[]): AppError {
  return new AppError(400, "invalid_request", message, issues);
}

/** A body that could not be read as what it claims to be, at `position`: 400 with the position in the error body. */
export function unreadableBody(code: string, message: string, position?: TextPosition): AppError {
  return new AppError(400, code, position ? `${message} (line ${position.line}, column ${position.column}, byte ${position.offset})` : message, undefined, undefined, position);
}

export function errorBody(code: string, message: string, issues?: readonly Issue[], position?: TextPosition) {
  const body = position ? { error: code, message, offset: position.offset, line: position.line, column: position.column } : { error: code, message };
  return issues && issues.length > 0 ? { ...body, issues } : body;
}

/** What any thrown value answers: the contract's error body, its status and extra header fields. */
function errorAnswer(err: unknown): { body: ReturnType<typeof errorBody>; status: ContentfulStatusCode; headers?: Readonly<Record<string, string>> } {
  if (err instanceof AppError) return { body: errorBody(err.code, err.message, err.issues, err.position), status: err.status, headers: err.headers };
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
