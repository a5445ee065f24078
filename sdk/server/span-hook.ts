/**
 * An OpenFeature hook that records each evaluation on the active
 * OpenTelemetry span, as a `feature_flag.evaluation` span event with the
 * semantic conventions' attributes (`feature_flag.key`,
 * `feature_flag.result.variant`, `feature_flag.context.id`,
 * `feature_flag.provider.name`) and Rampart's assignment token as
 * `rampart.assignment`. Exported through OTLP to Rampart (`/v1/traces`),
 * that span's duration, status and events become the flag's outcomes,
 * credited to the exposure: latency and errors with no code of the team's.
 *
 *   OpenFeature.addHooks(new RampartSpanHook());
 */
import { trace } from "@opentelemetry/api";
import type { EvaluationDetails, FlagValue, Hook, HookContext } from "@openfeature/server-sdk";

export class RampartSpanHook implements Hook {
  finally(hookContext: Readonly<HookContext>, details: EvaluationDetails<FlagValue>): void {
    const span = trace.getActiveSpan();
    if (!span) return;
    const targetingKey = hookContext.context.targetingKey;
    const assignment = details.flagMetadata["assignment"];
    span.addEvent("feature_flag.evaluation", {
      "feature_flag.key": hookContext.flagKey,
      "feature_flag.provider.name": hookContext.providerMetadata.name,
      ...(details.variant !== undefined ? { "feature_flag.result.variant": details.variant } : {}),
      ...(typeof targetingKey === "string" ? { "feature_flag.context.id": targetingKey } : {}),
      ...(typeof assignment === "string" ? { "rampart.assignment": assignment } : {}),
    });
  }
}
