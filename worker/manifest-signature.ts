/**
 * Signed specs and manifests. When MANIFEST_PUBLIC_KEYS is set, a PUT of a
 * flag or a POST of a manifest is taken only with a detached Ed25519
 * signature (RFC 8032) over the body's exact bytes, verified with WebCrypto:
 *
 *   Rampart-Signature: keyid="release-2026"; sig="<base64 of the 64-byte signature>"
 *
 * MANIFEST_PUBLIC_KEYS lists the accepted keys as `id:base64` entries
 * (the raw 32-byte public key), separated by commas — several at once, so a
 * key can be rotated without a window where nothing verifies. The key id
 * that signed is recorded in the audit log beside the spec hash.
 * `npm run rampart -- keygen` makes a pair; `apply --sign-key FILE` signs.
 */
import { AppError } from "./errors";

export const SIGNATURE_HEADER = "rampart-signature";

export interface PublicKeyEntry {
  id: string;
  key: Uint8Array;
}

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

function fromBase64(text: string): Uint8Array | null {
  try {
    const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/** The configured keys; a malformed entry is a deployment error, reported as such (not silently skipped). */
export function parsePublicKeys(config: string | undefined): PublicKeyEntry[] | null {
  const text = (config ?? "").trim();
  if (text === "") return null;
  return text.split(/[,\s]+/).filter(Boolean).map((entry) => {
    const colon = entry.indexOf(":");
    const id = entry.slice(0, colon);
    const key = colon > 0 ? fromBase64(entry.slice(colon + 1)) : null;
    if (!KEY_ID.test(id) || key === null || key.length !== 32) {
      throw new AppError(500, "misconfigured", `MANIFEST_PUBLIC_KEYS: "${entry.slice(0, 24)}…" is not id:base64 of a 32-byte Ed25519 public key`);
    }
    return { id, key };
  });
}

/** `keyid="…"; sig="…"` → its parts, or null when the header is not in that form. */
export function parseSignatureHeader(header: string): { keyId: string; signature: Uint8Array } | null {
  const params = new Map<string, string>();
  for (const part of header.split(";")) {
    const match = /^\s*([a-z]+)\s*=\s*"([^"]*)"\s*$/.exec(part);
    if (!match?.[1] || match[2] === undefined) return null;
    params.set(match[1], match[2]);
  }
  const keyId = params.get("keyid");
  const sig = params.get("sig");
  const signature = sig === undefined ? null : fromBase64(sig);
  if (!keyId || !KEY_ID.test(keyId) || signature === null || signature.length !== 64) return null;
  return { keyId, signature };
}

/**
 * Checks a body's signature when keys are configured: resolves to the key id
 * that signed it (null when signing is off), or throws a 4xx naming the problem.
 */
export async function verifyBodySignature(config: string | undefined, header: string | undefined, body: Uint8Array): Promise<string | null> {
  const keys = parsePublicKeys(config);
  if (keys === null) return null;
  if (header === undefined) {
    throw new AppError(400, "signature_required", `this deployment takes only signed specs: send ${SIGNATURE_HEADER}: keyid="…"; sig="…" (Ed25519 over the exact body; npm run rampart -- apply --sign-key FILE)`);
  }
  const parsed = parseSignatureHeader(header);
  if (parsed === null) {
    throw new AppError(400, "malformed_signature", `${SIGNATURE_HEADER} must be keyid="<id>"; sig="<base64 of a 64-byte Ed25519 signature>"`);
  }
  const entry = keys.find((k) => k.id === parsed.keyId);
  if (!entry) throw new AppError(403, "unknown_signing_key", `key "${parsed.keyId}" is not in MANIFEST_PUBLIC_KEYS (accepted: ${keys.map((k) => k.id).join(", ")})`);
  const key = await crypto.subtle.importKey("raw", entry.key, { name: "Ed25519" }, false, ["verify"]);
  const valid = await crypto.subtle.verify({ name: "Ed25519" }, key, parsed.signature, body);
  if (!valid) throw new AppError(403, "invalid_signature", `the signature by "${parsed.keyId}" does not match this body: it was changed after signing, or signed with another key`);
  return parsed.keyId;
}
