/** The scripts' shared opening: values typed and bounded, a bad one refused naming the option, help from the declarations. */
import { describe, expect, it } from "vitest";
import { parseScriptArgs, scriptHelp } from "../../scripts/lib/script-args";

const OPTIONS = {
  rounds: { type: "int", default: 3, min: 1, max: 10, help: "interleaved rounds" },
  rate: { type: "number", default: 40, min: 0, exclusiveMin: true, help: "evaluations per second" },
  only: { type: "list", default: ["a", "b"], choices: ["a", "b", "c"], help: "groups" },
  url: { type: "string", placeholder: "URL", help: "base URL" },
  regress: { type: "boolean", help: "make it worse" },
} as const;

describe("script arguments", () => {
  it("gives the defaults, and the values given, typed", () => {
    expect(parseScriptArgs(OPTIONS, [])).toEqual({ kind: "ok", values: { rounds: 3, rate: 40, only: ["a", "b"], url: undefined, regress: false } });
    expect(parseScriptArgs(OPTIONS, ["--rounds", "7", "--rate=2.5", "--only", "c", "--url", "http://127.0.0.1:1", "--regress"])).toEqual({ kind: "ok", values: { rounds: 7, rate: 2.5, only: ["c"], url: "http://127.0.0.1:1", regress: true } });
  });

  it("refuses what is out of bounds, mistyped, unknown or not a choice, naming the option", () => {
    const error = (argv: string[]) => {
      const result = parseScriptArgs(OPTIONS, argv);
      return result.kind === "error" ? result.message : result.kind;
    };
    expect(error(["--rounds", "11"])).toBe("--rounds must be an integer from 1 to 10 (got 11)");
    expect(error(["--rounds", "2.5"])).toBe("--rounds must be an integer from 1 to 10 (got 2.5)");
    expect(error(["--rate", "0"])).toBe("--rate must be a number > 0 (got 0)");
    expect(error(["--only", "a,z"])).toBe("--only: unknown z; choose from a, b, c");
    expect(error(["--nope"])).toContain("--nope");
    expect(error(["stray"])).toContain("stray");
    expect(error(["-h"])).toBe("help");
  });

  it("prints help from the declarations", () => {
    const help = scriptHelp({ command: "npm run bench:x", about: "what it does" }, OPTIONS);
    expect(help.split("\n").slice(0, 2)).toEqual(["usage: npm run bench:x -- [options]", "what it does"]);
    expect(help).toMatch(/--rounds N +interleaved rounds \(default 3\)/);
    expect(help).toMatch(/--only a,b +groups \(default a,b\); of a, b, c/);
    expect(help).toMatch(/--regress +make it worse$/m);
  });
});
