/**
 * Edge routing of a flag: requests under `pathPrefix` (and `host`, when set)
 * are proxied to the origin of the arm the caller is assigned, optionally
 * mirrored to a shadow origin for comparison.
 */
import { z } from "zod";
import { DurationSchema } from "./gate-spec";

const OriginSchema = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).transform((u) => u.replace(/\/+$/, ""));
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;

export const RouteSchema = z.strictObject({
  pathPrefix: z.string().regex(/^\/[^?#]*$/, "must be a path starting with / (no query or fragment)"),
  host: z.string().min(1).max(253).optional(),
  origins: z.strictObject({ baseline: OriginSchema, candidate: OriginSchema }),
  shadow: z
    .strictObject({
      /** Where mirrored requests go; the candidate's origin by default. */
      origin: OriginSchema.optional(),
      /** Share of eligible requests mirrored (0..1). */
      sampleRate: z.number().min(0).max(1).default(1),
      /** Only these methods are mirrored: side effects must not run twice. */
      methods: z.array(z.enum(METHODS)).min(1).default(["GET", "HEAD"]),
      /** Mirror in every stage, not only while the rollout is in its shadow stage. */
      always: z.boolean().default(false),
      /** Send the caller's Authorization and Cookie to the shadow origin too (off: a shadow is a third party to the user's session). */
      forwardCredentials: z.boolean().default(false),
      /** A shadow that has not answered (headers and body) this long counts as a disagreement and an error of the candidate. */
      // (A number is milliseconds: the parsed route travels in the published snapshot and is parsed again there.)
      timeout: z.union([DurationSchema, z.int().min(1).max(60_000)]).default(10_000),
    })
    .optional(),
  /** Cookie holding the sticky id of callers without one. */
  cookie: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "cookie names use A-Z a-z 0-9 _ -").default("rampart_id"),
});
export type Route = z.infer<typeof RouteSchema>;
