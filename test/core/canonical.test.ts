import { describe, expect, it } from "vitest";
import { canonicalJson, fingerprint, toHex } from "../../core/canonical";

describe("canonical JSON and fingerprints (bulk ETags, spec diffs)", () => {
  it("gives equal text for equal values whatever the key order, dropping undefined", () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { y: 1, x: 0 }], c: undefined } })).toBe('{"a":{"d":[2,{"x":0,"y":1}]},"b":1}');
    expect(fingerprint(canonicalJson({ tenant: "acme", targetingKey: "u" }))).toBe(fingerprint(canonicalJson({ targetingKey: "u", tenant: "acme" })));
    expect(fingerprint("a")).not.toBe(fingerprint("b"));
    expect(fingerprint("a")).toMatch(/^[0-9a-f]{16}$/);
  });

  it("writes digests as lower-case hex (SHA-256 of 'abc', FIPS 180-2)", async () => {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode("abc"));
    expect(toHex(digest)).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(toHex(new Uint8Array([0, 15, 255]))).toBe("000fff");
  });
});
