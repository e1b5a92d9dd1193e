import assert from "node:assert/strict";
import { job, jobs } from "../../mod.ts";
import { renderPanel } from "../../kernel_ext/panel_view.ts";
import { jobTest } from "../_util.ts";

// bgjobs' own code: the runtime bundle, or any of its sources.
const OWN_FRAME = /_bundle\.js|\/lib\/(runtime|protocol|codec)\/|\(ext:/;

function helper(): never {
  throw new RangeError("deep failure");
}

jobTest(
  "a failed job's stack and panel show the user's frames and none of bgjobs' own",
  async () => {
    (globalThis as Record<string, unknown>).helper = helper;
    try {
      const failing = [
        job(() => {
          const call = () => helper();
          return call();
        }),
        job(async () => {
          await new Promise((r) => setTimeout(r, 1));
          throw new TypeError("late failure");
        }),
        job("export const x = 1;\nthrow new SyntaxError('module failure');"),
      ];
      for (const j of failing) {
        assert.equal(await j.done, "failed");
        const stack = j.error!.stack!;
        assert.match(stack, /<job>:\d+:\d+/, stack);
        assert.doesNotMatch(stack, OWN_FRAME, stack);
        const cause = (j.error!.cause as Error).stack!;
        assert.doesNotMatch(cause, OWN_FRAME, cause);
        const panel = renderPanel(j);
        assert.match(panel["text/plain"], /<job>/);
        assert.doesNotMatch(
          panel["text/plain"],
          OWN_FRAME,
          panel["text/plain"],
        );
        assert.doesNotMatch(panel["text/html"], OWN_FRAME);
      }
      assert.match(
        failing[0].error!.stack!,
        /at helper \(<notebook>:\d+:\d+\)/,
      );
    } finally {
      delete (globalThis as Record<string, unknown>).helper;
      await jobs.shutdown();
    }
  },
);
