/** The operator CLI (see scripts/lib/cli.ts): `npm run rampart -- --help`. */
import { runCli } from "./lib/cli";

process.exitCode = await runCli(process.argv.slice(2));
