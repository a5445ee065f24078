/**
 * Reading request bodies with a size limit, and decoding JSON or YAML.
 * Limits: admin and manifest bodies 1 MiB, OFREP bodies 64 KiB.
 */
import { parse as parseTolerant, printParseErrorCode, type ParseError, type ParseErrorCode } from "jsonc-parser";
import { isCollection, isScalar, parseDocument, visit, type YAMLError } from "yaml";
import { jsonShapeProblem, MAX_JSON_DEPTH, valueDepth } from "../core/json-shape";
import { invalidUtf8Offset, positionAt, positionOfByte } from "../core/text-position";
import { AppError, unreadableBody } from "./errors";

export const ADMIN_BODY_LIMIT = 1_048_576;
export const OFREP_BODY_LIMIT = 65_536;

/**
 * The body as text, invalid UTF-8 refused by a fatal decode; 413 past
 * `limit` bytes, whether or not Content-Length says so. Admin documents
 * and events; OFREP bodies use `readEvaluationText`.
 */
export function readText(request: Request, limit: number): Promise<string> {
  return readBody(request, limit).then(decodeUtf8);
}

/** The body's exact bytes (what a signature covers); 413 past `limit`. */
export async function readBytes(request: Request, limit: number): Promise<Uint8Array> {
  const body = await readBody(request, limit);
  return body instanceof Uint8Array ? body : new Uint8Array(body);
}

/**
 * How a body is framed (RFC 9112 §6): by a Content-Length within `limit`
 * — the body is exactly that long, so it can be read in one native call,
 * without making a stream of it — by none (read chunk by chunk), or by one
 * past the limit.
 */
function framing(request: Request, limit: number): "fixed" | "streamed" | "too-large" {
  const length = request.headers.get("content-length");
  if (length === null) return "streamed";
  const declared = Number(length);
  if (declared > limit) return "too-large";
  return Number.isInteger(declared) ? "fixed" : "streamed";
}

/** The body, refused past `limit`. */
function readBody(request: Request, limit: number): Promise<ArrayBuffer | Uint8Array> {
  const framed = framing(request, limit);
  if (framed === "too-large") return Promise.reject(tooLarge(limit));
  return framed === "fixed" ? request.arrayBuffer() : readStream(request, limit);
}

/**
 * An OFREP body as text, the hottest read: decoded by the runtime
 * (`request.text()`, which costs a single evaluation ~7% less CPU than a
 * buffer decoded in JavaScript; npm run bench:edge). That decoder turns
 * invalid bytes into U+FFFD instead of failing, so a body holding U+FFFD
 * is refused — whether it came from invalid bytes or was sent as such,
 * which cannot be told apart; either way two different ids could have
 * become the same one. 413 past `limit`, as `readText`.
 */
export async function readEvaluationText(request: Request, limit: number): Promise<string> {
  const framed = framing(request, limit);
  if (framed === "too-large") throw tooLarge(limit);
  const text = framed === "fixed" ? await request.text() : decodeUtf8(await readStream(request, limit));
  const replaced = text.indexOf("\uFFFD");
  if (replaced !== -1) throw unreadableBody("invalid_encoding", "the body is not valid UTF-8, or holds U+FFFD (the replacement character, which invalid bytes decode to: the two cannot be told apart)", positionAt(text, replaced));
  return text;
}

/** A body of unknown length, chunk by chunk, refused as soon as it passes `limit`. */
function readStream(request: Request, limit: number): Promise<Uint8Array> {
  return request.body ? readLimited(request.body as ReadableStream<Uint8Array>, limit) : Promise.resolve(new Uint8Array(0));
}

/** A stream's bytes, refused (413) as soon as they pass `limit` (a request body; an inflated one). */
export async function readLimited(stream: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** One decoder for every body: a whole-buffer decode keeps no state between calls. */
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

export function decodeUtf8(bytes: Uint8Array | ArrayBuffer): string {
  try {
    // Fatal: invalid UTF-8 is refused, not turned into U+FFFD (two different sticky ids would then share a bucket).
    return UTF8.decode(bytes);
  } catch {
    const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    const offset = invalidUtf8Offset(view);
    throw unreadableBody("invalid_encoding", "the body is not valid UTF-8", offset === -1 ? undefined : positionOfByte(view, offset));
  }
}

function tooLarge(limit: number): AppError {
  return new AppError(413, "payload_too_large", `the body exceeds the limit of ${limit} bytes`);
}

/** Keys refused in admin documents (specs, manifests): they would be dropped or misread as an object's prototype. */
const FORBIDDEN_DOCUMENT_KEYS = ["__proto__"];

/** JSON.parse with the shape checks of `core/json-shape.ts`: depth, duplicate keys, and (for documents) forbidden keys. */
export function parseJson(text: string, forbiddenKeys: readonly string[] = []): unknown {
  const problem = jsonShapeProblem(text, { forbiddenKeys });
  if (problem !== null) {
    const at = positionAt(text, problem.at);
    if (problem.kind === "too_deep") throw unreadableBody("too_deep", `the body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`, at);
    if (problem.kind === "duplicate_key") throw unreadableBody("duplicate_key", `the body repeats the key "${problem.key}" in one object`, at);
    throw unreadableBody("forbidden_key", `keys named "${problem.key}" are not accepted`, at);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    // The runtime's message may or may not carry a position: a strict second parser (only on this error path) finds it.
    const found: ParseError[] = [];
    parseTolerant(text, found, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
    const first = found[0];
    const what = first ? `${describeJsonError(first.error)}` : error instanceof Error ? error.message : String(error);
    throw unreadableBody("invalid_json", `the body is not valid JSON: ${what}`, first ? positionAt(text, first.offset) : undefined);
  }
}

/** jsonc-parser's error code as words ("CloseBraceExpected" → "close brace expected"). */
function describeJsonError(code: ParseErrorCode): string {
  return printParseErrorCode(code).replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
}

export function parseYaml(text: string): unknown {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  const yamlError = (problem: YAMLError): AppError => unreadableBody("invalid_yaml", `the body is not valid YAML: ${problem.message.split("\n")[0] ?? ""}`, positionAt(text, problem.pos[0]));
  const first = doc.errors[0];
  if (first) throw yamlError(first);
  // Tags this parser does not know (!!js/function, !!python/object, …) would silently become strings: refuse them.
  const tag = doc.warnings.find((w) => w.code === "TAG_RESOLVE_FAILED");
  if (tag) throw yamlError(tag);
  // Depth and forbidden keys are found on the document's nodes, which know where they start.
  const shape = yamlShapeProblem(doc);
  if (shape?.kind === "too_deep") throw unreadableBody("too_deep", `the body nests mappings and sequences deeper than ${MAX_JSON_DEPTH} levels`, positionAt(text, shape.at));
  if (shape?.kind === "forbidden_key") throw unreadableBody("forbidden_key", `keys named "${shape.key}" are not accepted`, positionAt(text, shape.at));
  let value: unknown;
  try {
    // Alias expansion is capped so a small document cannot expand into a huge one.
    value = doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (error) {
    throw unreadableBody("invalid_yaml", `the body is not valid YAML: ${error instanceof Error ? error.message : String(error)}`);
  }
  // Aliases can nest what their anchors hold: the expanded value is checked too.
  if (valueDepth(value) > MAX_JSON_DEPTH) throw unreadableBody("too_deep", `the body nests mappings and sequences deeper than ${MAX_JSON_DEPTH} levels`);
  return value;
}

/** The first collection nested past MAX_JSON_DEPTH, or the first forbidden key, with where it starts in the text. */
function yamlShapeProblem(doc: ReturnType<typeof parseDocument>): { kind: "too_deep" | "forbidden_key"; key?: string; at: number } | null {
  let found: { kind: "too_deep" | "forbidden_key"; key?: string; at: number } | null = null;
  visit(doc, {
    Pair(_key, pair) {
      if (isScalar(pair.key) && typeof pair.key.value === "string" && FORBIDDEN_DOCUMENT_KEYS.includes(pair.key.value)) {
        found = { kind: "forbidden_key", key: pair.key.value, at: pair.key.range?.[0] ?? 0 };
        return visit.BREAK;
      }
      return undefined;
    },
    Node(_key, node, path) {
      if (!isCollection(node)) return undefined;
      const depth = path.filter((p) => isCollection(p)).length + 1;
      if (depth > MAX_JSON_DEPTH) {
        found = { kind: "too_deep", at: node.range?.[0] ?? 0 };
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return found;
}

const JSON_TYPE = /^application\/(?:[\w.+-]*\+)?json\b/i;
const YAML_TYPE = /^(?:application|text)\/(?:x-)?yaml\b/i;

/** A spec or manifest document, JSON or YAML by Content-Type; 415 for anything else. */
export async function readDocument(request: Request): Promise<unknown> {
  const type = request.headers.get("content-type") ?? "";
  const isJson = JSON_TYPE.test(type);
  const isYaml = YAML_TYPE.test(type);
  if (!isJson && !isYaml) {
    throw new AppError(415, "unsupported_media_type", "send Content-Type: application/json or application/yaml");
  }
  const text = await readText(request, ADMIN_BODY_LIMIT);
  return parseAdminDocument(text, isJson);
}

/** A spec or manifest document from bytes already read (and, when configured, signature-checked). */
export function documentFromBytes(request: Request, bytes: Uint8Array): unknown {
  const type = request.headers.get("content-type") ?? "";
  const isJson = JSON_TYPE.test(type);
  if (!isJson && !YAML_TYPE.test(type)) throw new AppError(415, "unsupported_media_type", "send Content-Type: application/json or application/yaml");
  return parseAdminDocument(decodeUtf8(bytes), isJson);
}

function parseAdminDocument(text: string, isJson: boolean): unknown {
  if (text.trim() === "") throw new AppError(400, "empty_body", "the body is empty");
  return isJson ? parseJson(text, FORBIDDEN_DOCUMENT_KEYS) : parseYaml(text);
}

/** A JSON body; 415 for any other Content-Type. */
export async function readJson(request: Request, limit = ADMIN_BODY_LIMIT): Promise<unknown> {
  const type = request.headers.get("content-type") ?? "";
  if (!JSON_TYPE.test(type)) throw new AppError(415, "unsupported_media_type", "send Content-Type: application/json");
  const text = await readText(request, limit);
  return parseJson(text);
}
