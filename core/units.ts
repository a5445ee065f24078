/**
 * Units used in flag specs: durations ("10s", "15m", "2d") and amounts
 * ("5%", "0.2pp", "0.05", "200"). They are parsed once, when a spec enters the
 * system; everything downstream sees plain numbers.
 */

const DURATION_UNITS_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const DURATION_PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** Milliseconds of a duration like "30s", "15m", "2h", "2d"; null when it is not one. */
export function parseDurationMs(text: string): number | null {
  const match = DURATION_PATTERN.exec(text.trim());
  if (!match) return null;
  const [, amount, unit] = match;
  if (amount === undefined || unit === undefined) return null;
  const perUnit = DURATION_UNITS_MS[unit];
  if (perUnit === undefined) return null;
  return Math.round(Number(amount) * perUnit);
}

/**
 * How an amount was written. `percent` ("5%") and `pp` ("0.2pp") are divided
 * by 100; `plain` ("0.05", "200") is kept as written. What the number means
 * (relative change, absolute difference, level) depends on the gate that uses it.
 */
export type AmountUnit = "percent" | "pp" | "plain";

export interface Amount {
  readonly value: number;
  readonly unit: AmountUnit;
}

const AMOUNT_PATTERN = /^(-?\d+(?:\.\d+)?)\s*(%|pp)?$/;

/** Parses "5%", "0.2pp", "0.05" or a number; null when the text is not an amount. */
export function parseAmount(input: string | number): Amount | null {
  if (typeof input === "number") {
    return Number.isFinite(input) ? { value: input, unit: "plain" } : null;
  }
  const match = AMOUNT_PATTERN.exec(input.trim());
  if (!match) return null;
  const [, digits, suffix] = match;
  const number = Number(digits);
  if (!Number.isFinite(number)) return null;
  if (suffix === "%") return { value: number / 100, unit: "percent" };
  if (suffix === "pp") return { value: number / 100, unit: "pp" };
  return { value: number, unit: "plain" };
}
