// Deno's internal core object (`Deno[Deno.internal].core`): the serializer
// behind `structuredClone` and a proxy test, which no public API offers.
// Not a stable interface: each use checks what it finds and has a fallback.

/**
 * Deno's internal core object, where this Deno exposes it.
 *
 * @returns The object, or `undefined`.
 */
export function denoCore(): Record<string, unknown> | undefined {
  const key = (Deno as unknown as { internal?: symbol }).internal;
  if (typeof key !== "symbol") return undefined;
  const internal = (Deno as unknown as Record<symbol, unknown>)[key] as
    | { core?: unknown }
    | undefined;
  const core = internal?.core;
  return typeof core === "object" && core !== null
    ? core as Record<string, unknown>
    : undefined;
}
