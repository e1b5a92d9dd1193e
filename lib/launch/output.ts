// A job runtime's output on its way to the job's logs.

/**
 * A read smaller than this (bytes) means the job writes little at a time:
 * the pump then waits {@linkcode GATHER_MS} before its next read, so a job
 * printing line by line has its lines taken a few hundred per read instead
 * of one per read (each read costs the kernel ~2 µs; a line ~0.1 µs).
 */
const SMALL_READ = 16 * 1024;
/** ms the pump waits after a small read while the job runs. */
export const GATHER_MS = 2;
/**
 * A read this big (bytes) after a wait found the pipe (64 KiB) about full:
 * the job was likely blocked on us (a write of up to 4 KiB that does not fit
 * waits whole).
 */
const FULL_READ = 48 * 1024;
/**
 * ms the pump reads without waiting once a wait let the pipe fill up: a job
 * writing that fast (> 30 MB/s) would otherwise be held back.
 */
const EAGER_MS = 50;

/**
 * Passes a runtime's output on, minus the end marker the runtime writes just
 * before it sends the job's end; `ended` resolves once the marker was read.
 * Text is held back only from a NUL that may begin the marker.
 */
export class OutputFilter {
  readonly ended: Promise<void>;
  #seen!: () => void;
  #carry = "";
  #hurry = false;
  #wake: (() => void) | undefined;

  constructor(
    readonly marker: string,
    readonly emit: (text: string) => void,
  ) {
    this.ended = new Promise((resolve) => this.#seen = resolve);
  }

  write(chunk: string): void {
    const text = this.#carry + chunk;
    this.#carry = "";
    const at = text.indexOf(this.marker);
    if (at >= 0) {
      const rest = text.slice(0, at) + text.slice(at + this.marker.length);
      if (rest) this.emit(rest);
      return this.#seen();
    }
    const nul = text.lastIndexOf("\0");
    if (nul >= 0 && this.marker.startsWith(text.slice(nul))) {
      this.#carry = text.slice(nul);
      if (nul > 0) this.emit(text.slice(0, nul));
    } else this.emit(text);
  }

  /**
   * Waits up to `ms` for more output to pile up, or until {@linkcode hurry}.
   * Resolves at once after `hurry()`.
   */
  gather(ms: number): Promise<void> {
    if (this.#hurry) return Promise.resolve();
    return new Promise((resolve) => {
      const id = setTimeout(() => this.#wake?.(), ms);
      this.#wake = () => {
        clearTimeout(id);
        this.#wake = undefined;
        resolve();
      };
    });
  }

  /** The job has ended: read what is left without waiting. */
  hurry(): void {
    this.#hurry = true;
    this.#wake?.();
  }

  close(): void {
    if (this.#carry) this.emit(this.#carry);
    this.#carry = "";
  }
}

/**
 * Reads a runtime's stdout into `output` until the pipe closes, gathering
 * small writes (see {@linkcode GATHER_MS}) until `output.hurry()`.
 */
export async function pump(
  stream: ReadableStream<Uint8Array>,
  output: OutputFilter,
): Promise<void> {
  const decoder = new TextDecoder();
  try {
    let gathered = false;
    let eagerUntil = 0;
    for await (const chunk of stream) {
      output.write(decoder.decode(chunk, { stream: true }));
      // The pipe filled up while we waited: the job was blocked on us.
      if (gathered && chunk.byteLength >= FULL_READ) {
        eagerUntil = performance.now() + EAGER_MS;
      }
      gathered = chunk.byteLength < SMALL_READ &&
        performance.now() >= eagerUntil;
      if (gathered) await output.gather(GATHER_MS);
    }
  } catch { /* the pipe closed with the process */ }
  const rest = decoder.decode();
  if (rest) output.write(rest);
  output.close();
}
