/**
 * One vocabulary for why an evaluation served no value, as LaunchDarkly's
 * `ErrorKinds` and flagd-core's resolve ladder keep one: an evaluation
 * returns a kind and a message; each protocol renders it once — OFREP as
 * a status and OpenFeature error code (`worker/routes/ofrep.ts`), the
 * binding as an OpenFeature resolution (`worker/binding.ts`), events and
 * routing as the admin API's `unavailable` (`worker/errors.ts`).
 */

/** `targeting_error`: a flagd definition's targeting failed or chose a variant the flag lacks (flagd answers GENERAL). */
export const EVALUATION_FAILURE_KINDS = ["not_ready", "not_found", "targeting_key_missing", "invalid_context", "targeting_error"] as const;
export type EvaluationFailureKind = (typeof EVALUATION_FAILURE_KINDS)[number];

export interface EvaluationFailure {
  readonly ok: false;
  readonly kind: EvaluationFailureKind;
  readonly message: string;
}

/** The error codes of the OpenFeature specification (Appendix "Error codes") that OFREP and the binding answer. */
export type OpenFeatureErrorCode = "PARSE_ERROR" | "TARGETING_KEY_MISSING" | "INVALID_CONTEXT" | "GENERAL" | "FLAG_NOT_FOUND" | "TYPE_MISMATCH";

/** Each kind's OpenFeature error code: not ready is GENERAL (a provider that is ready but has no configuration yet). */
export const OPENFEATURE_ERROR_CODE: Readonly<Record<EvaluationFailureKind, OpenFeatureErrorCode>> = {
  not_ready: "GENERAL",
  not_found: "FLAG_NOT_FOUND",
  targeting_key_missing: "TARGETING_KEY_MISSING",
  invalid_context: "INVALID_CONTEXT",
  targeting_error: "GENERAL",
};

export function evaluationFailure(kind: EvaluationFailureKind, message: string): EvaluationFailure {
  return { ok: false, kind, message };
}

/** The isolate has no configuration yet (it never loaded a snapshot): the caller uses its default and retries. */
export const NOT_READY: EvaluationFailure = evaluationFailure("not_ready", "flag configuration is not available yet; use your default and retry");
