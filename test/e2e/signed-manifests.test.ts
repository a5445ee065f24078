/**
 * Signed specs end to end: a deployment with MANIFEST_PUBLIC_KEYS takes a
 * spec or manifest only with a valid Ed25519 signature over its exact bytes;
 * anything else is refused, naming the problem, and changes nothing.
 */
import { createPrivateKey, sign } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { processIo, runCli, type CliIo } from "../../scripts/lib/cli";
import { E2E_ADMIN_TOKEN, startLocalWorker, type LocalWorker } from "../../scripts/lib/local-worker";

const dir = mkdtempSync(join(tmpdir(), "rampart-signing-"));
let worker: LocalWorker;
const out: string[] = [];
const io = (): CliIo => ({ ...processIo, out: (l) => out.push(l), err: (l) => out.push(l), env: { RAMPART_URL: worker?.baseUrl, RAMPART_TOKEN: E2E_ADMIN_TOKEN, USER: "signer" } });

/** `keygen` through the CLI: returns the MANIFEST_PUBLIC_KEYS entry and the private key's path. */
async function keygen(id: string): Promise<{ entry: string; file: string }> {
  out.length = 0;
  const file = join(dir, `rampart-signing-${id}.pem`);
  expect(await runCli(["keygen", "--id", id, "--out", file], io())).toBe(0);
  const entry = out.map((l) => /MANIFEST_PUBLIC_KEYS.*: (\S+:\S+)$/.exec(l)?.[1]).find(Boolean);
  if (!entry) throw new Error(`keygen printed no public entry: ${out.join("\n")}`);
  return { entry, file };
}

const spec = (key: string, description = "signed") => ({ key, description, type: "boolean", variants: { baseline: false, candidate: true }, rollout: { stages: [{ weight: 10 }, { weight: 100 }] } });
const signatureOf = (file: string, id: string, body: string) => `keyid="${id}"; sig="${sign(null, Buffer.from(body), createPrivateKey(readFileSync(file, "utf8"))).toString("base64")}"`;

let old: { entry: string; file: string };
let current: { entry: string; file: string };
let stranger: { entry: string; file: string };

beforeAll(async () => {
  old = await keygen("release-2025");
  current = await keygen("release-2026");
  stranger = await keygen("someone-else");
  // Two keys at once: the rotation window.
  worker = await startLocalWorker({ MANIFEST_PUBLIC_KEYS: `${old.entry},${current.entry}` });
}, 120_000);
afterAll(async () => {
  await worker?.dispose();
});

async function put(key: string, body: string, signature?: string) {
  const r = await fetch(`${worker.baseUrl}/admin/flags/${key}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${E2E_ADMIN_TOKEN}`, "content-type": "application/json", ...(signature ? { "rampart-signature": signature } : {}) },
    body,
  });
  return { status: r.status, json: (await r.json()) as { error?: string; message?: string } };
}
const exists = async (key: string) => (await worker.admin("GET", `/admin/flags/${key}`)).status === 200;

describe("signed specs", () => {
  it("takes a spec and a manifest signed by either configured key (rotation), and audits the key id", async () => {
    const file = join(dir, "signed.json");
    writeFileSync(file, JSON.stringify(spec("signed-one")));
    expect(await runCli(["apply", file, "--sign-key", current.file], io())).toBe(0);
    expect(await exists("signed-one")).toBe(true);
    const manifest = join(dir, "manifest.json");
    writeFileSync(manifest, JSON.stringify({ flags: [spec("signed-two"), spec("signed-three")] }));
    expect(await runCli(["apply", manifest, "--sign-key", old.file], io())).toBe(0);
    expect(await exists("signed-three")).toBe(true);
    const audit = (await (await worker.admin("GET", "/admin/audit?limit=10")).json()) as { entries: { flag: string; signingKey: string | null; specHash: string | null }[] };
    expect(audit.entries.find((e) => e.flag === "signed-one")).toMatchObject({ signingKey: "release-2026", specHash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(audit.entries.find((e) => e.flag === "signed-two")?.signingKey).toBe("release-2025");
    out.length = 0;
    expect(await runCli(["audit", "--limit", "5"], io())).toBe(0);
    expect(out.join("\n")).toContain("(signed by release-2026)");
  });

  it("refuses a missing, malformed, tampered, unknown-key or wrong-key signature, naming the problem, and changes nothing", async () => {
    const body = JSON.stringify(spec("unsigned"));
    expect(await put("unsigned", body)).toMatchObject({ status: 400, json: { error: "signature_required" } });
    expect(await put("unsigned", body, "sig=nonsense")).toMatchObject({ status: 400, json: { error: "malformed_signature" } });
    const tampered = JSON.stringify(spec("unsigned", "changed after signing"));
    expect(await put("unsigned", tampered, signatureOf(current.file, "release-2026", body))).toMatchObject({ status: 403, json: { error: "invalid_signature" } });
    expect(await put("unsigned", body, signatureOf(stranger.file, "someone-else", body))).toMatchObject({ status: 403, json: { error: "unknown_signing_key" } });
    // Signed by another key while claiming a configured one.
    expect(await put("unsigned", body, signatureOf(stranger.file, "release-2026", body))).toMatchObject({ status: 403, json: { error: "invalid_signature" } });
    expect(await exists("unsigned")).toBe(false);
    // The same body, properly signed, is taken.
    expect((await put("unsigned", body, signatureOf(current.file, "release-2026", body))).status).toBe(201);
  });
});
