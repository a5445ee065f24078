/**
 * Rampart as a Worker binding: other Workers on the account evaluate flags
 * through a service binding, with no HTTP hop. The methods mirror Cloudflare
 * Flagship's binding (same names, argument order and detail shape), so a
 * Worker can swap one for the other:
 *
 *   [[services]]
 *   binding = "FLAGS"
 *   service = "rampart"
 *   entrypoint = "RampartFlags"
 *
 *   await env.FLAGS.getBooleanValue("new-checkout", false, { targetingKey: "user-42" })
 *
 * Like Flagship's, evaluation never throws: errors return the default, and
 * the *Details methods say why. Reasons are OpenFeature's (SPLIT, STATIC,
 * DEFAULT, DISABLED); error codes FLAG_NOT_FOUND, TYPE_MISMATCH, GENERAL,
 * TARGETING_KEY_MISSING, INVALID_CONTEXT. Exposures count as for OFREP.
 * Rampart buckets by `targetingKey` (or the flag's stickiness attribute),
 * where Flagship examples pass `userId`.
 */
import { WorkerEntrypoint } from "cloudflare:workers";
import type { EvaluationContext } from "../core/assign";
import { dictFrom } from "../core/dict";
import type { BindingContext, EvaluationDetails } from "../core/flag-details";
import { isolateServices } from "./context";
import { OPENFEATURE_ERROR_CODE } from "../core/evaluation-outcome";
import { evaluateFlag } from "./evaluate";


type Kind = "boolean" | "string" | "number" | "object" | "any";

const isKind = (value: unknown, kind: Kind) =>
  kind === "any" || (kind === "object" ? value !== null && typeof value === "object" && !Array.isArray(value) : typeof value === kind);

export class RampartFlags extends WorkerEntrypoint<Env> {
  /** The evaluation behind every method: never throws, falls back to `defaultValue`. */
  private async details<T>(flagKey: string, defaultValue: T, context: BindingContext | undefined, kind: Kind): Promise<EvaluationDetails<T>> {
    try {
      // The context arrives by structured clone: copied into a prototype-free dictionary, as every context is.
      const ctx: EvaluationContext = dictFrom(Object.entries(context ?? {}).filter(([, value]) => typeof value === "string" || typeof value === "number" || typeof value === "boolean"));
      const evaluation = await evaluateFlag(isolateServices, this.env, (work) => this.ctx.waitUntil(work), flagKey, ctx);
      if (!evaluation.ok) return { flagKey, value: defaultValue, reason: "ERROR", errorCode: OPENFEATURE_ERROR_CODE[evaluation.kind], errorMessage: evaluation.message };
      const { served } = evaluation;
      // flagd's code default: the caller's default, with flagd's reason (DISABLED, DEFAULT).
      if (served.codeDefault) return { flagKey, value: defaultValue, reason: served.reason };
      if (!isKind(served.value, kind)) {
        return { flagKey, value: defaultValue, reason: "ERROR", errorCode: "TYPE_MISMATCH", errorMessage: `flag "${flagKey}" is not a ${kind}` };
      }
      return { flagKey, value: served.value as T, variant: served.variant, reason: served.reason };
    } catch (error) {
      return { flagKey, value: defaultValue, reason: "ERROR", errorCode: "GENERAL", errorMessage: error instanceof Error ? error.message : String(error) };
    }
  }

  async get(flagKey: string, defaultValue?: unknown, context?: BindingContext): Promise<unknown> {
    return (await this.details(flagKey, defaultValue, context, "any")).value;
  }
  async getBooleanValue(flagKey: string, defaultValue: boolean, context?: BindingContext): Promise<boolean> {
    return (await this.details(flagKey, defaultValue, context, "boolean")).value;
  }
  async getStringValue(flagKey: string, defaultValue: string, context?: BindingContext): Promise<string> {
    return (await this.details(flagKey, defaultValue, context, "string")).value;
  }
  async getNumberValue(flagKey: string, defaultValue: number, context?: BindingContext): Promise<number> {
    return (await this.details(flagKey, defaultValue, context, "number")).value;
  }
  async getObjectValue<T extends object>(flagKey: string, defaultValue: T, context?: BindingContext): Promise<T> {
    return (await this.details(flagKey, defaultValue, context, "object")).value;
  }
  async getBooleanDetails(flagKey: string, defaultValue: boolean, context?: BindingContext): Promise<EvaluationDetails<boolean>> {
    return this.details(flagKey, defaultValue, context, "boolean");
  }
  async getStringDetails(flagKey: string, defaultValue: string, context?: BindingContext): Promise<EvaluationDetails<string>> {
    return this.details(flagKey, defaultValue, context, "string");
  }
  async getNumberDetails(flagKey: string, defaultValue: number, context?: BindingContext): Promise<EvaluationDetails<number>> {
    return this.details(flagKey, defaultValue, context, "number");
  }
  async getObjectDetails<T extends object>(flagKey: string, defaultValue: T, context?: BindingContext): Promise<EvaluationDetails<T>> {
    return this.details(flagKey, defaultValue, context, "object");
  }
}
