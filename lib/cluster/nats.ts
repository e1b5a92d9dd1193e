/**
 * The NATS clients bgjobs uses (`@nats-io/transport-node`, `jetstream`,
 * `kv`, 3.4), loaded from bgjobs' cache (see `deps/npm_bundle.ts`) the first
 * time a cluster is used, and typed here by the little of them bgjobs calls.
 *
 * @module
 */
import { loadNpmBundle } from "../deps/npm_bundle.ts";

const VERSION = "3.4.0";

/** A received message. */
export interface Msg {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly reply?: string;
  respond(data?: Uint8Array | string): boolean;
}

/** A subscription. */
export interface Subscription {
  unsubscribe(): void;
}

/** The connection's status events. */
export interface Status {
  type: string;
  data?: unknown;
}

/** Options of `connect()` that bgjobs sets. */
export interface ConnectOptions {
  servers: string | string[];
  name?: string;
  token?: string;
  user?: string;
  pass?: string;
  authenticator?: unknown;
  tls?: { ca?: string; cert?: string; key?: string; caFile?: string };
  reconnect?: boolean;
  maxReconnectAttempts?: number;
  reconnectTimeWait?: number;
  timeout?: number;
  pingInterval?: number;
  maxPingOut?: number;
}

/** A NATS connection. */
export interface NatsConnection {
  readonly info?: { max_payload: number; version: string };
  publish(subject: string, data?: Uint8Array | string): void;
  subscribe(
    subject: string,
    options: { callback: (error: Error | null, msg: Msg) => void },
  ): Subscription;
  request(
    subject: string,
    data: Uint8Array | string,
    options: { timeout: number },
  ): Promise<Msg>;
  flush(): Promise<void>;
  drain(): Promise<void>;
  close(): Promise<void>;
  closed(): Promise<void | Error>;
  status(): AsyncIterable<Status>;
  isClosed(): boolean;
}

/** A JetStream publish acknowledgement. */
export interface PubAck {
  seq: number;
}

/** A message from a JetStream consumer. */
export interface JsMsg {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly seq: number;
  /** A KV entry's operation is in `KV-Operation` (none: a put). */
  readonly headers?: { get(key: string): string };
  /** `pending`: messages left after this one, when it was delivered. */
  readonly info: { pending: number; timestampNanos: number };
}

/** Messages a consumer delivers, until stopped. */
export interface ConsumerMessages extends AsyncIterable<JsMsg> {
  stop(): void;
}

/** A JetStream consumer (bgjobs uses ordered ones). */
export interface Consumer {
  consume(
    options?: { max_messages?: number; expires?: number },
  ): Promise<ConsumerMessages>;
}

/** An ordered push consumer: the server sends, with flow control. */
export interface PushConsumer {
  /** `cached`: as it was made; `num_pending`: what it had to deliver then. */
  info(cached: true): Promise<{ num_pending: number }>;
  consume(): Promise<ConsumerMessages>;
}

/** Where an ordered consumer starts, and what it reads. */
export interface OrderedConsumerOptions {
  /** One subject, which may be a wildcard. */
  filter_subjects: string;
  /** The first stream sequence to read. */
  opt_start_seq?: number;
  /** The first time to read (RFC 3339). */
  opt_start_time?: string;
}

/** JetStream. */
export interface JetStream {
  publish(
    subject: string,
    data: Uint8Array,
    options?: { msgID?: string; timeout?: number },
  ): Promise<PubAck>;
  consumers: {
    get(stream: string, options: OrderedConsumerOptions): Promise<Consumer>;
    getPushConsumer(
      stream: string,
      options: OrderedConsumerOptions,
    ): Promise<PushConsumer>;
  };
}

/** What `streams.info()` says of a stream. */
export interface StreamInfo {
  config: Record<string, unknown>;
  state: {
    last_seq: number;
    /** Messages kept by subject, with `subjects_filter`. */
    subjects?: Record<string, number>;
  };
}

/** JetStream's management API. */
export interface JetStreamManager {
  streams: {
    add(config: Record<string, unknown>): Promise<unknown>;
    update(name: string, config: Record<string, unknown>): Promise<unknown>;
    info(
      name: string,
      options?: { subjects_filter: string },
    ): Promise<StreamInfo>;
    purge(name: string, options?: { filter?: string }): Promise<unknown>;
    getMessage(
      name: string,
      query: { last_by_subj: string },
    ): Promise<{ seq: number } | null>;
  };
}

/** A KV entry. */
export interface KvEntry {
  readonly key: string;
  readonly value: Uint8Array;
  readonly operation: string;
  json<T>(): T;
}

/** A KV bucket. */
export interface KV {
  put(key: string, value: Uint8Array | string): Promise<number>;
  get(key: string): Promise<KvEntry | null>;
  delete(key: string): Promise<void>;
}

/** The NATS clients, loaded. */
export interface Nats {
  connect(options: ConnectOptions): Promise<NatsConnection>;
  jetstream(nc: NatsConnection): JetStream;
  jetstreamManager(nc: NatsConnection): Promise<JetStreamManager>;
  kv(nc: NatsConnection, bucket: string, ttlMs: number): Promise<KV>;
  credsAuthenticator(creds: Uint8Array): unknown;
  nkeyAuthenticator(seed: Uint8Array): unknown;
}

let loaded: Promise<Nats> | undefined;

/**
 * The keys a KV bucket holds now (deleted ones included, as their
 * tombstones), from its stream's subjects in one request. The client's
 * `keys()` iterator ends when a message says none are pending; against
 * nats-server 2.9 a put landing while it starts can leave that count off by
 * one, and on a bucket written every second it then never ends.
 *
 * @param jsm A JetStream manager.
 * @param bucket The bucket.
 * @returns Its keys.
 * @throws {Error} When the server does not answer.
 */
export async function bucketKeys(
  jsm: JetStreamManager,
  bucket: string,
): Promise<string[]> {
  const prefix = `$KV.${bucket}.`;
  const info = await jsm.streams.info(`KV_${bucket}`, {
    subjects_filter: `${prefix}>`,
  });
  return Object.keys(info.state.subjects ?? {}).map((subject) =>
    subject.slice(prefix.length)
  );
}

/**
 * Reads what an ordered push consumer had to deliver when it was made, and
 * stops: counted down from that number, and stopped early by a message
 * that says none are pending. The client's own iterators (KV `keys()`,
 * `history()`) wait for such a message alone; against nats-server 2.9 a
 * message stored as they start can leave the count off by one, and they
 * then wait for the next write, however long that takes.
 *
 * @param consumer The consumer, just made.
 * @param each Called with each message, in order.
 * @throws {Error} When the server does not answer.
 */
export async function readPending(
  consumer: PushConsumer,
  each: (msg: JsMsg) => void,
): Promise<void> {
  let left = (await consumer.info(true)).num_pending;
  if (left === 0) return;
  const messages = await consumer.consume();
  try {
    for await (const msg of messages) {
      each(msg);
      if (--left === 0 || msg.info.pending === 0) break;
    }
  } finally {
    messages.stop();
  }
}

/**
 * The entries a KV bucket (keeping one per key) holds under `filter`, in
 * one pass over its stream; see {@linkcode readPending}.
 *
 * @param js JetStream.
 * @param bucket The bucket.
 * @param filter Keys to read, e.g. `nb.>`.
 * @returns Each key's last entry, `undefined` when it was deleted.
 * @throws {Error} When the server does not answer.
 */
export async function bucketEntries(
  js: JetStream,
  bucket: string,
  filter: string,
): Promise<Map<string, Uint8Array | undefined>> {
  const prefix = `$KV.${bucket}.`;
  const consumer = await js.consumers.getPushConsumer(`KV_${bucket}`, {
    filter_subjects: prefix + filter,
  });
  const out = new Map<string, Uint8Array | undefined>();
  await readPending(consumer, (msg) => {
    const deleted = msg.headers?.get("KV-Operation");
    out.set(msg.subject.slice(prefix.length), deleted ? undefined : msg.data);
  });
  return out;
}

// The Node transport removes a socket's listeners right after it connects
// and after it reads the server's INFO, before it sets its own: a reset that
// lands then (a server refusing a wrong token and closing, under load) is an
// "error" event nobody listens to, which Node semantics make an uncaught
// exception that ends the process. The connection attempt fails on its own
// all the same ("close" is still heard), so exactly those resets, raised
// from a socket's read, are dropped; nothing else is.
function ignoreStraySocketResets(): void {
  globalThis.addEventListener("error", (event) => {
    const error = event.error as { code?: unknown; stack?: unknown } | null;
    if (
      (error?.code === "ECONNRESET" || error?.code === "EPIPE") &&
      String(error.stack).includes("onStreamRead")
    ) event.preventDefault();
  });
}

/**
 * The NATS clients, built into bgjobs' cache on first use.
 *
 * @returns The clients.
 * @throws {Error} When they cannot be built or loaded (with the fix).
 */
export function nats(): Promise<Nats> {
  return loaded ??= (async () => {
    const m = await loadNpmBundle({
      file: `nats-${VERSION}.min.js`,
      what: "bgjobs' NATS clients",
      spec: `npm:@nats-io/*@${VERSION}`,
      entry: [
        `export { connect, credsAuthenticator, nkeyAuthenticator } from "npm:@nats-io/transport-node@${VERSION}";`,
        `export { jetstream, jetstreamManager } from "npm:@nats-io/jetstream@${VERSION}";`,
        `export { Kvm } from "npm:@nats-io/kv@${VERSION}";`,
        "",
      ].join("\n"),
    }) as Record<string, (...args: unknown[]) => unknown>;
    ignoreStraySocketResets();
    const Kvm = m.Kvm as unknown as new (nc: NatsConnection) => {
      create(bucket: string, options: Record<string, unknown>): Promise<KV>;
    };
    return {
      connect: m.connect as Nats["connect"],
      jetstream: m.jetstream as Nats["jetstream"],
      jetstreamManager: m.jetstreamManager as Nats["jetstreamManager"],
      kv: (nc, bucket, ttl) => new Kvm(nc).create(bucket, { ttl, history: 1 }),
      credsAuthenticator: m.credsAuthenticator,
      nkeyAuthenticator: m.nkeyAuthenticator,
    };
  })();
}
