/**
 * A job's output, kept in memory up to a bound: the oldest text is dropped
 * first, and the log says how much went.
 *
 * @module
 */

/** The most characters of output a job keeps: 16 Mi. */
export const MAX_LOG_CHARS = 16 * 1024 * 1024;

/**
 * Bounded text buffer for a job's stdout and stderr.
 *
 * @example Usage
 * ```ts
 * import { LogBuffer } from "./log_buffer.ts";
 * const logs = new LogBuffer(10);
 * logs.append("hello ");
 * logs.append("world\n");
 * console.log(logs.dropped); // 2
 * console.log(logs.text); // "[… 2 characters of older output dropped …]\nllo world\n"
 * ```
 */
export class LogBuffer {
  /** How many characters of the oldest output were dropped. */
  dropped = 0;
  #chunks: string[] = [];
  #length = 0;
  #max: number;

  /**
   * Creates an empty buffer.
   *
   * @param max The most characters kept.
   */
  constructor(max: number = MAX_LOG_CHARS) {
    this.#max = max;
  }

  /**
   * Appends output, dropping the oldest text past the bound.
   *
   * @param text What the job wrote.
   */
  append(text: string): void {
    if (text.length >= this.#max) {
      this.dropped += this.#length + text.length - this.#max;
      this.#chunks = [text.slice(text.length - this.#max)];
      this.#length = this.#max;
      return;
    }
    this.#chunks.push(text);
    this.#length += text.length;
    while (this.#length > this.#max) {
      const first = this.#chunks[0];
      const excess = this.#length - this.#max;
      if (first.length <= excess) {
        this.#chunks.shift();
        this.#length -= first.length;
        this.dropped += first.length;
      } else {
        this.#chunks[0] = first.slice(excess);
        this.#length -= excess;
        this.dropped += excess;
      }
    }
  }

  /** Characters kept now. */
  get length(): number {
    return this.#length;
  }

  /** Characters ever appended, the dropped ones included. */
  get written(): number {
    return this.dropped + this.#length;
  }

  /** All output kept, preceded by a note when older output was dropped. */
  get text(): string {
    if (this.#chunks.length > 1) this.#chunks = [this.#chunks.join("")];
    const kept = this.#chunks[0] ?? "";
    return this.dropped
      ? `[… ${this.dropped} characters of older output dropped …]\n${kept}`
      : kept;
  }

  /**
   * The last lines of output, for a panel.
   *
   * @param count How many lines.
   * @returns Up to `count` lines, without a trailing empty line.
   */
  tail(count: number): string[] {
    let text = "";
    for (let i = this.#chunks.length - 1; i >= 0; i--) {
      text = this.#chunks[i] + text;
      if (text.split("\n").length > count + 1) break;
    }
    const lines = text.split("\n");
    if (lines.at(-1) === "") lines.pop();
    return lines.slice(-count);
  }
}
