/** The one RegistryDO of a deployment. */
import type { RegistryDO } from "./registry-do";

export const REGISTRY_NAME = "registry";

export function registryStub(env: Env): DurableObjectStub<RegistryDO> {
  return env.REGISTRY.get(env.REGISTRY.idFromName(REGISTRY_NAME));
}
