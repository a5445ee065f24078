/**
 * What a flag change costs one edge isolate, at 100, 1,000 and 10,000 flags
 * shaped like the prompt-pack example, side by side in one run:
 *
 * - delta: the isolate holds version N and learns of a one-flag change:
 *   it parses the head (which lists the change), reads and validates that
 *   flag's entry, compiles it and moves its map (`applyDelta`);
 * - full reload (the reference, what every change cost before deltas): parse,
 *   validate and compile the whole snapshot;
 * - a cold isolate's first single-flag answer: that flag's entry alone;
 * - cold start to the whole snapshot: head + whole snapshot (envelope parsed,
 *   the evaluated flag alone validated and compiled), then one assign();
 *   beside it, the same with every flag validated and compiled up front
 *   (what a cold start cost before).
 *
 * Bytes are what the isolate reads; reads are storage reads (head,
 * entry, snapshot). CPU is the median of interleaved rounds, quoted with the
 * delta/full ratio. Heap is measured with --expose-gc (tsx passes it through).
 *
 *   npm run bench:snapshot -- [--rounds 7] [--sizes 100,1000,10000]
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { assign } from "../core/assign";
import { applyDelta, compileEntry, compileSnapshot, type CompiledSnapshot } from "../core/compile";
import { FlagSpecSchema } from "../core/manifest";
import { initialState } from "../core/rollout";
import { deltaSince, SnapshotEnvelopeSchema, snapshotFlagOf, SnapshotHeadSchema, SnapshotSchema, type SnapshotHead } from "../core/snapshot";
import { scriptArgs } from "./lib/script-args";

const args = scriptArgs({ command: "npm run bench:snapshot", about: "snapshot parse, compile and delta apply at several flag counts" }, {
  rounds: { type: "int", default: 7, min: 1, help: "interleaved rounds (medians are quoted)" },
  sizes: { type: "list", default: ["100", "1000", "10000"], help: "flag counts (integers ≥ 2)" },
});
const ROUNDS = args.rounds;
const SIZES = args.sizes.map(Number);
if (SIZES.some((n) => !Number.isInteger(n) || n < 2)) {
  console.error("npm run bench:snapshot: --sizes must be integers ≥ 2, comma-separated");
  process.exit(2);
}

const template = parseYaml(readFileSync(new URL("../examples/prompt-pack.yaml", import.meta.url), "utf8")) as Record<string, unknown>;

/** The snapshot text of `n` prompt-pack-shaped flags at `version`, and one flag's entry text changed in the next version. */
function build(n: number) {
  const bodies: string[] = [];
  for (let i = 0; i < n; i++) {
    const spec = FlagSpecSchema.parse({ ...template, key: `prompt-pack-${i}` });
    bodies.push(JSON.stringify({ ...snapshotFlagOf(spec, initialState(spec.rollout.stages, 1, 1, 0), 1), configVersion: 1 }));
  }
  const full = `{"version":1,"etag":"\\"1-x\\"","publishedAt":0,"flags":[${bodies.join(",")}]}`;
  const changedKey = `prompt-pack-${Math.floor(n / 2)}`;
  const spec = FlagSpecSchema.parse({ ...template, key: changedKey });
  const killed = { ...initialState(spec.rollout.stages, 1, 2, 0), status: "killed" as const, killedFrom: "shadow" as const };
  const entry = JSON.stringify({ ...snapshotFlagOf(spec, killed, 1), configVersion: 2 });
  const head: SnapshotHead = { version: 2, etag: '"2-y"', since: 0, changes: [{ version: 2, set: [changedKey], deleted: [] }] };
  return { full, entry, head: JSON.stringify(head), changedKey };
}

/** What an isolate does on a full load now: the envelope checked, each flag validated and compiled when first read. */
function fullLoad(text: string): CompiledSnapshot {
  return compileSnapshot(SnapshotEnvelopeSchema.parse(JSON.parse(text)));
}

/** What every load did before (the reference): every flag validated and compiled up front. */
function eagerLoad(text: string): CompiledSnapshot {
  const snapshot = compileSnapshot(SnapshotSchema.parse(JSON.parse(text)));
  for (const flag of snapshot.flags.values()) if (!flag) throw new Error("unreachable");
  return snapshot;
}

function deltaLoad(base: CompiledSnapshot, headText: string, entryText: string): CompiledSnapshot {
  const head = SnapshotHeadSchema.parse(JSON.parse(headText));
  const delta = deltaSince(head, base.version);
  if (delta === null) throw new Error("the head does not reach back");
  // As the isolate does: the entry parsed as JSON, then validated and compiled by applyDelta.
  const entry: unknown = JSON.parse(entryText);
  return applyDelta(base, head, new Map([...delta.set.keys()].map((key) => [key, entry])), delta.deleted, 0);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const kib = (bytes: number) => `${(bytes / 1024).toFixed(bytes < 10_240 ? 1 : 0)} KiB`;
const ms = (x: number) => (x < 1 ? `${(x * 1000).toFixed(0)} µs` : `${x.toFixed(1)} ms`);
const gc = (globalThis as { gc?: () => void }).gc;

console.log(`bench:snapshot — ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${ROUNDS} interleaved rounds, medians\n`);
const rows: string[] = [];
for (const n of SIZES) {
  const { full, entry, head, changedKey } = build(n);
  const headBytes = Buffer.byteLength(head);
  const base = fullLoad(full);
  const context = { targetingKey: "user-1", tenant: "acme", endpoint: "/rag/reason" };
  const cold: number[] = [];
  const coldOne: number[] = [];
  const coldEager: number[] = [];
  const reload: number[] = [];
  const delta: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Interleaved: each round times all four, so machine noise hits them alike.
    let t = performance.now();
    const loaded = fullLoad(full);
    assign(loaded.flags.get(changedKey) ?? (null as never), context);
    cold.push(performance.now() - t);
    t = performance.now();
    // A cold isolate's first single-flag answer: that flag's entry alone (one read), validated and compiled.
    assign(compileEntry(changedKey, JSON.parse(entry), 2) ?? (null as never), context);
    coldOne.push(performance.now() - t);
    t = performance.now();
    const eager = eagerLoad(full);
    assign(eager.flags.get(changedKey) ?? (null as never), context);
    coldEager.push(performance.now() - t);
    t = performance.now();
    eagerLoad(full);
    reload.push(performance.now() - t);
    t = performance.now();
    const next = deltaLoad(base, head, entry);
    delta.push(performance.now() - t);
    if (next.flags.get(changedKey)?.source.state.status !== "killed") throw new Error("the delta did not apply");
  }
  const heapOf = (load: () => CompiledSnapshot): number => {
    if (!gc) return NaN;
    gc();
    const before = process.memoryUsage().heapUsed;
    const held = load();
    assign(held.flags.get(changedKey) ?? (null as never), context);
    gc();
    const used = process.memoryUsage().heapUsed - before;
    if (held.flags.size !== n) throw new Error("lost flags");
    return used;
  };
  const heapLazy = heapOf(() => fullLoad(full));
  const heapEager = heapOf(() => eagerLoad(full));
  const mib = (b: number) => (Number.isNaN(b) ? "run with --expose-gc" : `${(b / 1_048_576).toFixed(1)} MiB`);
  const d = median(delta);
  const f = median(reload);
  const fullBytes = headBytes + Buffer.byteLength(full);
  rows.push(
    `| ${n.toLocaleString("en")} | ${ms(d)} · 2 reads · ${kib(headBytes + Buffer.byteLength(entry))} | ${ms(f)} · 2 reads · ${kib(fullBytes)} | ${(f / d).toFixed(0)}× less CPU, ${(Buffer.byteLength(full) / Buffer.byteLength(entry)).toFixed(0)}× fewer bytes | ${ms(median(coldOne))} · 1 read · ${kib(Buffer.byteLength(entry))} | ${ms(median(cold))} (before: ${ms(median(coldEager))}) · 2 reads · ${kib(fullBytes)} | ${mib(heapLazy)} (all compiled: ${mib(heapEager)}) |`,
  );
}
console.log("| flags | one-flag change: delta | one-flag change: full reload (reference) | delta vs reload | cold: first single-flag answer | cold: whole snapshot loaded (before) | memory, one flag served |");
console.log("|---|---|---|---|---|---|---|");
for (const row of rows) console.log(row);
console.log("\ntargets at 10,000 flags: a one-flag change ≤ 5 ms CPU and ≤ 16 KiB read per isolate; a cold single-flag evaluation within 2 storage reads");
