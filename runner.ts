/**
 * A bgjobs runner: run it on each machine of a cluster, and notebooks send
 * it jobs with `job(fn, { on: "cluster" })` once they have called
 * `jobs.configure({ cluster: "nats://HOST:4222" })`. The machines meet
 * through one NATS server with JetStream (`nats-server -js`, Debian's
 * `nats-server`).
 *
 * ```sh
 * deno run -A jsr:@x/bgjobs/runner --server nats://HOST:4222 \
 *   [--name NAME] [--cluster NAME] [--concurrency N] \
 *   [--max-permissions all|none|net,read=/data:/tmp] \
 *   [--token T | --user U --password P | --creds FILE | --nkey-seed SEED] \
 *   [--tls-ca FILE] [--tls-cert FILE --tls-key FILE]
 * ```
 *
 * It runs each job in a job runtime of its machine, as a kernel does
 * locally, within `--max-permissions` (default: all). It stops, killing its
 * jobs, on SIGINT or SIGTERM (and with `--exit-with-stdin`, when its
 * standard input ends).
 *
 * @example Usage
 * ```ts ignore
 * import { Runner } from "jsr:@x/bgjobs/runner";
 * await using runner = await Runner.start({ cluster: { servers: "nats://127.0.0.1:4222" } });
 * console.log(runner.name, runner.concurrency);
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Runner } from "./lib/runner/runner.ts";
import { checkCluster } from "./lib/cluster/cluster_options.ts";
import { parsePermissions } from "./lib/sandbox/permissions.ts";
import { passOn } from "./lib/launch/bulk_socket.ts";

export { Runner, type RunnerOptions } from "./lib/runner/runner.ts";
export type { ClusterOptions } from "./lib/cluster/cluster_options.ts";
export type { RunnerInfo, WirePermissions } from "./lib/protocol/messages.ts";
export type {
  PermissionName,
  PermissionValue,
  ResolvedPermissions,
} from "./lib/sandbox/permissions.ts";

const USAGE =
  `Usage: deno run -A jsr:@x/bgjobs/runner --server nats://HOST:4222 [options]
  --name NAME              how notebooks name it (default: the host name)
  --cluster NAME           the cluster's name (default: default)
  --concurrency N          job runtimes at once (default: the number of cores)
  --max-permissions LIST   all, none, or e.g. net,read=/data:/tmp (default: all)
  --token T | --token-file FILE | --user U --password P | --creds FILE | --nkey-seed SEED
  --tls-ca FILE  [--tls-cert FILE --tls-key FILE]
  --bulk-port N|off        where big results are fetched from (default: any free port)
  --exit-with-stdin        stop when standard input ends`;

async function main(args: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args,
      options: {
        server: { type: "string", multiple: true },
        name: { type: "string" },
        cluster: { type: "string" },
        concurrency: { type: "string" },
        "max-permissions": { type: "string" },
        token: { type: "string" },
        "token-file": { type: "string" },
        user: { type: "string" },
        password: { type: "string" },
        creds: { type: "string" },
        "nkey-seed": { type: "string" },
        "tls-ca": { type: "string" },
        "tls-cert": { type: "string" },
        "tls-key": { type: "string" },
        "exit-with-stdin": { type: "boolean" },
        "bulk-port": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const concurrency = values.concurrency === undefined
      ? undefined
      : Number(values.concurrency);
    if (
      concurrency !== undefined &&
      (!Number.isInteger(concurrency) || concurrency < 1)
    ) throw new RangeError("--concurrency takes a whole number ≥ 1");
    const tls = values["tls-ca"] || values["tls-cert"]
      ? {
        caFile: values["tls-ca"],
        certFile: values["tls-cert"],
        keyFile: values["tls-key"],
      }
      : undefined;
    const cluster = checkCluster({
      servers: values.server ?? [],
      name: values.cluster,
      // A file keeps the token out of the process list.
      token: values["token-file"]
        ? (await Deno.readTextFile(values["token-file"])).trim()
        : values.token,
      user: values.user,
      password: values.password,
      credsFile: values.creds,
      nkeySeed: values["nkey-seed"],
      tls,
    });
    // This process only passes results on: a big one is sent on to the
    // kernel as it comes from the runtime.
    passOn.readBehind = true;
    const runner = await Runner.start({
      cluster,
      name: values.name,
      concurrency,
      bulkPort: values["bulk-port"] === "off"
        ? false
        : Number(values["bulk-port"] ?? 0),
      maxPermissions: values["max-permissions"] === undefined
        ? undefined
        : parsePermissions(values["max-permissions"]),
    });
    console.log(
      `bgjobs runner ${runner.name} (${runner.id}) on ${Deno.hostname()}: ${runner.concurrency} at once, cluster "${
        cluster.name ?? "default"
      }" at ${[cluster.servers].flat().join(", ")}`,
    );
    const stopped = Promise.withResolvers<void>();
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(signal, () => stopped.resolve());
    }
    if (values["exit-with-stdin"]) {
      (async () => {
        for await (const _ of Deno.stdin.readable) { /* until it ends */ }
        stopped.resolve();
      })();
    }
    await stopped.promise;
    await runner.close();
    return 0;
  } catch (error) {
    console.error(`bgjobs runner: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
