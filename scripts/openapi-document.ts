/**
 * Prints the /openapi.json document the Worker serves (built by the same
 * code from the same zod schemas), for `redocly lint` in CI:
 *
 *   npx tsx scripts/openapi-document.ts > openapi.json && npx redocly lint openapi.json
 */
import { openApiDocument } from "../worker/openapi";

process.stdout.write(`${JSON.stringify(openApiDocument(), null, 2)}\n`);
