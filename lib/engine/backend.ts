/**
 * The seam between the engine and where jobs run. The engine drives every
 * job through a {@linkcode Backend}: it takes a {@linkcode Runtime} for the
 * job, sends it the job, streams its events and its end, and kills it. Job
 * runtimes on this machine (`launch/`) are one backend; a cluster of runners
 * on other machines plugs in as another, with nothing above the engine
 * changing.
 *
 * @module
 */
import { RuntimePool } from "../launch/pool.ts";
import type {
  KernelMessage,
  RunEnd,
  RunHandlers,
  RunMessage,
} from "../protocol/messages.ts";
import type { RuntimeSpec } from "../sandbox/runtime_spec.ts";

/** One job runtime, wherever it runs, ready to run one job. */
export interface Runtime {
  /** Sends a message; messages arrive whole and in order. */
  send(message: KernelMessage): Promise<void>;
  /**
   * Runs a job: sends `message`, streams output and events to `handlers`,
   * and resolves with how the run ended, once the runtime is gone.
   */
  run(message: RunMessage, handlers: RunHandlers): Promise<RunEnd>;
  /** Kills the runtime and everything it started; resolves once gone. */
  kill(): Promise<void>;
}

/** Where jobs run. */
export interface Backend {
  /**
   * A runtime with these permissions and limits. `standard`: the default
   * spec, which may be kept warm. `first`: the run message, which a runtime
   * started for it may get as it starts.
   */
  acquire(
    spec: RuntimeSpec,
    standard: boolean,
    first?: RunMessage,
  ): Promise<Runtime>;
  /**
   * Holds background starts while a map's `lanes` work; the returned
   * function releases the hold.
   */
  hold(lanes: number): () => void;
  /** Kills every idle runtime. */
  drain(): Promise<void>;
}

const local = new RuntimePool();

/** The local backend: job runtimes on this machine, with a warm pool. */
export function localPool(): RuntimePool {
  return local;
}

/**
 * The backend jobs run on.
 *
 * @returns The local backend (the only one so far).
 */
export function backend(): Backend {
  return local;
}
