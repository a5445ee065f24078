import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, type CliIo } from "../../scripts/lib/cli";
import { E2E_ADMIN_TOKEN, startLocalWorker, type LocalWorker } from "../../scripts/lib/local-worker";

let worker: LocalWorker;
const dir = mkdtempSync(join(tmpdir(), "rampart-cli-"));

beforeAll(async () => {
  worker = await startLocalWorker();
});
afterAll(async () => {
  await worker?.dispose();
});

/** Runs the CLI against the test worker, capturing what it prints. */
async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    fetch: (input, init) => fetch(input, init),
    env: { RAMPART_URL: worker.baseUrl, RAMPART_TOKEN: E2E_ADMIN_TOKEN, USER: "tester" },
    readFile: (path) => readFileSync(path, "utf8"),
  };
  const status = await runCli(argv, io);
  return { status, out: out.join("\n"), err: err.join("\n") };
}

describe("operator CLI", () => {
  it("applies a manifest (dry run first), lists flags, and rolls one back in one command", async () => {
    const manifest = join(dir, "flags.yaml");
    writeFileSync(
      manifest,
      [
        "flags:",
        "  - key: cli-ranker",
        "    type: string",
        "    variants: { baseline: v1, candidate: v2 }",
        "    rollout: { stages: [{ weight: 10 }, { weight: 100 }] }",
      ].join("\n"),
    );
    const dry = await cli("apply", manifest, "--dry-run");
    expect(dry).toMatchObject({ status: 0 });
    expect(dry.out).toContain("create    cli-ranker");
    expect(dry.out).toContain("dry run: nothing changed");
    expect((await cli("flags")).out).not.toContain("cli-ranker");

    expect((await cli("apply", manifest)).status).toBe(0);
    expect((await cli("flags")).out).toMatch(/cli-ranker\s+ramping\s+0\s+10%/);

    const rollback = await cli("rollback", "cli-ranker", "--reason", "p95 regression");
    expect(rollback).toMatchObject({ status: 0 });
    expect(rollback.out).toContain("cli-ranker: rolled_back");
    const log = await cli("decisions", "cli-ranker");
    expect(log.out).toContain("rollback");
    expect(log.out).toContain("by admin:tester — p95 regression");
  });

  it("says what is wrong, with the field, and exits non-zero", async () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "key: cli-bad\ntype: boolean\nvariants: { baseline: false, candidate: true }\nrollout: { stages: [{ weight: 150 }] }\n");
    const result = await cli("apply", bad);
    expect(result.status).toBe(1);
    expect(result.err).toContain("400 invalid_request");
    expect(result.err).toContain("rollout.stages[0].weight: must be 0..100");
    expect((await cli("kill", "no-such-flag")).err).toContain("404 not_found");
    expect((await cli("launch", "x")).err).toContain('unknown command "launch"');
    expect((await cli("--help")).out).toContain("usage: npm run rampart");
  });
});
