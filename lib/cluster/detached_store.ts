/**
 * Where a cluster keeps its detached jobs: a record of each in a KV bucket
 * (`bgjobs_CLUSTER_jobs`, keyed `<notebook>.<uuid>`) and their events in a
 * stream of their own (`BGJOBS_CLUSTER_DETACHED`), both file-backed and
 * dropped after the retention time, so that a kernel started later for the
 * same notebook finds them.
 *
 * @module
 */
import type { JobKind, RunnerInfo } from "../protocol/messages.ts";
import type { ClusterNames } from "./cluster_options.ts";
import { type KeptEvents, readKept } from "./events.ts";
import {
  bucketEntries,
  type JetStream,
  type JetStreamManager,
  type KV,
  nats,
  type NatsConnection,
  type StreamInfo,
} from "./nats.ts";

/** What a kernel records of a detached job, to follow it again later. */
export interface DetachedRecord {
  /** The job's `uuid`. */
  uuid: string;
  /** Its runtime's id: names its event subject. */
  rid: string;
  /** The runner it runs on, as it was when the job started. */
  runner: RunnerInfo;
  /** The job's name. */
  name: string;
  /** Its function's source or its code (for tracebacks). */
  source: string;
  /** How it runs: a module's result is its exports. */
  kind: JobKind;
  /** A module job's own top-level names. */
  declared?: string[];
  /** When it started (ms since the epoch). */
  startedAt: number;
  /** The attempt under way (1 for the first). */
  attempt: number;
}

/** Default retention of detached jobs: 7 days, in ms. */
export const DEFAULT_RETENTION_MS = 7 * 24 * 3600 * 1000;

/**
 * How far a job's first event may be stored before its record's `startedAt`
 * (the kernel's clock, read after the runner started it), in ms.
 */
const CLOCK_SLACK_MS = 5 * 60_000;

/** A cluster's store of detached jobs. */
export class DetachedStore {
  readonly #names: ClusterNames;
  readonly #js: JetStream;
  readonly #jsm: JetStreamManager;
  readonly #records: KV;

  private constructor(
    names: ClusterNames,
    js: JetStream,
    jsm: JetStreamManager,
    kv: KV,
  ) {
    this.#names = names;
    this.#js = js;
    this.#jsm = jsm;
    this.#records = kv;
  }

  /**
   * Opens the store, making its stream and bucket when they are not there,
   * and setting both to drop what is older than `retention`.
   *
   * @param nc The connection (the NATS clients' own).
   * @param names The cluster's names.
   * @param retention ms a detached job is kept, counted from its start.
   * @returns The store.
   * @throws {Error} When the server refuses.
   */
  static async open(
    nc: NatsConnection,
    names: ClusterNames,
    retention: number,
  ): Promise<DetachedStore> {
    const clients = await nats();
    const jsm = await clients.jetstreamManager(nc);
    const maxAge = retention * 1e6; // ns
    const config = {
      name: names.detachedStream,
      subjects: [`bgjobs.${names.cluster}.dev.>`],
      storage: "file",
      max_age: maxAge,
      duplicate_window: Math.min(maxAge, 120e9),
      max_bytes: 8 * 2 ** 30,
      discard: "old",
    };
    await ensureStream(jsm, config);
    const records = await clients.kv(nc, names.jobRecords, retention);
    // A bucket made earlier with another retention takes this one.
    await ensureStream(jsm, {
      name: `KV_${names.jobRecords}`,
      max_age: maxAge,
      duplicate_window: Math.min(maxAge, 120e9),
    });
    return new DetachedStore(names, clients.jetstream(nc), jsm, records);
  }

  /**
   * Records a job (again, for a new attempt).
   *
   * @param notebook The notebook's key.
   * @param record The job.
   */
  async put(notebook: string, record: DetachedRecord): Promise<void> {
    await this.#records.put(
      `${notebook}.${record.uuid}`,
      JSON.stringify(record),
    );
  }

  /**
   * The jobs of a notebook that are kept.
   *
   * @param notebook The notebook's key.
   * @returns Their records, oldest first.
   */
  async list(notebook: string): Promise<DetachedRecord[]> {
    // One pass over the bucket, not a request per key.
    const last = await bucketEntries(
      this.#js,
      this.#names.jobRecords,
      `${notebook}.>`,
    );
    const decoder = new TextDecoder();
    return [...last.values()]
      .filter((data) => data !== undefined)
      .map((data) => JSON.parse(decoder.decode(data)) as DetachedRecord)
      .sort((a, b) => a.startedAt - b.startedAt);
  }

  /**
   * The events kept of some jobs, read in one pass over the stream from
   * shortly before the first of them started.
   *
   * @param records The jobs.
   * @returns Each job's events by its `rid`, for the jobs all of whose kept
   * events were read (others, recorded by a kernel whose clock is ahead of
   * the server's by more than a few minutes, are to be read on their own).
   */
  async kept(records: DetachedRecord[]): Promise<Map<string, KeptEvents>> {
    const out = new Map<string, KeptEvents>();
    if (records.length === 0) return out;
    const stream = this.#names.detachedStream;
    const filter = `bgjobs.${this.#names.cluster}.dev.>`;
    const info = await this.#jsm.streams.info(stream, {
      subjects_filter: filter,
    });
    const since = records.reduce((t, r) => Math.min(t, r.startedAt), Infinity) -
      CLOCK_SLACK_MS;
    const subjects = new Map(
      records.map((r) => [this.#names.detachedEvents(r.rid), r.rid]),
    );
    const read = await readKept(
      this.#js,
      stream,
      filter,
      new Set(subjects.keys()),
      new Date(since),
      info.state.last_seq,
    );
    for (const [subject, rid] of subjects) {
      const count = info.state.subjects?.[subject] ?? 0;
      if ((read.counts.get(subject) ?? 0) < count) continue;
      out.set(rid, {
        messages: read.messages.get(subject) ?? [],
        seq: read.seq,
      });
    }
    return out;
  }

  /**
   * The stream sequence of a detached runtime's last event kept (0: none).
   *
   * @param rid The runtime's id.
   * @returns The sequence.
   */
  async lastEvent(rid: string): Promise<number> {
    try {
      const msg = await this.#jsm.streams.getMessage(
        this.#names.detachedStream,
        { last_by_subj: this.#names.detachedEvents(rid) },
      );
      return msg?.seq ?? 0;
    } catch {
      return 0; // none kept
    }
  }

  /**
   * Forgets a job: deletes its record and purges its events.
   *
   * @param notebook The notebook's key.
   * @param record The job.
   */
  async remove(notebook: string, record: DetachedRecord): Promise<void> {
    await this.#records.delete(`${notebook}.${record.uuid}`);
    await this.#jsm.streams.purge(this.#names.detachedStream, {
      filter: this.#names.detachedEvents(record.rid),
    });
  }
}

async function ensureStream(
  jsm: JetStreamManager,
  config: Record<string, unknown> & { name: string },
): Promise<void> {
  let info: StreamInfo | undefined;
  try {
    info = await jsm.streams.info(config.name);
  } catch {
    await jsm.streams.add(config).catch(async (error: Error) => {
      // Another kernel made it meanwhile.
      await jsm.streams.info(config.name).catch(() => {
        throw error;
      });
    });
    return;
  }
  if (info && info.config.max_age !== config.max_age) {
    await jsm.streams.update(config.name, { ...info.config, ...config });
  }
}
