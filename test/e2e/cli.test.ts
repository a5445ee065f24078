import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCliAgainst, type CliOptions } from "./cli-harness";
import { LOCAL_STACK_FILE } from "../../scripts/lib/local-url";
import { startLocalWorker, type LocalWorker } from "../../scripts/lib/local-worker";

let worker: LocalWorker;
const dir = mkdtempSync(join(tmpdir(), "rampart-cli-"));

beforeAll(async () => {
  worker = await startLocalWorker();
});
afterAll(async () => {
  await worker?.dispose();
});

const cliWith = (options: CliOptions, ...argv: string[]) => runCliAgainst(worker, options, ...argv);
const cli = (...argv: string[]) => cliWith({}, ...argv);

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
    expect((await cli("flags")).out).toMatch(/cli-ranker\s+rollout\s+ramping\s+0\s+10%/);

    const rollback = await cli("rollback", "cli-ranker", "--reason", "p95 regression");
    expect(rollback).toMatchObject({ status: 0 });
    expect(rollback.out).toContain("cli-ranker: rolled_back");
    const log = await cli("decisions", "cli-ranker");
    expect(log.out).toContain("rollback");
    expect(log.out).toContain("by admin:tester — p95 regression");
  });

  it("shows and acts on one region wave of a flag, by wave or by region", async () => {
    const spec = join(dir, "waves.yaml");
    writeFileSync(spec, "key: cli-waves\ntype: boolean\nvariants: { baseline: false, candidate: true }\nrollout: { stages: [{ weight: 20 }, { weight: 100 }] }\nwaves: [[us-east-1], [eu-west-1, rest]]\n");
    expect((await cli("apply", spec)).status).toBe(0);
    const shown = await cli("show", "cli-waves");
    expect(shown.out).toMatch(/wave 1 \[us-east-1\]: ramping, stage 0 \(20%\)/);
    expect(shown.out).toMatch(/wave 2 \[eu-west-1, rest\]: waiting, stage 0 \(0%\)/);
    expect((await cli("flags")).out).toContain("waves: 1 ramping 20% · 2 waiting");
    const killed = await cli("kill", "cli-waves", "--region", "eu-west-1", "--reason", "EU incident");
    expect(killed.out).toContain("cli-waves wave 2: killed");
    expect((await cli("decisions", "cli-waves", "--wave", "2")).out).toContain("waiting/0 → killed/0 by admin:tester — EU incident");
    // Wave 1 is untouched; a region no wave names is refused with the field.
    expect((await cli("show", "cli-waves")).out).toContain("wave 1 [us-east-1]: ramping");
    const unknown = await cli("kill", "cli-waves", "--region", "mars-1");
    expect(unknown.status).toBe(1);
    expect(unknown.err).toContain('region: no wave of flag "cli-waves" names region "mars-1"');
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
    const keygen = await cli("keygen", "--id", "not a valid id", "--out", join(dir, "never.pem"));
    expect(keygen.status).toBe(2);
    expect(keygen.err).toContain("--id must be 1–64 of A-Z a-z 0-9 . _ -");
    const unsigned = await cli("apply", bad, "--sign-key", join(dir, "missing.pem"), "--key-id", "k");
    expect(unsigned.err).toContain("cannot read the signing key");
  });

  it("names the URL, where it came from and the cause when Rampart cannot be reached", async () => {
    // A port nobody listens on: bind one, then let it go.
    const closed = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const env = { RAMPART_URL: `http://127.0.0.1:${closed}`, RAMPART_TOKEN: "x" };
    const result = await cliWith({ env }, "flags");
    expect(result.status).toBe(1);
    expect(result.err).toContain(`cannot reach Rampart at http://127.0.0.1:${closed} (ECONNREFUSED)`);
    expect(result.err).toContain("the URL came from RAMPART_URL");
    // With no --url and no RAMPART_URL, the URL npm start recorded wins over the default.
    const recorded = await cliWith({ env: { RAMPART_TOKEN: "x" }, files: { [LOCAL_STACK_FILE]: JSON.stringify({ url: env.RAMPART_URL, pid: 1 }) } }, "flags");
    expect(recorded.err).toContain(`cannot reach Rampart at http://127.0.0.1:${closed}`);
    expect(recorded.err).toContain(`the URL came from ${LOCAL_STACK_FILE} (written by npm start)`);
    const asJson = await cliWith({ env }, "flags", "--json");
    expect(JSON.parse(asJson.out)).toMatchObject({ error: "unreachable" });
  });

  it("answers --json failures in JSON, a typo'd option with the usage line, and a bad file with its name and line", async () => {
    const missing = await cli("kill", "no-such-flag", "--json");
    expect(missing.status).toBe(1);
    expect(JSON.parse(missing.out)).toMatchObject({ error: "not_found", status: 404 });
    const typo = await cli("flags", "--prot");
    expect(typo.status).toBe(2);
    expect(typo.err).toContain("Unknown option '--prot'");
    expect(typo.err).toContain("usage: npm run rampart -- <command>");
    expect(typo.err).not.toContain("commands:");
    const broken = join(dir, "broken.yaml");
    writeFileSync(broken, "key: cli-broken\nvariants: { baseline: a, candidate: b\n");
    const yaml = await cli("apply", broken);
    expect(yaml.status).toBe(1);
    expect(yaml.err).toMatch(new RegExp(`${broken.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}:\\d+:\\d+: not valid YAML`));
  });

  it("dry-runs a single-flag file field by field with values, and prints state with ISO times", async () => {
    const file = join(dir, "single.yaml");
    const spec = (weight: number) => `key: cli-single\ntype: boolean\nvariants: { baseline: false, candidate: true }\nrollout: { stages: [{ weight: ${weight} }, { weight: 100 }] }\n`;
    writeFileSync(file, spec(10));
    expect((await cli("apply", file)).out).toContain("created cli-single");
    writeFileSync(file, spec(25));
    const dry = await cli("apply", file, "--dry-run");
    expect(dry.status).toBe(0);
    expect(dry.out).toContain("update    cli-single");
    expect(dry.out).toContain("rollout.stages[0].weight: 10 → 25");
    expect((await cli("show", "cli-single")).out).toMatch(/cli-single: ramping, stage 0, generation 1[\s\S]*created \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ[\s\S]*weight: 10/);
    const cron = await cli("cron");
    expect(cron.out).toMatch(/^(last tick \d{4}-|no tick has run yet)/);
  });

  it("schedules a change, shows and lists it, refuses a past time naming `at`, and cancels it", async () => {
    const file = join(dir, "sched.yaml");
    writeFileSync(file, ["key: cli-sched", "type: boolean", "variants: { baseline: false, candidate: true }", "rollout: { stages: [{ weight: 100 }] }"].join("\n"));
    expect((await cli("apply", file)).status).toBe(0);
    // Thirty days ahead, to the second (schedules reach at most 366 days).
    const at = new Date(Math.floor(Date.now() / 1000) * 1000 + 30 * 86_400_000).toISOString().replace(/\.000Z$/, "Z");
    const added = await cli("schedule", "cli-sched", "kill", "--at", at, "--reason", "campaign ends");
    expect(added).toMatchObject({ status: 0 });
    expect(added.out).toMatch(new RegExp(`^cli-sched: #(\\d+) kill at ${at}`));
    const id = /#(\d+)/.exec(added.out)?.[1] ?? "";
    expect((await cli("show", "cli-sched")).out).toContain(`#${id} ${at} kill by admin:tester — campaign ends`);
    expect((await cli("schedules", "cli-sched")).out).toContain(`#${id} ${at} kill`);
    const past = await cli("schedule", "cli-sched", "kill", "--at", "2001-01-01T00:00:00Z");
    expect(past.status).toBe(1);
    expect(past.err).toMatch(/400 invalid_request: .*\n {2}at: 2001-01-01T00:00:00.000Z is not in the future/);
    expect((await cli("schedule", "cli-sched", "kill")).err).toContain("schedule needs <time (--at)>");
    expect((await cli("unschedule", "cli-sched", `#${id}`)).out).toBe(`cli-sched: schedule #${id} cancelled`);
    expect((await cli("schedules", "cli-sched")).out).toBe("no pending schedules");
  });

  it("keeps a segment from a YAML file, applies a targeting flag using it, and refuses deleting it while used", async () => {
    const segmentFile = join(dir, "testers.yaml");
    writeFileSync(segmentFile, "keys: [ana, ben]\nwhen: { attribute: email, op: ends_with, value: '@qa.example' }\n");
    expect((await cli("segment", "cli-testers", segmentFile)).out).toBe("created segment cli-testers v1; republished no flag");
    const flagFile = join(dir, "layout.yaml");
    writeFileSync(flagFile, [
      "key: cli-layout", "kind: targeting", "type: string", "variants: { grid: grid, cards: cards }", "defaultVariant: grid",
      "rules:", "  - { name: testers, when: { attribute: targetingKey, op: in_segment, value: cli-testers }, serve: { variant: cards } }",
    ].join("\n"));
    expect((await cli("apply", flagFile)).status).toBe(0);
    expect((await cli("segment", "cli-testers", segmentFile)).out).toBe("updated segment cli-testers v2; republished cli-layout");
    expect((await cli("segments")).out).toContain("cli-testers v2 (2 keys, a rule; by admin:tester) used by cli-layout");
    const refused = await cli("delete-segment", "cli-testers");
    expect(refused.status).toBe(1);
    expect(refused.err).toContain("409 segment_in_use");
  });

  it("prints an experiment's report: exposures per variant, the correction, each treatment against the control", async () => {
    const flagFile = join(dir, "experiment.yaml");
    writeFileSync(flagFile, [
      "key: cli-experiment", "kind: targeting", "type: string", "variants: { grid: grid, list: list, cards: cards }", "defaultVariant: grid",
      "metrics: { click_rate: { kind: ratio, numerator: click, denominator: exposure } }",
      "rules:", "  - name: layout", "    serve:", "      split: [ { variant: grid, weight: 34 }, { variant: list, weight: 33 }, { variant: cards, weight: 33 } ]",
      "      experiment: { control: grid, metrics: [ { metric: click_rate, bad: decrease } ] }",
    ].join("\n"));
    expect((await cli("apply", flagFile)).status).toBe(0);
    const shown = await cli("experiment", "cli-experiment", "layout");
    expect(shown.status).toBe(0);
    expect(shown.out).toMatch(/^cli-experiment rule layout iteration [0-9a-f]{8}, \S+ → \S+\n {2}exposures: grid \(control\) 0, list 0, cards 0\n {2}2 comparisons, each interval at α = 0\.0250 \(Bonferroni; always valid\)\n {2}list +click_rate +control n\/a list n\/a delta n\/a → no_data\n {2}cards/);
    const missing = await cli("experiment", "cli-experiment", "nope");
    expect(missing.status).toBe(1);
    expect(missing.err).toContain('404 not_an_experiment: flag "cli-experiment" has no rule "nope"');
  });

  it("replays a decision by the id as printed (#N)", async () => {
    const file = join(dir, "replay.yaml");
    writeFileSync(file, "key: cli-replay\ntype: boolean\nvariants: { baseline: false, candidate: true }\nrollout: { stages: [{ weight: 10 }, { weight: 100 }] }\n");
    await cli("apply", file);
    await cli("pause", "cli-replay");
    const id = /#(\d+)/.exec((await cli("decisions", "cli-replay")).out)?.[1];
    expect(id).toBeDefined();
    // An operator decision has nothing to recompute: the server says so (409), which it can only do if the id reached it.
    const replay = await cli("replay", "cli-replay", `#${id ?? ""}`);
    expect(replay.err).toContain("409");
    expect((await cli("replay", "cli-replay", "two")).err).toContain('"two" is not a decision id');
  });

  it("asks before --prune deletes anything, lists what would go, and takes --yes", async () => {
    const keep = join(dir, "keep.json");
    const flag = (key: string) => ({ key, type: "boolean", variants: { baseline: false, candidate: true }, rollout: { stages: [{ weight: 10 }, { weight: 100 }] } });
    writeFileSync(keep, JSON.stringify({ flags: [flag("cli-keep"), flag("cli-doomed")] }));
    await cli("apply", keep);
    const only = join(dir, "only.json");
    writeFileSync(only, JSON.stringify({ flags: [flag("cli-keep")] }));
    const unattended = await cliWith({ answer: null }, "apply", only, "--prune");
    expect(unattended.status).toBe(1);
    expect(unattended.err).toContain("cli-doomed");
    expect(unattended.err).toContain("pass --yes");
    const declined = await cliWith({ answer: false }, "apply", only, "--prune");
    expect(declined.questions).toHaveLength(1);
    expect(declined.err).toContain("not confirmed");
    expect((await cli("flags")).out).toContain("cli-doomed");
    const confirmed = await cliWith({ answer: true }, "apply", only, "--prune");
    expect(confirmed.status).toBe(0);
    expect(confirmed.out).toContain("delete    cli-doomed");
    expect((await cli("flags")).out).not.toContain("cli-doomed");
  });
});

describe("operator CLI: team access", () => {
  it("grants a role, makes a token shown once, signs in with it, asks for an approval, and revokes it", async () => {
    const spec = join(dir, "gated.yaml");
    writeFileSync(spec, ["key: cli-gated", "type: string", "variants: { baseline: v1, candidate: v2 }", "rollout: { stages: [{ weight: 10, approval: required }, { weight: 100 }] }"].join("\n"));
    expect((await cli("apply", spec)).status).toBe(0);
    expect((await cli("grant", "group", "release-eng", "operator", "--prefix", "cli-*")).out).toBe("group release-eng: operator on cli-*");
    expect((await cli("grants")).out).toMatch(/^group release-eng\s+operator cli-\* {2}\(by admin:tester, /m);
    expect((await cli("grant", "team", "x", "viewer")).err).toContain('the first argument is user or group, not "team"');
    const bad = await cli("grant", "user", "ana@example.com", "owner");
    expect(bad.status).toBe(1);
    expect(bad.err).toContain("400");
    const made = await cli("token", "deploy-bot", "--role", "operator", "--prefix", "cli-*");
    expect(made.status).toBe(0);
    const secret = made.out.trim();
    expect(secret).toMatch(/^rmp_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    expect(made.err).toContain("shown once");
    const asBot = (...argv: string[]) => cliWith({ env: { RAMPART_URL: worker.baseUrl, RAMPART_TOKEN: secret, USER: "bot" } }, ...argv);
    expect((await asBot("whoami")).out).toBe("token:deploy-bot (token), audited as token:deploy-bot (claims bot)\n  on every flag: nothing\n  on cli-*: read, act");
    expect((await asBot("ask-approval", "cli-gated", "--note", "canary is clean")).out).toBe("cli-gated: approval of stage 0 (generation 1) asked for; the webhooks and the audit log say so");
    expect((await cli("audit", "--limit", "1")).out).toContain("approval:request");
    expect((await cli("tokens")).out).toMatch(/deploy-bot\s+operator cli-\*; until revoked; last used 20/);
    const id = /^rmp_([0-9a-f]{12})_/.exec(secret)?.[1] ?? "";
    expect((await cli("revoke-token", id)).out).toBe(`token deploy-bot (${id}) revoked`);
    const refused = await asBot("whoami");
    expect(refused.status).toBe(1);
    expect(refused.err).toContain("the token has been revoked");
  });
});
