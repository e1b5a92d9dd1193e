// A job runtime's output on its way to the job's logs.

/**
 * Passes a runtime's output on, minus the end marker the runtime writes just
 * before it sends the job's end; `ended` resolves once the marker was read.
 * Text is held back only from a NUL that may begin the marker.
 */
export class OutputFilter {
  readonly ended: Promise<void>;
  #seen!: () => void;
  #carry = "";

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

  close(): void {
    if (this.#carry) this.emit(this.#carry);
    this.#carry = "";
  }
}

/** Reads a runtime's stdout into `output` until the pipe closes. */
export async function pump(
  stream: ReadableStream<Uint8Array>,
  output: OutputFilter,
): Promise<void> {
  const decoder = new TextDecoder();
  try {
    for await (const chunk of stream) {
      output.write(decoder.decode(chunk, { stream: true }));
    }
  } catch { /* the pipe closed with the process */ }
  const rest = decoder.decode();
  if (rest) output.write(rest);
  output.close();
}
