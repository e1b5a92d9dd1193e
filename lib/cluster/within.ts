/**
 * Waits for `promise`, at most `ms`.
 *
 * @param promise What to wait for.
 * @param ms The most to wait, in ms.
 * @returns Whether it resolved in time (`false` when it rejected or took
 * longer).
 */
export async function within(
  promise: Promise<unknown>,
  ms: number,
): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise.then(() => true, () => false),
      new Promise<boolean>((r) => timer = setTimeout(() => r(false), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
