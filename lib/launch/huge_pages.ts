// Fresh memory for a big result, in huge pages when this process may ask.
//
// Receiving a big buffer costs mostly the first touch of its fresh pages,
// one page fault per 4 KiB (in a VM that shadows page tables, each is a
// trip to the hypervisor). Where transparent huge pages are on for memory
// that asks for them (`madvise`, the default of many distributions), one
// `madvise(MADV_HUGEPAGE)` makes a buffer fault in 2 MiB at a time. Deno
// reaches `madvise` only through FFI: this is used when the process has
// the `ffi` permission (a Jupyter kernel has every permission) and libc is
// glibc's; anywhere else buffers fault as they always did.

const MADV_HUGEPAGE = 14;
const PAGE = 4096n;

type Libc = {
  madvise(address: Deno.PointerValue, length: bigint, advice: number): number;
};

let libc: Libc | null | undefined;

function open(): Libc | null {
  try {
    const { state } = Deno.permissions.querySync({ name: "ffi" });
    if (state !== "granted" || Deno.build.os !== "linux") return null;
    return Deno.dlopen("libc.so.6", {
      madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
    }).symbols as Libc;
  } catch {
    return null;
  }
}

/**
 * Asks the kernel to back `bytes` (fresh, not yet touched) with huge pages,
 * as far as whole pages of it go.
 *
 * @returns Whether the advice was taken.
 */
export function adviseHugePages(bytes: Uint8Array): boolean {
  libc ??= open();
  if (!libc) return false;
  try {
    const at = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
    const start = (at + PAGE - 1n) / PAGE * PAGE;
    const end = (at + BigInt(bytes.byteLength)) / PAGE * PAGE;
    if (end <= start) return false;
    return libc.madvise(
      Deno.UnsafePointer.create(start),
      end - start,
      MADV_HUGEPAGE,
    ) === 0;
  } catch {
    return false;
  }
}
