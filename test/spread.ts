/**
 * Counts spread evenly over the replicate groups, as if every record came
 * from a different user (integers: floor plus the remainder to the first
 * groups). For tests that state totals, not users.
 */
import { emptyCounts, REPLICATES, type ArmCounts, type ArmPair, type Replicated, type ReplicatedPair } from "../core/counters";

export function spreadCounts(counts: Readonly<ArmCounts>): Replicated {
  const share = (total: number, r: number) => Math.floor(total / REPLICATES) + (r < total % REPLICATES ? 1 : 0);
  return Array.from({ length: REPLICATES }, (_, r) => {
    const c = emptyCounts();
    c.exposures = share(counts.exposures, r);
    c.errors = share(counts.errors, r);
    c.agree = share(counts.agree, r);
    c.disagree = share(counts.disagree, r);
    for (const [name, s] of Object.entries(counts.events)) {
      const n = share(s.count, r);
      if (n === 0) continue;
      const f = s.count > 0 ? n / s.count : 0;
      c.events[name] = { count: n, sum: s.sum * f, sumSq: s.sumSq * f };
    }
    for (const [key, n] of Object.entries(counts.latency)) {
      const k = share(n, r);
      if (k > 0) c.latency[key] = k;
    }
    return c;
  });
}

export function spreadPair(pair: Readonly<ArmPair>): ReplicatedPair {
  return { baseline: spreadCounts(pair.baseline), candidate: spreadCounts(pair.candidate) };
}
