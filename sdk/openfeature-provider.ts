/**
 * An OpenFeature server provider for Workers over Rampart's service binding
 * (`RampartFlags`, `worker/binding.ts`): another Worker uses the OpenFeature
 * server SDK and evaluates with no HTTP hop.
 *
 *   OpenFeature.setProvider(new RampartBindingProvider(env.FLAGS));
 *   const on = await OpenFeature.getClient().getBooleanValue("new-checkout", false, { targetingKey: userId });
 *
 * The binding never throws; its details become OpenFeature resolution
 * details (the error codes are OpenFeature's already).
 */
import { ErrorCode, type EvaluationContext, type JsonValue, type Provider, type ResolutionDetails } from "@openfeature/server-sdk";

/** The binding's detail shape (Flagship's). */
export interface BindingDetails<T> {
  flagKey: string;
  value: T;
  variant?: string;
  reason?: string;
  errorCode?: string;
  errorMessage?: string;
}

/** What the provider needs of the binding: the `get*Details` methods of `RampartFlags`. */
export interface RampartFlagsBinding {
  getBooleanDetails(flagKey: string, defaultValue: boolean, context?: Record<string, string | number | boolean>): Promise<BindingDetails<boolean>>;
  getStringDetails(flagKey: string, defaultValue: string, context?: Record<string, string | number | boolean>): Promise<BindingDetails<string>>;
  getNumberDetails(flagKey: string, defaultValue: number, context?: Record<string, string | number | boolean>): Promise<BindingDetails<number>>;
  getObjectDetails<T extends object>(flagKey: string, defaultValue: T, context?: Record<string, string | number | boolean>): Promise<BindingDetails<T>>;
}

const ERROR_CODES = new Set<string>(Object.values(ErrorCode));

/** OpenFeature contexts may nest; the binding takes flat scalar attributes, as Rampart's targeting does. */
function flatContext(context: EvaluationContext): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [name, value] of Object.entries(context)) {
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") out[name] = value;
  }
  return out;
}

function resolution<T>(details: BindingDetails<T>): ResolutionDetails<T> {
  const errorCode = details.errorCode === undefined ? undefined : ERROR_CODES.has(details.errorCode) ? (details.errorCode as ErrorCode) : ErrorCode.GENERAL;
  return {
    value: details.value,
    ...(details.variant !== undefined ? { variant: details.variant } : {}),
    ...(details.reason !== undefined ? { reason: details.reason } : {}),
    ...(errorCode !== undefined ? { errorCode, errorMessage: details.errorMessage ?? errorCode } : {}),
  };
}

export class RampartBindingProvider implements Provider {
  readonly metadata = { name: "rampart-binding" } as const;
  readonly runsOn = "server" as const;

  constructor(private readonly flags: RampartFlagsBinding) {}

  async resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext): Promise<ResolutionDetails<boolean>> {
    return resolution(await this.flags.getBooleanDetails(flagKey, defaultValue, flatContext(context)));
  }
  async resolveStringEvaluation(flagKey: string, defaultValue: string, context: EvaluationContext): Promise<ResolutionDetails<string>> {
    return resolution(await this.flags.getStringDetails(flagKey, defaultValue, flatContext(context)));
  }
  async resolveNumberEvaluation(flagKey: string, defaultValue: number, context: EvaluationContext): Promise<ResolutionDetails<number>> {
    return resolution(await this.flags.getNumberDetails(flagKey, defaultValue, flatContext(context)));
  }
  async resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T, context: EvaluationContext): Promise<ResolutionDetails<T>> {
    const details = await this.flags.getObjectDetails(flagKey, defaultValue as T & object, flatContext(context));
    return resolution(details);
  }
}
