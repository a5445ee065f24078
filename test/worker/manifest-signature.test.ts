/** Signature checks in isolation: the configuration, the header's form, and each refusal — with the bytes signed by a real Ed25519 key. */
import { describe, expect, it } from "vitest";
import { parsePublicKeys, parseSignatureHeader, verifyBodySignature } from "../../worker/manifest-signature";

const b64 = (bytes: ArrayBuffer | Uint8Array) => btoa(String.fromCharCode(...new Uint8Array(bytes)));

async function keyPair(id: string) {
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const raw = (await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer;
  const sign = async (body: Uint8Array) => `keyid="${id}"; sig="${b64(await crypto.subtle.sign({ name: "Ed25519" }, pair.privateKey, body))}"`;
  return { entry: `${id}:${b64(raw)}`, sign };
}

describe("manifest signatures", () => {
  it("is off without keys, and reports a malformed key entry as a deployment error rather than skipping it", () => {
    expect(parsePublicKeys(undefined)).toBeNull();
    expect(parsePublicKeys("  ")).toBeNull();
    expect(() => parsePublicKeys("release:not-base64!")).toThrow(/MANIFEST_PUBLIC_KEYS/);
    expect(() => parsePublicKeys(`release:${b64(new Uint8Array(16))}`)).toThrow(/32-byte/);
    expect(() => parsePublicKeys(`bad id:${b64(new Uint8Array(32))}`)).toThrow(/MANIFEST_PUBLIC_KEYS/);
  });

  it("reads only the documented header form", () => {
    const sig = b64(new Uint8Array(64));
    expect(parseSignatureHeader(`keyid="k1"; sig="${sig}"`)).toMatchObject({ keyId: "k1" });
    expect(parseSignatureHeader(`keyid=k1; sig="${sig}"`)).toBeNull();
    expect(parseSignatureHeader(`keyid="k1"; sig="${b64(new Uint8Array(63))}"`)).toBeNull();
    expect(parseSignatureHeader(`keyid="k 1"; sig="${sig}"`)).toBeNull();
    expect(parseSignatureHeader(`sig="${sig}"`)).toBeNull();
  });

  it("returns the signing key's id for a valid signature and refuses every other case with its own code", async () => {
    const a = await keyPair("a");
    const b = await keyPair("b");
    const config = a.entry;
    const body = new TextEncoder().encode('{"key":"x"}');
    expect(await verifyBodySignature(undefined, undefined, body)).toBeNull();
    expect(await verifyBodySignature(config, await a.sign(body), body)).toBe("a");
    const refusal = (header: string | undefined, bytes = body) => verifyBodySignature(config, header, bytes).then(() => "accepted", (e: { code?: string; status?: number }) => `${e.status} ${e.code}`);
    expect(await refusal(undefined)).toBe("400 signature_required");
    expect(await refusal("garbage")).toBe("400 malformed_signature");
    expect(await refusal(await b.sign(body))).toBe("403 unknown_signing_key");
    expect(await refusal((await b.sign(body)).replace('keyid="b"', 'keyid="a"'))).toBe("403 invalid_signature");
    expect(await refusal(await a.sign(body), new TextEncoder().encode('{"key":"y"}'))).toBe("403 invalid_signature");
  });
});
