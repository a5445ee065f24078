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

/** Maps any thrown value to a JSON error response (the app's `onError`). */
export function handleError(err: unknown, c: Context): Response {
  if (err instanceof AppError) {
    return c.json(errorBody(err.code, err.message, err.issues), err.status, err.headers);
  }
  if (err instanceof ZodError) {
    return c.json(errorBody("invalid_request", "the request is not valid", toIssues(err.issues)), 400);
  }
  if (err instanceof HTTPException) {
    return c.json(errorBody("http_error", err.message || "request failed"), err.status);
  }
  console.error("unhandled error", err);
  return c.json(errorBody("internal", "internal error; nothing was changed unless the response said so"), 500);
}
