/**
 * The process one batch of an in-Deno contender runs in:
 * `deno run -A --unstable-worker-options bench/_runner.ts '<json>'` with the
 * scenario file, the contender's name and the {@linkcode RunContext}. It
 * prints the batch (see `_batch.ts`) and exits, ending any thread the
 * contender could not stop. A kernel case's cell imports it and calls
 * {@linkcode runContender} itself.
 *
 * @module
 */
import { emitBatch } from "./_batch.ts";
import type { RunContext, Scenario } from "./_scenario.ts";
import type { Batch } from "./_stats.ts";

/**
 * Runs one batch of a contender, as `arg` (JSON: scenario URL, contender
 * name, context) asks; a contender that throws gives a failed batch.
 */
export async function runContender(arg: string): Promise<Batch> {
  const { scenario: url, contender: name, ctx } = JSON.parse(arg) as {
    scenario: string;
    contender: string;
    ctx: RunContext;
  };
  const scenario = (await import(url)).default as Scenario;
  const contender = scenario.contenders.find((c) => c.name === name);
  if (!contender?.run) {
    return {
      samples: [],
      outcome: "failed",
      note: `no in-process contender ${name} in ${scenario.id}`,
    };
  }
  try {
    return await contender.run(ctx);
  } catch (error) {
    const message = error instanceof Error
      ? `${error.name}: ${error.message}`
      : String(error);
    return { samples: [], outcome: "failed", note: message.slice(0, 300) };
  }
}

if (import.meta.main) {
  emitBatch(await runContender(Deno.args[0]));
  Deno.exit(0);
}
