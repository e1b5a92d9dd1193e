// bgjobs' JavaScript parser, @babel/parser, loaded from bgjobs' cache (see
// `deps/npm_bundle.ts`), never through a static `npm:` import, so bgjobs
// imports whatever the notebook's folder holds (a package.json, a
// node_modules, a frozen lock file). Measured (2 cores, Deno 2.9.6):
// building it adds 0.25–0.45 s to the first import on a machine; loading it
// after takes ~10 ms (the `npm:` import took ~40 ms); parsing is unchanged.
import { loadNpmBundle } from "../deps/npm_bundle.ts";
import type { Node } from "./scope_walker.ts";

const VERSION = "7.26.3";

/** The options of Babel's `parse` bgjobs uses. */
export interface ParseOptions {
  /** How the code is parsed: always `"module"` here. */
  sourceType: "module";
  /** Syntax plugins (Babel's names, some with options). */
  plugins: readonly unknown[];
  /** Top-level `await` outside a function, as in a notebook cell. */
  allowAwaitOutsideFunction: boolean;
}

/** Babel's `parse`: the file's `estree`-shaped AST (`program` in it). */
export type Parse = (code: string, options: ParseOptions) => { program: Node };

async function load(): Promise<Parse> {
  const module = await loadNpmBundle({
    file: `babel-parser-${VERSION}.min.js`,
    what: "bgjobs' parser",
    spec: `npm:@babel/parser@${VERSION}`,
    entry: `export { parse } from "npm:@babel/parser@${VERSION}";\n`,
  });
  if (typeof module.parse !== "function") {
    throw new TypeError("bgjobs' parser file does not export parse()");
  }
  return module.parse as Parse;
}

/** Babel's `parse`, loaded (built the first time) when this module loads. */
export const parse: Parse = await load();
