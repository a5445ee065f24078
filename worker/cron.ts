/**
 * The scheduled handler: `scheduledTime` is "now" for the whole tick. The
 * RegistryDO fans the judgement out to every active flag in bounded batches
 * (see RegistryDO.tick), so the cron itself makes one subrequest.
 */
import { registryStub } from "../durable-objects/registry/stub";

export async function runScheduled(controller: ScheduledController, env: Env): Promise<void> {
  const result = await registryStub(env).tick(controller.scheduledTime);
  if (result.changed > 0 || result.failed > 0) {
    console.log(`cron: judged ${result.evaluated} flags, ${result.changed} changed, ${result.failed} failed, ${result.remaining} left for the next batch`);
  }
}
