// A nats-server with JetStream on 127.0.0.1 for cluster tests, and free
// ports to run it on.
import { findNatsServer } from "../lib/cluster/local_cluster.ts";

/** A TCP port free on 127.0.0.1 now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * Starts `nats-server -js` on 127.0.0.1 with `args` (its port, auth, TLS),
 * its store in a temp dir; disposing SIGKILLs it and removes the store.
 */
export async function natsServer(args: string[]): Promise<AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "bgjobs_nats_" });
  const child = new Deno.Command(findNatsServer()!, {
    args: ["-js", "-a", "127.0.0.1", "-sd", dir, ...args],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  while (!log.includes("Server is ready")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`nats-server did not start: ${log}`);
    log += value;
  }
  reader.releaseLock();
  return {
    async [Symbol.asyncDispose](): Promise<void> {
      child.kill("SIGKILL");
      await child.status;
      await child.stderr.cancel().catch(() => {});
      await Deno.remove(dir, { recursive: true });
    },
  };
}
