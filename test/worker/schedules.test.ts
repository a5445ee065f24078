/**
 * Scheduled changes: "turn this off on 15 January" carried out by the cron
 * at the first tick at or after the time, as schedule:<who asked>, audited;
 * bad schedules refused naming the field; cancelled ones never run.
 */
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { booleanSpec, call, READ_AUTH, cronAt, evaluateUntil, putFlag, uniqueKey } from "./helpers";

const audit = async (key: string) => (await call("GET", `/admin/audit?flag=${key}&limit=100`)).json.entries as { actor: string; action: string; summary: string }[];

describe("schedules", () => {
  it("kill a flag at the scheduled time, not before, as schedule:<actor>, audited; edges serve the baseline", async () => {
    const key = uniqueKey("sched-kill");
    await putFlag(booleanSpec(key, [{ weight: 100 }]));
    const at = Date.now() + 3_600_000;
    const added = await call("POST", `/admin/flags/${key}/schedules`, { body: { at: new Date(at).toISOString(), action: "kill", reason: "campaign ends" } });
    expect(added.status).toBe(201);
    expect(added.json.schedule).toMatchObject({ flag: key, wave: 1, at, action: "kill", reason: "campaign ends" });
    expect((await call("GET", `/admin/flags/${key}/schedules`)).json.schedules).toHaveLength(1);
    expect(await (await SELF.fetch("https://rampart.test/metrics", { headers: READ_AUTH })).text()).toContain(`rampart_schedules_pending{flag="${key}"} 1`);

    await cronAt(at - 60_000);
    expect((await call("GET", `/admin/flags/${key}`)).json.state.status).toBe("completed");
    await cronAt(at + 1_000);
    expect((await call("GET", `/admin/flags/${key}`)).json.state.status).toBe("killed");
    expect((await call("GET", `/admin/flags/${key}/schedules`)).json.schedules).toEqual([]);
    const entries = await audit(key);
    expect(entries.find((e) => e.action === "kill")).toMatchObject({ actor: expect.stringMatching(/^schedule:/), summary: expect.stringContaining(`scheduled #${added.json.schedule.id}: campaign ends`) });
    expect(entries.some((e) => e.action === "schedule:add")).toBe(true);
    expect((await evaluateUntil(key, { targetingKey: "u1" }, (r) => r.json.value === false)).json.value).toBe(false);
    // Done once: a later tick does nothing more.
    const before = (await audit(key)).length;
    await cronAt(at + 120_000);
    expect((await audit(key)).length).toBe(before);
  });

  it("audit a schedule that no longer applies as failed and drop it; never run a cancelled one", async () => {
    const key = uniqueKey("sched-fail");
    await putFlag(booleanSpec(key, [{ weight: 10 }, { weight: 100 }]));
    const at = Date.now() + 7_200_000;
    const unkill = await call("POST", `/admin/flags/${key}/schedules`, { body: { at, action: "unkill" } });
    const pause = await call("POST", `/admin/flags/${key}/schedules`, { body: { at, action: "pause" } });
    const cancelled = await call("DELETE", `/admin/flags/${key}/schedules/${pause.json.schedule.id}`);
    expect(cancelled.json).toEqual({ key, id: pause.json.schedule.id, cancelled: true });
    expect((await call("DELETE", `/admin/flags/${key}/schedules/${pause.json.schedule.id}`)).status).toBe(404);
    await cronAt(at);
    expect((await call("GET", `/admin/flags/${key}`)).json.state.status).toBe("ramping");
    const entries = await audit(key);
    expect(entries.find((e) => e.action === "schedule:failed")?.summary).toContain(`#${unkill.json.schedule.id}`);
    expect(entries.some((e) => e.action === "pause")).toBe(false);
    expect((await call("GET", `/admin/flags/${key}/schedules`)).json.schedules).toEqual([]);
  });

  it("refuse bad schedules naming the field, and store nothing", async () => {
    const key = uniqueKey("sched-bad");
    await putFlag(booleanSpec(key));
    const refused = async (body: unknown) => {
      const response = await call("POST", `/admin/flags/${key}/schedules`, { body });
      return { status: response.status, path: (response.json.issues as { path: string }[] | undefined)?.[0]?.path };
    };
    const soon = Date.now() + 3_600_000;
    expect(await refused({ at: Date.now() - 1000, action: "kill" })).toEqual({ status: 400, path: "at" });
    expect(await refused({ at: Date.now() + 400 * 86_400_000, action: "kill" })).toEqual({ status: 400, path: "at" });
    expect(await refused({ at: "tomorrow", action: "kill" })).toEqual({ status: 400, path: "at" });
    expect(await refused({ at: soon, action: "explode" })).toEqual({ status: 400, path: "action" });
    expect(await refused({ at: soon, action: "clear_srm", reason: "x" })).toEqual({ status: 400, path: "action" });
    expect(await refused({ at: soon, action: "force" })).toEqual({ status: 400, path: "variant" });
    expect(await refused({ at: soon, action: "kill", wave: 2 })).toEqual({ status: 400, path: "wave" });
    expect(await refused({ at: soon, action: "kill", extra: 1 })).toMatchObject({ status: 400 });
    expect((await call("POST", "/admin/flags/no-such-flag-sched/schedules", { body: { at: soon, action: "kill" } })).status).toBe(404);
    expect((await call("GET", `/admin/flags/${key}/schedules`)).json.schedules).toEqual([]);
    // Deleting the flag drops its schedules.
    await call("POST", `/admin/flags/${key}/schedules`, { body: { at: soon, action: "kill" } });
    await call("DELETE", `/admin/flags/${key}`);
    await putFlag(booleanSpec(key));
    expect((await call("GET", `/admin/flags/${key}/schedules`)).json.schedules).toEqual([]);
  });

  it("store a scheduled spec at its time: an experiment's cutoff moves everyone to the winner, as schedule:<actor>; refused with the path when bad; failed when its segment went", async () => {
    const key = uniqueKey("sched-cutoff");
    const experiment = (split: { variant: string; weight: number }[]) => ({
      key, kind: "targeting", type: "string", variants: { grid: "grid", list: "list", cards: "cards" }, defaultVariant: "grid",
      rules: [{ name: "experiment", serve: { split } }],
    });
    await putFlag(experiment([{ variant: "grid", weight: 34 }, { variant: "list", weight: 33 }, { variant: "cards", weight: 33 }]));
    const at = Date.now() + 86_400_000;
    const cutoff = { kind: "targeting", type: "string", variants: { grid: "grid", list: "list", cards: "cards" }, defaultVariant: "list" };
    const added = await call("POST", `/admin/flags/${key}/schedules`, { body: { at, action: "update", spec: cutoff, reason: "experiment cutoff: list won" } });
    expect(added.status).toBe(201);
    expect(added.json.schedule).toMatchObject({ action: "update", spec: { ...cutoff, key } });
    const variants = async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 40; i++) seen.add((await call("POST", `/ofrep/v1/evaluate/flags/${key}`, { body: { context: { targetingKey: `u-${i}` } } })).json.variant);
      return [...seen].sort();
    };
    await evaluateUntil(key, { targetingKey: "u-0" }, (r) => r.status === 200);
    expect(await variants()).toEqual(["cards", "grid", "list"]);
    await cronAt(at - 60_000);
    expect((await call("GET", `/admin/flags/${key}`)).json.spec.rules).toHaveLength(1);
    await cronAt(at + 1_000);
    expect((await call("GET", `/admin/flags/${key}`)).json.spec).toMatchObject({ defaultVariant: "list", key });
    await evaluateUntil(key, { targetingKey: "u-0" }, (r) => r.json.reason === "DEFAULT");
    expect(await variants()).toEqual(["list"]);
    expect((await audit(key)).find((e) => e.actor.startsWith("schedule:"))).toBeDefined();
    expect((await call("GET", `/admin/flags/${key}/schedules`)).json.schedules).toEqual([]);

    // Refused with the path, nothing stored.
    const refused = async (body: unknown) => {
      const response = await call("POST", `/admin/flags/${key}/schedules`, { body });
      return { status: response.status, path: (response.json.issues as { path: string }[] | undefined)?.[0]?.path };
    };
    expect(await refused({ at, action: "update" })).toEqual({ status: 400, path: "spec" });
    expect(await refused({ at, action: "update", spec: { ...cutoff, defaultVariant: "tiles" } })).toEqual({ status: 400, path: "spec.defaultVariant" });
    expect(await refused({ at, action: "update", spec: { ...cutoff, key: "other-flag" } })).toEqual({ status: 400, path: "spec.key" });
    expect(await refused({ at, action: "update", spec: cutoff, wave: 1 })).toEqual({ status: 400, path: "wave" });
    expect(await refused({ at, action: "kill", spec: cutoff })).toEqual({ status: 400, path: "spec" });
    expect((await call("GET", `/admin/flags/${key}/schedules`)).json.schedules).toEqual([]);

    // Checked again at its time: a segment deleted meanwhile fails it (audited), and the flag stays as it was.
    const segment = uniqueKey("sched-seg");
    expect((await call("PUT", `/admin/segments/${segment}`, { body: { keys: ["u-1"] } })).status).toBe(201);
    const later = at + 86_400_000;
    const withSegment = { ...cutoff, rules: [{ when: { attribute: "targetingKey", op: "in_segment", value: segment }, serve: { variant: "cards" } }] };
    expect((await call("POST", `/admin/flags/${key}/schedules`, { body: { at: later, action: "update", spec: withSegment } })).status).toBe(201);
    expect((await call("DELETE", `/admin/segments/${segment}`)).status).toBe(200);
    await cronAt(later + 1_000);
    expect((await audit(key)).find((e) => e.action === "schedule:failed")?.summary).toContain(segment);
    expect((await call("GET", `/admin/flags/${key}`)).json.spec.rules ?? []).toEqual([]);
  });
});
