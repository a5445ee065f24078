/**
 * An OFREP answer (one flag of a single or bulk evaluation) as OpenFeature
 * resolution details, for both providers: the error codes are OpenFeature's
 * already; OFREP's value-less success keeps the caller's default with the
 * reason; a value of another type than asked is TYPE_MISMATCH. No SDK
 * import: the server and web SDKs share these shapes.
 */

export interface OfrepAnswer {
  key?: string;
  value?: unknown;
  variant?: string;
  reason?: string;
  metadata?: Record<string, string | number | boolean>;
  errorCode?: string;
  errorDetails?: string;
}

export type ValueType = "boolean" | "string" | "number" | "object";

export interface Resolution<T> {
  value: T;
  variant?: string;
  reason?: string;
  errorCode?: string;
  errorMessage?: string;
  flagMetadata: Record<string, string | number | boolean>;
}

const ERROR_CODES = new Set(["PROVIDER_NOT_READY", "FLAG_NOT_FOUND", "PARSE_ERROR", "TYPE_MISMATCH", "TARGETING_KEY_MISSING", "INVALID_CONTEXT", "PROVIDER_FATAL", "GENERAL"]);

/** The resolution of `answer`; `served` is told of a served value (the providers remember its assignment). */
export function resolutionOf<T>(flagKey: string, answer: OfrepAnswer, defaultValue: T, type: ValueType, served: (metadata: Record<string, string | number | boolean>) => void): Resolution<T> {
  const flagMetadata = answer.metadata ?? {};
  if (answer.errorCode !== undefined) {
    const errorCode = ERROR_CODES.has(answer.errorCode) ? answer.errorCode : "GENERAL";
    return { value: defaultValue, reason: "ERROR", errorCode, errorMessage: answer.errorDetails ?? errorCode, flagMetadata };
  }
  // OFREP's value-less success: the caller's default, with the reason (a disabled flagd definition).
  if (!("value" in answer)) return { value: defaultValue, ...(answer.reason ? { reason: answer.reason } : {}), flagMetadata };
  const value = answer.value;
  const actual = value === null || Array.isArray(value) ? "object" : typeof value;
  if (actual !== type) return { value: defaultValue, reason: "ERROR", errorCode: "TYPE_MISMATCH", errorMessage: `flag "${flagKey}" is ${actual}, asked as ${type}`, flagMetadata };
  served(flagMetadata);
  return { value: value as T, ...(answer.variant !== undefined ? { variant: answer.variant } : {}), ...(answer.reason ? { reason: answer.reason } : {}), flagMetadata };
}
