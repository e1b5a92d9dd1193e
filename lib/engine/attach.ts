/**
 * `jobs.attach()`: a kernel finds the detached jobs of its notebook kept in
 * the cluster's store (started by an earlier kernel, maybe SIGKILLed) and
 * makes each a real {@linkcode Job} of this kernel again: its events read
 * from the first, so its status, output, progress, shared values, result or
 * error are as they were, a code job's exports land in the notebook, and
 * `kill()` asks its runner.
 *
 * @module
 */
import type { DetachedRecord } from "../cluster/detached_store.ts";
import type { ClusterBackend } from "../cluster/cluster_backend.ts";
import type { DetachedStore } from "../cluster/detached_store.ts";
import type { KeptEvents } from "../cluster/events.ts";
import { durableClusterRunning } from "../cluster/durable_cluster.ts";
import { within } from "../cluster/within.ts";
import { receiveRestored } from "../capture/capture.ts";
import { type Job, jobLabel, type JobState, makeJob } from "./job_state.ts";
import { jobList } from "./job_list.ts";
import { JobError } from "./errors.ts";
import { answerAnalysis, appendOutput, receiveEvent } from "./drive.ts";
import { landExports, type Receiver, settle } from "./receive.ts";
import {
  detachedJobsMayExist,
  detachedLink,
  keep,
  notebookKey,
} from "./detached.ts";

/** How long `attach()` waits for a job's kept events to be read, in ms. */
const CATCH_UP_MS = 60_000;

// Jobs listed without their exports landing (at import), until attached.
const held = new Map<JobState, Listed>();

/**
 * Finds this notebook's detached jobs that this kernel does not list yet,
 * and lists them (new ids), each followed from its first event; a code
 * job's exports are written into the notebook, those of jobs listed before
 * by {@linkcode listDetachedJobs} too.
 *
 * @returns The jobs attached (found now, or listed before), with their
 * states, once the events kept so far are read (a finished job is settled
 * then).
 * @throws {Error} When the cluster cannot be reached.
 */
export function attachJobs(): Promise<[Job<unknown>, JobState][]> {
  return queue(() => attachOnce(true));
}

/**
 * Lists this notebook's detached jobs as {@linkcode attachJobs} does, but
 * writes nothing into the notebook: a code job's exports stay in
 * `job.exports` until `attachJobs()` (exports never land unasked).
 *
 * @returns The jobs found, with their states.
 * @throws {Error} When the cluster cannot be reached.
 */
export function listDetachedJobs(): Promise<[Job<unknown>, JobState][]> {
  return queue(() => attachOnce(false));
}

/**
 * For a kernel importing bgjobs: when the durable local cluster runs here
 * (reaching it starts no process), lists this notebook's detached jobs as
 * {@linkcode listDetachedJobs} does; else does nothing.
 *
 * @returns How many it listed (0 also when the cluster could not be read:
 * `jobs.attach()` then says why).
 */
export async function listAtImport(): Promise<number> {
  if (!durableClusterRunning()) return 0;
  try {
    return (await listDetachedJobs()).length;
  } catch {
    return 0;
  }
}

// One at a time: a second one lists only what the first did not.
function queue<T>(fn: () => Promise<T>): Promise<T> {
  const next = attaching.then(fn);
  attaching = next.catch(() => {});
  return next;
}

let attaching: Promise<unknown> = Promise.resolve();

async function attachOnce(
  land: boolean,
): Promise<[Job<unknown>, JobState][]> {
  const found = detachedJobsMayExist() ? await listNew() : [];
  if (!land) {
    for (const listed of found) held.set(listed.state, listed);
    return found.map(({ job, state }) => [job, state]);
  }
  const attached = [...held.values(), ...found];
  held.clear();
  for (const { job, state, receiver } of attached) {
    receiver.hold = false; // one still running lands at its end
    if (receiver.kind !== "module") continue;
    const written = landExports(state);
    // Written into the notebook: said, never silent.
    if (written.length > 0) {
      console.log(
        `${jobLabel(job.id, job.name)}: its exports ${
          written.join(", ")
        } are in the notebook`,
      );
    }
  }
  return attached.map(({ job, state }) => [job, state]);
}

/** A restored job, and how what it sends is read. */
interface Listed {
  job: Job<unknown>;
  state: JobState;
  /** Holds a module's exports until attached. */
  receiver: Receiver;
}

// The notebook's detached jobs this kernel does not list yet, listed and
// followed, once the events kept so far are read.
async function listNew(): Promise<Listed[]> {
  const { backend, store } = await detachedLink();
  const notebook = await notebookKey();
  const known = new Set(jobList.list().map((j) => j.uuid));
  const found: Listed[] = [];
  const caughtUp: Promise<void>[] = [];
  const records = (await store.list(notebook))
    .filter((record) => !known.has(record.uuid));
  const kept = await store.kept(records);
  for (const record of records) {
    const [job, state] = makeJob(jobList.nextId(), record.name, record.uuid);
    jobList.add(job, record.source);
    keep(state, store, notebook, record);
    const receiver: Receiver = {
      kind: record.kind,
      receive: receiveRestored,
      hold: true,
    };
    const ready = Promise.withResolvers<void>();
    caughtUp.push(ready.promise);
    const events = kept.get(record.rid);
    const link = { backend, store, record, events, receiver };
    follow(job.id, state, link, ready.resolve);
    found.push({ job, state, receiver });
  }
  await within(Promise.all(caughtUp), CATCH_UP_MS);
  return found;
}

interface Kept {
  backend: ClusterBackend;
  store: DetachedStore;
  record: DetachedRecord;
  /** Its events read already, with those of the other jobs found. */
  events?: KeptEvents;
  receiver: Receiver;
}

async function follow(
  id: number,
  state: JobState,
  { backend, store, record, events, receiver }: Kept,
  caughtUp: () => void,
): Promise<void> {
  const runtime = backend.reattach(record.runner, record.rid);
  state.where = runtime.where;
  state.attempt = record.attempt;
  state.start();
  state.startedAt = state.attempts.at(-1)!.startedAt = record.startedAt;
  let stopped: Error | undefined;
  state.stop = async (error) => {
    stopped = error;
    await runtime.kill();
    state.fail(error, "killed");
  };
  try {
    const seq = events?.seq ?? await store.lastEvent(record.rid);
    const end = await runtime.follow(
      {
        onOutput: (text) => appendOutput(state, text),
        onMessage: (msg) => {
          if (msg.t === "analyze") return answerAnalysis(runtime, msg);
          receiveEvent(state, msg, receiver);
        },
      },
      { seq, then: caughtUp },
      events,
    );
    if (stopped) return state.fail(stopped, "killed");
    const context = { id, name: record.name, options: {} };
    const failure = settle(state, end, context, receiver);
    if (failure) state.fail(failure.error);
    // It ended then, not when this kernel read it.
    const endedAt = runtime.endedAt;
    const last = state.attempts.at(-1);
    if (endedAt !== undefined && last) {
      state.endedAt = last.endedAt = Math.max(endedAt, record.startedAt);
      state.changed();
    }
  } catch (error) {
    state.fail(
      new JobError(
        `${jobLabel(id, record.name)} could not be followed: ${
          (error as Error).message
        }`,
        { cause: error },
      ),
    );
  } finally {
    caughtUp();
  }
}
