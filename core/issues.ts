/** Formatting of validation issues so that every error names its path. */

export interface Issue {
  readonly path: string;
  readonly message: string;
}

/** "rollout.stages[2].weight" from ["rollout", "stages", 2, "weight"]. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
}

interface ZodLikeIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/** Turns zod issues into `{ path, message }` with the path written as people read it. */
export function toIssues(issues: readonly ZodLikeIssue[], prefix: readonly PropertyKey[] = []): Issue[] {
  return issues.map((issue) => ({
    path: formatPath([...prefix, ...issue.path]),
    message: issue.message,
  }));
}

/** One line for logs and error messages: "a.b: must be …; c: …". */
export function summarizeIssues(issues: readonly Issue[], max = 3): string {
  const shown = issues.slice(0, max).map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
  const more = issues.length > max ? ` (and ${issues.length - max} more)` : "";
  return shown.join("; ") + more;
}
