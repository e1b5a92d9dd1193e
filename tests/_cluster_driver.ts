/**
 * A program that uses bgjobs' cluster as a notebook would, driven by the
 * cluster tests: one JSON command per line on stdin, one JSON answer per
 * line on stdout (`{ "ok": … }` or `{ "error": … }`). Run it on a test host.
 *
 * @module
 */
import { type Job, job, jobs } from "../mod.ts";

import { nats } from "../lib/cluster/nats.ts";
import { ClusterNames } from "../lib/cluster/cluster_options.ts";

const running = new Map<string, Job<unknown>>();

async function run(command: Record<string, unknown>): Promise<unknown> {
  switch (command.do) {
    case "configure":
      await jobs.configure({ cluster: command.cluster as string });
      for (
        let i = 0;
        i < 100 && jobs.runners.length < Number(command.runners ?? 1);
        i++
      ) {
        await new Promise((r) => setTimeout(r, 100));
      }
      return jobs.runners.map((r) => r.name).sort();
    case "runners":
      return jobs.runners.map((r) => ({ name: r.name, running: r.running }));
    case "ping": {
      const t0 = performance.now();
      const value = await job(() => 6 * 7, { on: "cluster" });
      return { value, ms: performance.now() - t0 };
    }
    case "map": {
      // Each item says which host ran it.
      const where = await jobs.map(
        Array.from({ length: Number(command.items) }, (_, i) => i),
        async (i: number) => {
          await new Promise((r) => setTimeout(r, 200));
          const eth0 = Deno.networkInterfaces().find((n) =>
            n.name === "eth0" && n.family === "IPv4"
          );
          return `${i}@${eth0?.address}`;
        },
        { on: "cluster", concurrency: 4 },
      );
      return where;
    }
    case "start": {
      // A job that tells its pid, then works for a while (busy or not).
      const ms = Number(command.seconds) * 1000;
      const work = command.busy === true
        ? `const end = Date.now() + ${ms}; while (Date.now() < end) {}`
        : `await new Promise((r) => setTimeout(r, ${ms}));`;
      const j = job(
        `share("pid", Deno.pid);\n${work}\nexport const done = "finished";`,
        { on: "cluster", name: String(command.name) },
      );
      running.set(String(command.name), j);
      for (let i = 0; i < 300 && !("pid" in j.exports); i++) {
        if (j.status !== "running" && j.status !== "queued") break;
        await new Promise((r) => setTimeout(r, 50));
      }
      return { where: j.where, pid: j.exports.pid, status: j.status };
    }
    case "printer": {
      const lines = Number(command.lines);
      const j = job(
        `for (let i = 0; i < ${lines}; i++) {
          console.log("line " + i);
          progress(i + 1, ${lines});
          await new Promise((r) => setTimeout(r, 100));
        }
        export const printed = ${lines};`,
        { on: "cluster", name: String(command.name) },
      );
      running.set(String(command.name), j);
      return { status: j.status };
    }
    case "await": {
      const j = running.get(String(command.name))!;
      const t0 = Date.now();
      const status = await j.done;
      return {
        status,
        result: j.result,
        error: j.error?.message,
        waitedMs: Date.now() - t0,
        logLines: j.logs.split("\n").filter(Boolean).length,
        progress: j.progress,
      };
    }
    case "kill": {
      const j = running.get(String(command.name))!;
      const t0 = performance.now();
      await jobs.kill(j.id);
      return { status: j.status, ms: performance.now() - t0 };
    }
    case "admit":
      try {
        job(() => 1, { on: "cluster", permissions: { net: true } });
        return "admitted";
      } catch (error) {
        return `${(error as Error).name}: ${(error as Error).message}`;
      }
    case "hostile": {
      // Garbage and malformed requests straight to every runner.
      const clients = await nats();
      const nc = await clients.connect({ servers: command.cluster as string });
      const names = new ClusterNames();
      const answers: string[] = [];
      for (const runner of jobs.runners) {
        const subject = names.runner(runner.id);
        nc.publish(subject, crypto.getRandomValues(new Uint8Array(64)));
        nc.publish(subject, new Uint8Array(0));
        for (
          const payload of [
            new TextEncoder().encode('{"t":"start"}'),
            crypto.getRandomValues(new Uint8Array(300)),
          ]
        ) {
          const reply = await nc.request(subject, payload, { timeout: 5000 });
          answers.push(new TextDecoder().decode(reply.data));
        }
      }
      await nc.drain();
      return answers.length;
    }
    case "exit":
      await jobs.shutdown();
      setTimeout(() => Deno.exit(0), 10);
      return "bye";
  }
  throw new Error(`unknown command ${JSON.stringify(command)}`);
}

let partial = "";
for await (
  const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())
) {
  const parts = (partial + chunk).split("\n");
  partial = parts.pop()!;
  for (const line of parts) {
    if (!line.trim()) continue;
    const command = JSON.parse(line);
    run(command).then(
      (ok) => console.log(JSON.stringify({ id: command.id, ok })),
      (error) =>
        console.log(JSON.stringify({ id: command.id, error: String(error) })),
    );
  }
}
