/** Variant names: what a flag's `variants` are keyed by and rules, splits and experiments name. */
import { z } from "zod";

/** Variant names start with a letter or digit (so no `__proto__`); a leading digit lets flagd definitions' "1", "2", … be stored as they are. */
export const VARIANT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const VariantNameSchema = z.string().regex(VARIANT_NAME_PATTERN, "variant names start with a letter or digit and use only A-Z a-z 0-9 . _ - (1–64 characters)");
