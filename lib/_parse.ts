// Parsing job code with a real parser (Babel, TypeScript syntax included).
import { parse as babelParse } from "npm:@babel/parser@7.26.3";

/** An ESTree program as Babel's `estree` plugin produces it. */
// deno-lint-ignore no-explicit-any
export type Program = any;

/**
 * Parses code as a module (TypeScript accepted, top-level await allowed).
 *
 * @throws {TypeError} With Babel's message and position when it does not parse.
 */
export function parseModule(code: string, what = "job code"): Program {
  try {
    return babelParse(code, {
      sourceType: "module",
      plugins: ["typescript", "estree"],
      allowAwaitOutsideFunction: true,
      allowReturnOutsideFunction: false,
      errorRecovery: false,
    }).program;
  } catch (error) {
    throw new TypeError(
      `Cannot start a job: its ${what} does not parse: ${
        (error as Error).message
      }; fix the code`,
      { cause: error },
    );
  }
}

/** Whether a parsed program is one expression (IPython's `jobs.new("expr")`). */
export function isSingleExpression(program: Program): boolean {
  return program.body.length === 1 &&
    program.body[0].type === "ExpressionStatement" &&
    program.body[0].directive === undefined;
}
