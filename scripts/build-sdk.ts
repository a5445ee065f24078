/**
 * Builds the OpenFeature providers in `sdk/` as packages a team installs by
 * name: each `sdk/<package>/dist/index.js` (one ES module, the shared
 * tracking code bundled in, the OpenFeature SDK left to the app as a peer
 * dependency) and its type declarations under `dist/types/`.
 *
 *   npm run build:sdk            then e.g.  npm install ./sdk/server   (or npm pack it)
 */
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

export const SDK_PACKAGES = [
  { dir: "server", name: "@rampart/openfeature-server", platform: "node" as const, external: ["@openfeature/server-sdk", "@opentelemetry/api"], extra: { "span-hook.ts": "otel.js" } },
  { dir: "web", name: "@rampart/openfeature-web", platform: "browser" as const, external: ["@openfeature/web-sdk"], extra: {} },
] as const;

/** Builds every package; returns the bundles' paths. */
export async function buildSdk(log: (line: string) => void = () => {}): Promise<string[]> {
  const out: string[] = [];
  for (const pkg of SDK_PACKAGES) {
    const dir = join(ROOT, "sdk", pkg.dir);
    rmSync(join(dir, "dist"), { recursive: true, force: true });
    const outfile = join(dir, "dist", "index.js");
    const common = { bundle: true, format: "esm" as const, platform: pkg.platform, target: "es2022", external: [...pkg.external], logLevel: "warning" as const };
    await build({ ...common, entryPoints: [join(dir, "index.ts")], outfile });
    // Entry points of their own (the OpenTelemetry hook: only apps that have @opentelemetry/api import it).
    for (const [entry, file] of Object.entries(pkg.extra)) await build({ ...common, entryPoints: [join(dir, entry)], outfile: join(dir, "dist", file) });
    const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
    const options = ["--declaration", "--emitDeclarationOnly", "--strict", "--skipLibCheck", "--target", "ES2022", "--module", "ESNext", "--moduleResolution", "bundler", "--lib", "ES2023,DOM", "--types", "node"];
    execFileSync(process.execPath, [tsc, ...options, "--rootDir", join(ROOT, "sdk"), "--outDir", join(dir, "dist", "types"), join(dir, "index.ts"), ...Object.keys(pkg.extra).map((entry) => join(dir, entry))], { stdio: "inherit" });
    log(`${pkg.name}: sdk/${pkg.dir}/dist/index.js and its types`);
    out.push(outfile);
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await buildSdk(console.log);
}
