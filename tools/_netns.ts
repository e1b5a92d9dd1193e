/**
 * Test hosts in network namespaces (for the cluster tests and bench): a bridge on this machine, one veth pair
 * per host with its far end in the host's namespace, addresses in
 * 10.199.N.0/24 (N random per run). Everything is removed on dispose. Only
 * these addresses (and 127.0.0.1) are ever contacted. Needs root and `ip`.
 *
 * @module
 */

async function ip(...args: string[]): Promise<void> {
  const out = await new Deno.Command("ip", {
    args,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `ip ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
}

/** Whether network namespaces can be made here (root, `ip`). */
export async function canMakeHosts(): Promise<string | undefined> {
  if (Deno.uid() !== 0) return "network namespaces need root";
  try {
    await new Deno.Command("ip", { args: ["-V"], stdout: "null" }).output();
  } catch {
    return "the ip command (iproute2) is missing: apt-get install -y iproute2";
  }
  return undefined;
}

/** A set of test hosts. */
export class Hosts implements AsyncDisposable {
  readonly #tag: string;
  readonly #net: number;
  readonly #names: string[];
  readonly #children = new Set<Deno.ChildProcess>();

  private constructor(tag: string, net: number, names: string[]) {
    this.#tag = tag;
    this.#net = net;
    this.#names = names;
  }

  /**
   * Makes the hosts, connected through one bridge.
   *
   * @param names Short host names (letters, ≤ 4).
   * @returns The hosts.
   */
  static async create(names: string[]): Promise<Hosts> {
    const tag = crypto.randomUUID().slice(0, 4);
    const net = 10 + Math.floor(Math.random() * 200);
    const hosts = new Hosts(tag, net, names);
    try {
      await ip("link", "add", hosts.#bridge, "type", "bridge");
      await ip("link", "set", hosts.#bridge, "up");
      for (const [i, name] of names.entries()) {
        const ns = hosts.ns(name);
        const outside = `bgv${tag}${i}`;
        await ip("netns", "add", ns);
        await ip(
          "link",
          "add",
          outside,
          "type",
          "veth",
          "peer",
          "name",
          "eth0",
          "netns",
          ns,
        );
        await ip("link", "set", outside, "master", hosts.#bridge);
        await ip("link", "set", outside, "up");
        await ip(
          "netns",
          "exec",
          ns,
          "ip",
          "addr",
          "add",
          `${hosts.ip(name)}/24`,
          "dev",
          "eth0",
        );
        await ip("netns", "exec", ns, "ip", "link", "set", "eth0", "up");
        await ip("netns", "exec", ns, "ip", "link", "set", "lo", "up");
      }
      return hosts;
    } catch (error) {
      await hosts.remove();
      throw error;
    }
  }

  get #bridge(): string {
    return `bgbr${this.#tag}`;
  }

  /** The namespace of a host. */
  ns(name: string): string {
    return `bgjobs-${this.#tag}-${name}`;
  }

  /** The address of a host. */
  ip(name: string): string {
    return `10.199.${this.#net}.${this.#names.indexOf(name) + 2}`;
  }

  /**
   * Starts a program on a host, in a process group of its own.
   *
   * @param name The host.
   * @param program The program.
   * @param args Its arguments.
   * @param options Standard streams and environment.
   * @returns The process (killed with its group on dispose).
   */
  spawn(
    name: string,
    program: string,
    args: string[],
    options: Omit<Deno.CommandOptions, "args"> = {},
  ): Deno.ChildProcess {
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", this.ns(name), program, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      detached: true,
      ...options,
    }).spawn();
    this.#children.add(child);
    child.status.then(() => this.#children.delete(child));
    return child;
  }

  /**
   * Cuts or restores a host's link.
   *
   * @param name The host.
   * @param up `false` to cut it.
   */
  async link(name: string, up: boolean): Promise<void> {
    await ip(
      "netns",
      "exec",
      this.ns(name),
      "ip",
      "link",
      "set",
      "eth0",
      up ? "up" : "down",
    );
  }

  /** Kills every process started, and removes the hosts and the bridge. */
  async remove(): Promise<void> {
    for (const child of this.#children) {
      try {
        Deno.kill(-child.pid, "SIGKILL");
      } catch { /* gone */ }
      await child.status.catch(() => {});
    }
    for (const name of this.#names) {
      await ip("netns", "del", this.ns(name)).catch(() => {});
    }
    await ip("link", "del", this.#bridge).catch(() => {});
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.remove();
  }
}

/**
 * Reads a process's stdout (or stderr) line by line.
 *
 * @param child The process.
 * @param stream Which of its outputs.
 * @returns `next(match)`: the next line matching, waiting up to `ms`.
 */
export function lines(
  child: Deno.ChildProcess,
  stream: "stdout" | "stderr" = "stdout",
): {
  next(match: RegExp, ms?: number): Promise<string>;
  all(): string[];
} {
  const seen: string[] = [];
  let wake: (() => void) | undefined;
  (async () => {
    let partial = "";
    for await (
      const chunk of child[stream].pipeThrough(new TextDecoderStream())
    ) {
      const parts = (partial + chunk).split("\n");
      partial = parts.pop()!;
      seen.push(...parts);
      wake?.();
    }
    if (partial) seen.push(partial);
    wake?.();
  })().catch(() => {});
  let from = 0;
  return {
    async next(match: RegExp, ms = 30_000): Promise<string> {
      const end = Date.now() + ms;
      for (;;) {
        for (; from < seen.length; from++) {
          if (match.test(seen[from])) return seen[from++];
        }
        if (Date.now() > end) {
          throw new Error(
            `no line matching ${match} within ${ms} ms; got:\n${
              seen.join("\n")
            }`,
          );
        }
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 100);
        });
      }
    },
    all: () => seen,
  };
}
