/** The FlagDO of a flag key. */
import type { FlagDO } from "./flag";

export function flagStub(env: Env, key: string): DurableObjectStub<FlagDO> {
  return env.FLAGS.get(env.FLAGS.idFromName(key));
}
