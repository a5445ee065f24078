/** The FlagDO of a flag key, and its counter shards. */
import type { FlagDO } from "./flag-do";

export function flagStub(env: Env, key: string): DurableObjectStub<FlagDO> {
  return env.FLAGS.get(env.FLAGS.idFromName(key));
}

/**
 * Counter shard `shard` of a flag: shard 0 is the flag's own object; others
 * are FlagDOs that only hold counters. "#" cannot occur in a flag key, so
 * shard names never collide with flags.
 */
export function counterShardStub(env: Env, key: string, shard: number): DurableObjectStub<FlagDO> {
  return shard === 0 ? flagStub(env, key) : env.FLAGS.get(env.FLAGS.idFromName(`${key}#counters-${shard}`));
}
