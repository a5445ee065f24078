/**
 * Reading request bodies with a size limit, and decoding JSON or YAML.
 * Limits: admin and manifest bodies 1 MiB, OFREP bodies 64 KiB.
 */
import { parseDocument } from "yaml";
import { AppError } from "./errors";

export const ADMIN_BODY_LIMIT = 1_048_576;
export const OFREP_BODY_LIMIT = 65_536;

/** The body as text; 413 past `limit` bytes, whether or not Content-Length says so. */
export async function readText(request: Request, limit: number): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit) throw tooLarge(limit);
  if (!request.body) return "";
  const reader = request.body.getReader() as ReadableStreamDefaultReader<Uint8Array>;
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
  return new TextDecoder().decode(bytes);
}

function tooLarge(limit: number): AppError {
  return new AppError(413, "payload_too_large", `the body exceeds the limit of ${limit} bytes`);
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new AppError(400, "invalid_json", `the body is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export function parseYaml(text: string): unknown {
  // Alias expansion is capped so a small document cannot expand into a huge one.
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) throw new AppError(400, "invalid_yaml", `the body is not valid YAML: ${first.message.split("\n")[0] ?? ""}`);
  try {
    return doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (error) {
    throw new AppError(400, "invalid_yaml", `the body is not valid YAML: ${error instanceof Error ? error.message : String(error)}`);
  }
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
  if (text.trim() === "") throw new AppError(400, "empty_body", "the body is empty");
  return isJson ? parseJson(text) : parseYaml(text);
}

/** A JSON body; 415 for any other Content-Type. */
export async function readJson(request: Request, limit = ADMIN_BODY_LIMIT): Promise<unknown> {
  const type = request.headers.get("content-type") ?? "";
  if (!JSON_TYPE.test(type)) throw new AppError(415, "unsupported_media_type", "send Content-Type: application/json");
  const text = await readText(request, limit);
  return parseJson(text);
}
