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
import type { BindingContext, EvaluationDetails } from "../core/flag-details";


/** What the provider needs of the binding: the `get*Details` methods of `RampartFlags`. */
export interface RampartFlagsBinding {
  getBooleanDetails(flagKey: string, defaultValue: boolean, context?: BindingContext): Promise<EvaluationDetails<boolean>>;
  getStringDetails(flagKey: string, defaultValue: string, context?: BindingContext): Promise<EvaluationDetails<string>>;
  getNumberDetails(flagKey: string, defaultValue: number, context?: BindingContext): Promise<EvaluationDetails<number>>;
  getObjectDetails<T extends object>(flagKey: string, defaultValue: T, context?: BindingContext): Promise<EvaluationDetails<T>>;
}

const ERROR_CODES = new Set<string>(Object.values(ErrorCode));

/** OpenFeature contexts may nest; the binding takes flat scalar attributes, as Rampart's targeting does. */
function flatContext(context: EvaluationContext): BindingContext {
  const out: BindingContext = {};
  for (const [name, value] of Object.entries(context)) {
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") out[name] = value;
  }
  return out;
}

function resolution<T>(details: EvaluationDetails<T>): ResolutionDetails<T> {
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
