// What the kernel asks of libc directly, where the process may: through FFI,
// with the `ffi` permission (a Jupyter kernel has every permission), on
// glibc Linux. Anywhere else each has its fallback, and nothing prompts.
//
// - Huge pages for a big result's buffer. Receiving a big buffer costs
//   mostly the first touch of its fresh pages, one page fault per 4 KiB (in
//   a VM that shadows page tables, each is a trip to the hypervisor). Where
//   transparent huge pages are on for memory that asks for them (`madvise`,
//   the default of many distributions), one `madvise(MADV_HUGEPAGE)` makes
//   a buffer fault in 2 MiB at a time.
// - FIFOs for a runtime's channel, without starting a `mkfifo` process for
//   each runtime (a process costs ~3 ms of CPU here, a call microseconds).
// - A buffer's first touch from user code on a blocking thread (`memset`,
//   non-blocking), for a buffer made ready ahead of a big result.
// - Another process's memory, read (`process_vm_readv`): a big result
//   pulled from its runtime (see `os/pull.ts`).
// - A runtime started in a session of its own, its output on a socket
//   (`posix_spawn` with `POSIX_SPAWN_SETSID`): without the `setsid` and `sh`
//   a launcher is, ~4 ms of CPU a job here (see `launch/direct_child.ts`).

const MADV_HUGEPAGE = 14;
const PAGE = 4096n;

type Libc = {
  madvise(address: Deno.PointerValue, length: bigint, advice: number): number;
  mkfifo(path: BufferSource, mode: number): number;
  memset(
    address: Deno.PointerValue,
    value: number,
    length: bigint,
  ): Promise<Deno.PointerValue>;
  process_vm_readv: VmCall;
  process_vm_readv_async: (...args: Parameters<VmCall>) => Promise<bigint>;
  socket(domain: number, type: number, protocol: number): number;
  connect(fd: number, address: BufferSource, length: number): number;
  close(fd: number): number;
  posix_spawn(
    pid: BufferSource,
    path: BufferSource,
    actions: BufferSource,
    attributes: BufferSource,
    argv: BufferSource,
    envp: BufferSource,
  ): number;
  posix_spawnattr_init(attributes: BufferSource): number;
  posix_spawnattr_destroy(attributes: BufferSource): number;
  posix_spawnattr_setflags(attributes: BufferSource, flags: number): number;
  posix_spawnattr_setsigmask(
    attributes: BufferSource,
    set: BufferSource,
  ): number;
  posix_spawnattr_setsigdefault(
    attributes: BufferSource,
    set: BufferSource,
  ): number;
  posix_spawn_file_actions_init(actions: BufferSource): number;
  posix_spawn_file_actions_destroy(actions: BufferSource): number;
  posix_spawn_file_actions_adddup2(
    actions: BufferSource,
    fd: number,
    to: number,
  ): number;
  posix_spawn_file_actions_addopen(
    actions: BufferSource,
    fd: number,
    path: BufferSource,
    flags: number,
    mode: number,
  ): number;
  posix_spawn_file_actions_addchdir_np:
    | ((actions: BufferSource, path: BufferSource) => number)
    | null;
  waitpid(pid: number, status: BufferSource, options: number): number;
};

type VmCall = (
  pid: number,
  local: BufferSource,
  localCount: bigint,
  remote: BufferSource,
  remoteCount: bigint,
  flags: bigint,
) => bigint;

const VM_CALL = {
  parameters: ["i32", "buffer", "u64", "buffer", "u64", "u64"],
  result: "i64",
} as const;

let libc: Libc | null | undefined;

function open(): Libc | null {
  try {
    const { state } = Deno.permissions.querySync({ name: "ffi" });
    if (state !== "granted" || Deno.build.os !== "linux") return null;
    return Deno.dlopen("libc.so.6", {
      madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
      mkfifo: { parameters: ["buffer", "u32"], result: "i32" },
      memset: {
        parameters: ["pointer", "i32", "usize"],
        result: "pointer",
        nonblocking: true,
      },
      process_vm_readv: VM_CALL,
      process_vm_readv_async: {
        ...VM_CALL,
        name: "process_vm_readv",
        nonblocking: true,
      },
      socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
      connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
      close: { parameters: ["i32"], result: "i32" },
      posix_spawn: {
        parameters: [
          "buffer",
          "buffer",
          "buffer",
          "buffer",
          "buffer",
          "buffer",
        ],
        result: "i32",
      },
      posix_spawnattr_init: { parameters: ["buffer"], result: "i32" },
      posix_spawnattr_destroy: { parameters: ["buffer"], result: "i32" },
      posix_spawnattr_setflags: {
        parameters: ["buffer", "i16"],
        result: "i32",
      },
      posix_spawnattr_setsigmask: {
        parameters: ["buffer", "buffer"],
        result: "i32",
      },
      posix_spawnattr_setsigdefault: {
        parameters: ["buffer", "buffer"],
        result: "i32",
      },
      posix_spawn_file_actions_init: { parameters: ["buffer"], result: "i32" },
      posix_spawn_file_actions_destroy: {
        parameters: ["buffer"],
        result: "i32",
      },
      posix_spawn_file_actions_adddup2: {
        parameters: ["buffer", "i32", "i32"],
        result: "i32",
      },
      posix_spawn_file_actions_addopen: {
        parameters: ["buffer", "i32", "buffer", "i32", "u32"],
        result: "i32",
      },
      // glibc 2.29 on: without it, no session spawns (canSpawnSession()).
      posix_spawn_file_actions_addchdir_np: {
        parameters: ["buffer", "buffer"],
        result: "i32",
        optional: true,
      },
      waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
    }).symbols as unknown as Libc;
  } catch {
    return null;
  }
}

function symbols(): Libc | null {
  return libc ??= open();
}

/**
 * Asks the kernel to back `bytes` (fresh, not yet touched) with huge pages,
 * as far as whole pages of it go.
 *
 * @returns Whether the advice was taken.
 */
export function adviseHugePages(bytes: Uint8Array): boolean {
  const c = symbols();
  if (!c) return false;
  try {
    const at = addressOf(bytes);
    const start = (at + PAGE - 1n) / PAGE * PAGE;
    const end = (at + BigInt(bytes.byteLength)) / PAGE * PAGE;
    if (end <= start) return false;
    return c.madvise(
      Deno.UnsafePointer.create(start),
      end - start,
      MADV_HUGEPAGE,
    ) === 0;
  } catch {
    return false;
  }
}

/**
 * Zeroes `bytes` from user code on one of Deno's blocking threads, which
 * faults its pages in there. `bytes` must stay referenced until it settles.
 *
 * @returns Whether it was done (`false`: this process cannot call libc).
 */
export async function touchOffThread(bytes: Uint8Array): Promise<boolean> {
  const c = symbols();
  if (!c || bytes.byteLength === 0) return false;
  try {
    await c.memset(Deno.UnsafePointer.of(bytes), 0, BigInt(bytes.byteLength));
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes a FIFO at `path` with `mode`, when this process can call libc.
 *
 * @returns `true` when made, `false` when it could not be asked (use the
 * `mkfifo` program).
 * @throws When libc was asked and failed (e.g. the path exists).
 */
export function makeFifo(path: string, mode: number): boolean {
  const c = symbols();
  if (!c) return false;
  const name = new TextEncoder().encode(`${path}\0`);
  if (c.mkfifo(name, mode) !== 0) {
    throw new Error(`Cannot make the FIFO ${path}`);
  }
  return true;
}

/** Where bytes are, in this process or another: an address and a length. */
export interface Span {
  /** The address. */
  at: bigint;
  /** The length in bytes. */
  length: number;
}

function iovecs(spans: readonly Span[]): BigUint64Array<ArrayBuffer> {
  const vec = new BigUint64Array(2 * spans.length);
  spans.forEach((span, i) => {
    vec[2 * i] = span.at;
    vec[2 * i + 1] = BigInt(span.length);
  });
  return vec;
}

/** The address of `bytes`' first byte in this process. */
export function addressOf(bytes: Uint8Array): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
}

/**
 * Whether this process may call {@linkcode readOtherProcess} at all (whether
 * the other process lets it is known only by trying).
 *
 * @returns `true` on Linux with the `ffi` permission and glibc.
 */
export function canReachOtherProcesses(): boolean {
  return symbols() !== null;
}

/**
 * Reads the other process `pid`'s memory at `remote` into `into`, in one
 * call, synchronously (`process_vm_readv`).
 *
 * @param pid The other process.
 * @param into Where to, in this process.
 * @param remote Where from, in the other: as many spans as `into` holds.
 * @returns How many bytes were read (fewer when a span is not mapped there),
 * or -1 when refused.
 */
export function readOtherProcess(
  pid: number,
  into: Uint8Array,
  remote: readonly Span[],
): number {
  const c = symbols();
  if (!c) return -1;
  const local = iovecs([{ at: addressOf(into), length: into.byteLength }]);
  return Number(c.process_vm_readv(
    pid,
    local,
    1n,
    iovecs(remote),
    BigInt(remote.length),
    0n,
  ));
}

/**
 * {@linkcode readOtherProcess} of one span on one of Deno's blocking
 * threads. `into` must stay referenced until it settles.
 *
 * @param pid The other process.
 * @param into Where to, in this process.
 * @param at Where from, in the other (`into.byteLength` bytes).
 * @returns How many bytes were read, or -1 when refused.
 */
export async function readOtherProcessOffThread(
  pid: number,
  into: Uint8Array,
  at: bigint,
): Promise<number> {
  const c = symbols();
  if (!c) return -1;
  const local = iovecs([{ at: addressOf(into), length: into.byteLength }]);
  const remote = iovecs([{ at, length: into.byteLength }]);
  return Number(await c.process_vm_readv_async(pid, local, 1n, remote, 1n, 0n));
}

// glibc's values, the same on every Linux architecture Deno runs on.
const AF_UNIX = 1;
const SOCK_STREAM_CLOEXEC = 1 | 0o2000000;
const O_RDONLY = 0;
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const POSIX_SPAWN_SETSID = 0x80;
const SIGPIPE = 13;
const WNOHANG = 1;
// Room for glibc's posix_spawnattr_t (336 bytes), posix_spawn_file_actions_t
// (80) and sigset_t (128), whatever their size elsewhere.
const OPAQUE = 1024;

/**
 * Whether {@linkcode spawnSession} can be asked here.
 *
 * @returns `true` on glibc Linux (2.29 on) with the `ffi` permission.
 */
export function canSpawnSession(): boolean {
  return !!symbols()?.posix_spawn_file_actions_addchdir_np;
}

/** What {@linkcode spawnSession} starts. */
export interface SessionSpawn {
  /** The program's absolute path. */
  program: string;
  /** Its arguments, after its name. */
  args: readonly string[];
  /** Its whole environment. */
  env: Readonly<Record<string, string>>;
  /** Its working directory. */
  cwd: string;
  /** A listening Unix socket: its stdout and stderr, both, connect there. */
  output: string;
}

// Lists of strings as C strings, all in one buffer (too big for V8 to keep
// it in its heap, where a collection could move it): each string's bytes,
// and a NULL-ended array of their addresses for each list.
function cStrings(lists: string[][]): {
  strings: Uint8Array<ArrayBuffer>[][];
  arrays: BigUint64Array<ArrayBuffer>[];
} {
  const encoder = new TextEncoder();
  const encoded = lists.map((list) => list.map((s) => encoder.encode(s)));
  let size = 64;
  for (const list of encoded) for (const s of list) size += s.byteLength + 1;
  const bytes = new Uint8Array(size);
  const base = addressOf(bytes);
  let at = 0;
  const strings = encoded.map((list) =>
    list.map((s) => {
      bytes.set(s, at);
      at += s.byteLength + 1;
      return bytes.subarray(at - s.byteLength - 1, at);
    })
  );
  const arrays = strings.map((list) => {
    const array = new BigUint64Array(Math.max(list.length + 1, 16));
    list.forEach((s, i) => array[i] = base + BigInt(s.byteOffset));
    return array;
  });
  return { strings, arrays };
}

/**
 * Starts a program leading a session (and so a process group) of its own,
 * its stdin `/dev/null`, its stdout and stderr one connection to the
 * listening socket `output`, so what it writes keeps its order. The call
 * returns once the program has replaced the child (glibc's `posix_spawn`
 * uses `vfork`: no copy of this process's page tables, however big).
 *
 * @param spawn What to start, and where.
 * @returns Its pid.
 * @throws When libc cannot be asked ({@linkcode canSpawnSession}), the
 * socket cannot be reached, or the program cannot be started.
 */
export function spawnSession(spawn: SessionSpawn): number {
  const c = symbols();
  if (!c?.posix_spawn_file_actions_addchdir_np) {
    throw new Error("Cannot spawn through libc here");
  }
  const fd = c.socket(AF_UNIX, SOCK_STREAM_CLOEXEC, 0);
  if (fd < 0) throw new Error("Cannot make a socket for a job's output");
  const attributes = new Uint8Array(OPAQUE);
  const actions = new Uint8Array(OPAQUE);
  let made = 0;
  try {
    const address = new Uint8Array(110);
    const path = new TextEncoder().encode(spawn.output);
    if (path.byteLength >= address.byteLength - 2) {
      throw new RangeError(`Socket path too long: ${spawn.output}`);
    }
    new DataView(address.buffer).setUint16(0, AF_UNIX, true);
    address.set(path, 2);
    if (c.connect(fd, address, address.byteLength) !== 0) {
      throw new Error(`Cannot connect to ${spawn.output}`);
    }
    if (c.posix_spawnattr_init(attributes) !== 0) {
      throw new Error("Cannot set up a job's spawn attributes");
    }
    made |= 1;
    // Nothing blocked, SIGPIPE by default: a child of Deno's (which ignores
    // SIGPIPE) would inherit the ignoring, as Rust's own spawn avoids.
    const none = new Uint8Array(OPAQUE / 8);
    const pipe = new Uint8Array(OPAQUE / 8);
    pipe[(SIGPIPE - 1) >> 3] |= 1 << ((SIGPIPE - 1) & 7);
    c.posix_spawnattr_setsigmask(attributes, none);
    c.posix_spawnattr_setsigdefault(attributes, pipe);
    c.posix_spawnattr_setflags(
      attributes,
      POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF,
    );
    if (c.posix_spawn_file_actions_init(actions) !== 0) {
      throw new Error("Cannot set up a job's file actions");
    }
    made |= 2;
    const {
      strings: [[devNull, cwd, program]],
      arrays: [, argv, envp],
    } = cStrings([
      ["/dev/null", spawn.cwd, spawn.program],
      [spawn.program, ...spawn.args],
      Object.entries(spawn.env).map(([k, v]) => `${k}=${v}`),
    ]);
    if (
      c.posix_spawn_file_actions_addopen(actions, 0, devNull, O_RDONLY, 0) ||
      c.posix_spawn_file_actions_adddup2(actions, fd, 1) ||
      c.posix_spawn_file_actions_adddup2(actions, fd, 2) ||
      c.posix_spawn_file_actions_addchdir_np(actions, cwd)
    ) throw new Error("Cannot set up a job's file descriptors");
    const pid = new Int32Array(16);
    const failed = c.posix_spawn(pid, program, actions, attributes, argv, envp);
    if (failed) {
      throw new Error(
        `Cannot start ${spawn.program} in ${spawn.cwd} (errno ${failed})`,
      );
    }
    return pid[0];
  } finally {
    if (made & 2) c.posix_spawn_file_actions_destroy(actions);
    if (made & 1) c.posix_spawnattr_destroy(attributes);
    c.close(fd);
  }
}

// Bigger than V8 keeps in its heap, where a collection could move it.
const waitStatus = new Int32Array(16);

/**
 * Reaps the child `pid` if it has ended (`waitpid` with `WNOHANG`).
 *
 * @param pid A child started by {@linkcode spawnSession}.
 * @returns How it ended, as Deno tells a child's status, or `undefined`
 * while it runs.
 * @throws When `pid` is no child of this process (reaped already).
 */
export function reapChild(pid: number): Deno.CommandStatus | undefined {
  const c = symbols();
  if (!c) throw new Error("Cannot reap through libc here");
  const got = c.waitpid(pid, waitStatus, WNOHANG);
  if (got === 0) return undefined;
  if (got !== pid) throw new Error(`No child ${pid} to reap`);
  const raw = waitStatus[0];
  const signal = raw & 0x7f;
  if (signal === 0) {
    const code = (raw >> 8) & 0xff;
    return { success: code === 0, code, signal: null };
  }
  return {
    success: false,
    code: 128 + signal,
    signal: signalName(signal),
  };
}

/**
 * The name Deno gives signal `signal` (Linux numbering), for the signals a
 * job can end by.
 *
 * @param signal The signal's number.
 * @returns Its name, or `null` when not one of those.
 */
export function signalName(signal: number): Deno.Signal | null {
  return (SIGNAL_NAMES[signal] ?? null) as Deno.Signal | null;
}

const SIGNAL_NAMES: Record<number, string> = {
  1: "SIGHUP",
  2: "SIGINT",
  3: "SIGQUIT",
  4: "SIGILL",
  5: "SIGTRAP",
  6: "SIGABRT",
  7: "SIGBUS",
  8: "SIGFPE",
  9: "SIGKILL",
  10: "SIGUSR1",
  11: "SIGSEGV",
  12: "SIGUSR2",
  13: "SIGPIPE",
  14: "SIGALRM",
  15: "SIGTERM",
  24: "SIGXCPU",
  25: "SIGXFSZ",
  31: "SIGSYS",
};
