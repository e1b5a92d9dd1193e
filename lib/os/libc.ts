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
};

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
    }).symbols as Libc;
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
    const at = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
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
