/**
 * The Worker binding's shapes, shared by the binding (`worker/binding.ts`)
 * and the OpenFeature provider over it (`sdk/openfeature-provider.ts`).
 * They are Cloudflare Flagship's, so a Worker can swap one for the other.
 */

/** Flagship's FlagshipEvaluationContext: flat attributes. */
export type BindingContext = Record<string, string | number | boolean>;

/** Flagship's FlagshipEvaluationDetails. */
export interface EvaluationDetails<T> {
  flagKey: string;
  value: T;
  variant?: string;
  reason?: string;
  errorCode?: string;
  errorMessage?: string;
}
