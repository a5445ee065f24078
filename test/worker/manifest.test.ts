import { describe, expect, it } from "vitest";
import { booleanSpec, call, putFlag } from "./helpers";

// This file owns its storage: prune deletes every flag not in the manifest.
const manifestYaml = (flags: object[]) => JSON.stringify({ flags });

describe("manifest", () => {
  it("dry run returns the diff and changes nothing; apply makes it so; prune deletes the rest", async () => {
    await putFlag(booleanSpec("keep-me"));
    await putFlag(booleanSpec("edit-me"));
    await putFlag(booleanSpec("stray"));
    const flags = [
      booleanSpec("keep-me"),
      { ...booleanSpec("edit-me"), description: "now documented" },
      { ...booleanSpec("brand-new"), type: "string", variants: { baseline: "a", candidate: "b" } },
    ];

    const dry = await call("POST", "/admin/manifest?dryRun=1&prune=1", { raw: manifestYaml(flags), type: "application/json" });
    expect(dry.status).toBe(200);
    expect(dry.json.changes).toEqual([
      { key: "keep-me", change: "unchanged" },
      { key: "edit-me", change: "update", fields: ["description"], diff: [{ path: "description", to: '"now documented"' }], newGeneration: false },
      { key: "brand-new", change: "create" },
      { key: "stray", change: "delete" },
    ]);
    expect((await call("GET", "/admin/flags/brand-new")).status).toBe(404);
    expect((await call("GET", "/admin/flags/stray")).status).toBe(200);

    const applied = await call("POST", "/admin/manifest", { raw: manifestYaml(flags), type: "application/json" });
    expect(applied.json.changes.map((c: { change: string }) => c.change)).toEqual(["unchanged", "update", "create"]);
    expect((await call("GET", "/admin/flags/brand-new")).status).toBe(200);
    expect((await call("GET", "/admin/flags/stray")).status).toBe(200); // no prune: left alone

    await call("POST", "/admin/manifest?prune=1", { raw: manifestYaml(flags), type: "application/json" });
    expect((await call("GET", "/admin/flags/stray")).status).toBe(404);
    const keys = (await call("GET", "/admin/flags")).json.flags.map((f: { key: string }) => f.key).sort();
    expect(keys).toEqual(["brand-new", "edit-me", "keep-me"]);
  });

  it("accepts YAML and rejects an invalid manifest as a whole, naming the flag", async () => {
    const before = (await call("GET", "/admin/flags")).json;
    const yaml = [
      "flags:",
      "  - { key: yaml-one, type: boolean, variants: { baseline: false, candidate: true }, rollout: { stages: [{ weight: 100 }] } }",
      "  - { key: yaml-two, type: boolean, variants: { baseline: false, candidate: true }, rollout: { stages: [{ weight: 101 }] } }",
    ].join("\n");
    const bad = await call("POST", "/admin/manifest", { raw: yaml, type: "application/yaml" });
    expect(bad.status).toBe(400);
    expect(bad.json.issues).toContainEqual({ path: "flags[1].rollout.stages[0].weight", message: "must be 0..100" });
    expect((await call("GET", "/admin/flags")).json).toEqual(before);
    const good = await call("POST", "/admin/manifest", { raw: yaml.replace("101", "100"), type: "application/yaml" });
    expect(good.json.changes).toHaveLength(2);
  });
});
