/**
 * The scheduled handler. `scheduledTime` is "now" for everything it does.
 * Today it reconciles state reports the RegistryDO may have missed, a
 * bounded batch per tick; gate evaluation joins it in a later change.
 */
import { registryStub } from "../durable-objects/registry-stub";

export async function runScheduled(controller: ScheduledController, env: Env): Promise<void> {
  const result = await registryStub(env).reconcile(controller.scheduledTime);
  if (result.updated > 0) console.log(`cron: reconciled ${result.updated} of ${result.checked} flags`);
}
