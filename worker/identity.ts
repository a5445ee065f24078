/**
 * Verified identities for the admin API: a Cloudflare Access token
 * (`Cf-Access-Jwt-Assertion`, signed by the team's keys) or an OIDC token
 * (`Authorization: Bearer <JWT>`), checked with `jose` — signature against
 * the issuer's JWKS (RS256 or ES256 only, so `alg: none` and HMAC tricks
 * are refused), issuer, audience, expiry and not-before with 60 s of clock
 * skew. Keys are fetched once per isolate and URL and cached (10 minutes;
 * an unknown `kid` refetches, at most every 30 s: key rotation), for at
 * most 8 issuers. The identity is the email (else the subject) and the
 * `groups` claim.
 */
import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from "jose";
import type { Identity } from "../core/access";
import { AppError } from "./errors";

const CLOCK_SKEW_S = 60;
const ALGORITHMS = ["RS256", "ES256"];
const keySets = new Map<string, JWTVerifyGetKey>();

function keySet(url: string): JWTVerifyGetKey {
  let set = keySets.get(url);
  if (!set) {
    if (keySets.size >= 8) keySets.delete(keySets.keys().next().value as string);
    set = createRemoteJWKSet(new URL(url), { cacheMaxAge: 600_000, cooldownDuration: 30_000, timeoutDuration: 5_000 });
    keySets.set(url, set);
  }
  return set;
}

const unauthorized = (message: string) => new AppError(401, "unauthorized", message, undefined, { "WWW-Authenticate": 'Bearer realm="rampart-admin"' });

/** What the Worker is configured to accept. */
export interface IdentityConfig {
  access: { jwksUrl: string; issuer: string; audience: string } | null;
  oidc: { jwksUrl: string; issuer: string; audience: string } | null;
}

export function identityConfig(env: Env): IdentityConfig {
  const vars = env as unknown as Record<string, string | undefined>;
  const team = vars["ACCESS_TEAM_DOMAIN"]?.replace(/^https?:\/\//, "").replace(/\/$/, "");
  const aud = vars["ACCESS_AUD"];
  const issuer = vars["OIDC_ISSUER"]?.replace(/\/$/, "");
  const oidcAud = vars["OIDC_AUDIENCE"];
  return {
    access: team && aud ? { jwksUrl: vars["ACCESS_JWKS_URL"] || `https://${team}/cdn-cgi/access/certs`, issuer: `https://${team}`, audience: aud } : null,
    oidc: issuer && oidcAud ? { jwksUrl: vars["OIDC_JWKS_URL"] || `${issuer}/.well-known/jwks.json`, issuer, audience: oidcAud } : null,
  };
}

/** A compact JWS (three base64url parts): told apart from an opaque bearer token by shape alone. */
export const looksLikeJwt = (token: string): boolean => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);

/** Verifies a token from `kind`'s issuer; a refusal is a 401 saying what was wrong. */
export async function verifyIdentity(token: string, kind: "access" | "oidc", config: NonNullable<IdentityConfig["access"]>): Promise<Identity> {
  const what = kind === "access" ? "the Cloudflare Access token" : "the OIDC token";
  try {
    const { payload } = await jwtVerify(token, keySet(config.jwksUrl), { issuer: config.issuer, audience: config.audience, algorithms: ALGORITHMS, clockTolerance: CLOCK_SKEW_S });
    const email = typeof payload["email"] === "string" ? payload["email"] : undefined;
    const subject = email ?? payload.sub;
    if (!subject) throw unauthorized(`${what} names nobody: it has neither email nor sub`);
    const groups = Array.isArray(payload["groups"]) ? payload["groups"].filter((g): g is string => typeof g === "string").slice(0, 100) : [];
    return { kind, subject, groups };
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw unauthorized(`${what} was refused: ${reason(error)}`);
  }
}

function reason(error: unknown): string {
  if (error instanceof errors.JWTExpired) return "it has expired";
  if (error instanceof errors.JWTClaimValidationFailed) return `its "${error.claim}" claim ${error.reason === "check_failed" ? "is not the one expected" : "is missing or invalid"}${error.claim === "nbf" ? " (not yet valid)" : ""}`;
  if (error instanceof errors.JOSEAlgNotAllowed) return "its algorithm is not allowed (RS256 or ES256 only)";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "its signature does not verify";
  if (error instanceof errors.JWKSNoMatchingKey) return "no key of the issuer matches it";
  if (error instanceof errors.JWKSTimeout) return "the issuer's keys could not be fetched in time";
  if (error instanceof errors.JWKSInvalid || error instanceof errors.JOSENotSupported || (error instanceof errors.JOSEError && /JSON Web Key Set/.test(error.message))) return "the issuer's keys could not be read";
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return "it is not a well-formed JWT";
  if (error instanceof Error && /fetch|network|connect/i.test(error.message)) return "the issuer's keys could not be fetched";
  return "it could not be verified";
}
