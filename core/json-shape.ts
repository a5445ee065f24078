/**
 * Checks a JSON text before it is parsed, for what `JSON.parse` would
 * silently accept or choke on: nesting deeper than a documented limit
 * (deep nesting exhausts the stack of the recursive code that walks values
 * later), and duplicate keys in one object (JSON.parse keeps the last one
 * without a word, while YAML input refuses them). One pass, no recursion.
 */

/** The deepest nesting of arrays and objects accepted in any request body. */
export const MAX_JSON_DEPTH = 64;

/** `at`: the UTF-16 index in the text where the problem starts (the bracket that nests too deep, the key's opening quote). */
export type JsonShapeProblem = { kind: "too_deep"; depth: number; at: number } | { kind: "duplicate_key"; key: string; at: number } | { kind: "forbidden_key"; key: string; at: number };

interface Frame {
  object: boolean;
  /** The keys seen in this object so far (null until the first): a list, since request objects have few keys… */
  keys: string[] | null;
  /** …and a set once there are many. */
  keySet: Set<string> | null;
  expectKey: boolean;
}

const NO_KEYS: ReadonlySet<string> = new Set();

/**
 * The first problem in a JSON text, or null. Malformed JSON is left to
 * JSON.parse to report. Runs on every OFREP body, so it allocates little:
 * a key without escapes is sliced, not parsed, and keys are kept in a list
 * (a Set past 32 keys).
 */
export function jsonShapeProblem(text: string, options: { maxDepth?: number; forbiddenKeys?: readonly string[] } = {}): JsonShapeProblem | null {
  const maxDepth = options.maxDepth ?? MAX_JSON_DEPTH;
  const forbidden = options.forbiddenKeys && options.forbiddenKeys.length > 0 ? new Set(options.forbiddenKeys) : NO_KEYS;
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22 /* " */) {
      const start = i;
      let escaped = false;
      for (i++; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c === 0x5c /* \ */) {
          escaped = true;
          i++;
        } else if (c === 0x22) break;
      }
      const top = stack[stack.length - 1];
      if (top?.object && top.expectKey) {
        let key: string;
        if (escaped) {
          let parsed: unknown;
          try {
            parsed = JSON.parse(text.slice(start, i + 1));
          } catch {
            return null;
          }
          if (typeof parsed !== "string") return null;
          key = parsed;
        } else key = text.slice(start + 1, i);
        if (forbidden.has(key)) return { kind: "forbidden_key", key, at: start };
        if (seen(top, key)) return { kind: "duplicate_key", key, at: start };
        top.expectKey = false;
      }
    } else if (ch === 0x7b /* { */ || ch === 0x5b /* [ */) {
      stack.push({ object: ch === 0x7b, keys: null, keySet: null, expectKey: ch === 0x7b });
      if (stack.length > maxDepth) return { kind: "too_deep", depth: stack.length, at: i };
    } else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) {
      stack.pop();
    } else if (ch === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top?.object) top.expectKey = true;
    }
  }
  return null;
}

/** Whether `key` was already seen in this object; records it if not. */
function seen(frame: Frame, key: string): boolean {
  if (frame.keySet !== null) {
    if (frame.keySet.has(key)) return true;
    frame.keySet.add(key);
    return false;
  }
  const keys = (frame.keys ??= []);
  if (keys.includes(key)) return true;
  keys.push(key);
  if (keys.length > 32) frame.keySet = new Set(keys);
  return false;
}

/** The nesting depth of a parsed value (iterative), for documents that did not come as JSON text (YAML). */
export function valueDepth(value: unknown): number {
  let deepest = 0;
  const work: [unknown, number][] = [[value, 0]];
  while (work.length > 0) {
    const [v, depth] = work.pop() as [unknown, number];
    if (v === null || typeof v !== "object") continue;
    const d = depth + 1;
    if (d > deepest) deepest = d;
    if (d > MAX_JSON_DEPTH) return d;
    for (const child of Object.values(v)) work.push([child, d]);
  }
  return deepest;
}
