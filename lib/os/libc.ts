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
