/** Runs the operator CLI in-process against a test worker, capturing what it prints (shared by the CLI's end-to-end tests). */
import { readFileSync, writeFileSync } from "node:fs";
import { runCli, type CliIo } from "../../scripts/lib/cli";
import { E2E_ADMIN_TOKEN, type LocalWorker } from "../../scripts/lib/local-worker";

export interface CliOptions {
  /** What a terminal user would say to a question (null: nobody can answer). */
  answer?: boolean | null;
  env?: Record<string, string | undefined>;
  /** Files the CLI reads from instead of the disk. */
  files?: Record<string, string>;
}

export async function runCliAgainst(worker: LocalWorker, options: CliOptions, ...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const questions: string[] = [];
  const io: CliIo = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    fetch: (input, init) => fetch(input, init),
    env: options.env ?? { RAMPART_URL: worker.baseUrl, RAMPART_TOKEN: E2E_ADMIN_TOKEN, USER: "tester" },
    readFile: (path) => options.files?.[path] ?? readFileSync(path, "utf8"),
    writeFile: (path, text) => writeFileSync(path, text),
    confirm: (question) => {
      questions.push(question);
      return Promise.resolve(options.answer ?? null);
    },
  };
  const status = await runCli(argv, io);
  return { status, out: out.join("\n"), err: err.join("\n"), questions };
}
