/**
 * Statistics for a cron that looks every minute: normal tails, always-valid
 * (sequential) intervals, a count-appropriate binomial bound, an
 * anytime-valid sample-ratio-mismatch test, and inverse-variance pooling.
 * Each function names its source; tests check them against published values.
 */

/** Complementary error function (Numerical Recipes `erfcc`, |relative error| < 1.2e-7). */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** Standard normal CDF Φ(x). */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

/** Standard normal quantile Φ⁻¹(p) (Acklam's algorithm, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) {
    if (p === 0) return Number.NEGATIVE_INFINITY;
    if (p === 1) return Number.POSITIVE_INFINITY;
    return Number.NaN;
  }
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const [a0, a1, a2, a3, a4, a5] = a as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = b as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = c as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = d as [number, number, number, number];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  }
  if (p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return -(((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  }
  const q = p - 0.5;
  const r = q * q;
  return ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) / (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1);
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; ~15 significant digits). */
export function logGamma(x: number): number {
  const g = 7;
  const coefficients = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
    -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const y = x - 1;
  let sum = coefficients[0] as number;
  for (let i = 1; i < g + 2; i++) sum += (coefficients[i] as number) / (y + i);
  const t = y + g + 0.5;
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(sum);
}

/**
 * Half-width of the always-valid confidence interval of the mixture SPRT
 * (Johari, Pekelis & Walsh, "Always Valid Inference", 2017, eq. for the
 * normal mixture with prior N(0, τ²) on the effect): for an estimate with
 * variance V, θ̂ ± sqrt( V(V+τ²)/τ² · (ln((V+τ²)/V) − 2 ln α) ). The
 * probability that θ ever leaves the interval, however often one looks, is at
 * most α.
 */
export function alwaysValidHalfWidth(variance: number, tau2: number, alpha: number): number {
  if (!(variance > 0)) return 0;
  return Math.sqrt(((variance * (variance + tau2)) / tau2) * (Math.log((variance + tau2) / variance) - 2 * Math.log(alpha)));
}

/** Wilson score interval for x successes in n trials at two-sided level 1 − α (count-appropriate for rare events). */
export function wilsonInterval(x: number, n: number, alpha: number): { lower: number; upper: number } {
  if (n <= 0) return { lower: 0, upper: 1 };
  const z = normalQuantile(1 - alpha / 2);
  const p = x / n;
  const z2n = (z * z) / n;
  const center = (p + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt((p * (1 - p)) / n + z2n / (4 * n));
  return { lower: Math.max(0, center - half), upper: Math.min(1, center + half) };
}

/**
 * Log Bayes factor of the Dirichlet–multinomial mixture against the expected
 * arm probabilities (Lindon & Malek, "Anytime-Valid Inference for Multinomial
 * Count Data", 2022). Under no mismatch it is a martingale, so rejecting when
 * it reaches ln(1/α) at any look keeps the false-alarm rate at most α.
 */
export function srmLogBayesFactor(observed: readonly number[], expected: readonly number[], concentration = 100): number {
  let n = 0;
  let alphaSum = 0;
  let result = 0;
  observed.forEach((x, i) => {
    const p = expected[i] ?? 0;
    const a = concentration * p;
    n += x;
    alphaSum += a;
    if (x > 0) result += logGamma(a + x) - logGamma(a) - x * Math.log(p);
  });
  return result + logGamma(alphaSum) - logGamma(alphaSum + n);
}

export interface Estimate {
  /** Point estimate. */
  value: number;
  /** Its variance. */
  variance: number;
}

/** Inverse-variance weighted mean of independent estimates (per-stage deltas pooled). */
export function poolEstimates(estimates: readonly Estimate[]): Estimate | null {
  let weight = 0;
  let weighted = 0;
  for (const e of estimates) {
    if (!(e.variance > 0) || !Number.isFinite(e.value)) continue;
    weight += 1 / e.variance;
    weighted += e.value / e.variance;
  }
  if (weight === 0) return null;
  return { value: weighted / weight, variance: 1 / weight };
}
