/**
 * How to reach a cluster, and the names a cluster's kernels and runners
 * share: subjects, the event stream, the runner and kernel lists.
 *
 * @module
 */
import {
  bucketKeys,
  type ConnectOptions,
  type JetStream,
  type JetStreamManager,
  type KV,
  type Nats,
  nats,
  type NatsConnection,
} from "./nats.ts";

/** A cluster's NATS server(s) and credentials. */
export interface ClusterOptions {
  /** `nats://host:port`, or several. */
  servers: string | string[];
  /**
   * The cluster's name: runners run only jobs sent to their own cluster.
   *
   * @default {"default"}
   */
  name?: string;
  /** A token the server asks for. */
  token?: string;
  /** A user the server knows … */
  user?: string;
  /** … and its password. */
  password?: string;
  /** A NATS `.creds` file (JWT and nkey seed). */
  credsFile?: string;
  /** An nkey seed (`SU…`). */
  nkeySeed?: string;
  /** TLS: the CA that signed the server's certificate, and a client certificate. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Checks a `cluster` setting: a `nats://` URL or {@linkcode ClusterOptions}.
 *
 * @param setting What the user passed.
 * @returns The options.
 * @throws {TypeError} On anything else, saying what to pass.
 */
export function checkCluster(setting: unknown): ClusterOptions {
  const options: ClusterOptions = typeof setting === "string"
    ? { servers: setting }
    : setting as ClusterOptions;
  const servers = typeof options === "object" && options !== null
    ? [options.servers].flat()
    : [];
  if (
    servers.length === 0 ||
    servers.some((s) => typeof s !== "string" || !/^(nats|tls):\/\/./.test(s))
  ) {
    throw new TypeError(
      `Cannot use cluster ${
        JSON.stringify(setting)
      }: pass "local", a URL like "nats://host:4222", or { servers, token, tls, … }`,
    );
  }
  if (options.name !== undefined && !NAME.test(options.name)) {
    throw new TypeError(
      `Cannot use cluster name ${
        JSON.stringify(options.name)
      }: use letters, digits, "_" and "-"`,
    );
  }
  return options;
}

/**
 * Connects to a cluster's server. The connection reconnects by itself,
 * without end, so a server restarted keeps its clients.
 *
 * @param nats The NATS clients.
 * @param options Where and how.
 * @param client The connection's name, as the server lists it.
 * @returns The connection.
 * @throws {Error} When the server cannot be reached or refuses the credentials.
 */
export async function connectCluster(
  nats: Nats,
  options: ClusterOptions,
  client: string,
): Promise<NatsConnection> {
  const connect: ConnectOptions = {
    servers: options.servers,
    name: client,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 2000,
    maxPingOut: 2,
    timeout: 5000,
  };
  if (options.token) connect.token = options.token;
  if (options.user) {
    connect.user = options.user;
    connect.pass = options.password;
  }
  if (options.credsFile) {
    connect.authenticator = nats.credsAuthenticator(
      await Deno.readFile(options.credsFile),
    );
  } else if (options.nkeySeed) {
    connect.authenticator = nats.nkeyAuthenticator(
      new TextEncoder().encode(options.nkeySeed),
    );
  }
  if (options.tls) connect.tls = { ...options.tls };
  try {
    return await nats.connect(connect);
  } catch (error) {
    throw new Error(
      `Cannot reach the cluster at ${[options.servers].flat().join(", ")}: ${
        (error as Error).message
      }; check that nats-server runs there with -js, and the credentials`,
      { cause: error },
    );
  }
}

/** The names one cluster's kernels and runners share. */
export class ClusterNames {
  /** The cluster's name. */
  readonly cluster: string;

  /** Names for the cluster `name`. */
  constructor(name = "default") {
    this.cluster = name;
  }

  /** Where a runner takes requests. */
  runner(id: string): string {
    return `bgjobs.${this.cluster}.runner.${id}`;
  }

  /** Where a remote runtime takes messages from the kernel. */
  input(rid: string): string {
    return `bgjobs.${this.cluster}.in.${rid}`;
  }

  /** Where a remote runtime's events go (kept in the event stream). */
  events(rid: string): string {
    return `bgjobs.${this.cluster}.ev.${rid}`;
  }

  /**
   * Where a detached runtime's events go (kept in the stream of detached
   * events, until removed or expired).
   */
  detachedEvents(rid: string): string {
    return `bgjobs.${this.cluster}.dev.${rid}`;
  }

  /** The JetStream stream that keeps detached jobs' events. */
  get detachedStream(): string {
    return `${this.stream}_DETACHED`;
  }

  /** The KV bucket of detached jobs' records, keyed `<notebook>.<uuid>`. */
  get jobRecords(): string {
    return `bgjobs_${this.cluster}_jobs`;
  }

  /** The JetStream stream that keeps events. */
  get stream(): string {
    return `BGJOBS_${this.cluster.replace(/-/g, "_")}`;
  }

  /** The stream's subjects. */
  get streamSubjects(): string {
    return `bgjobs.${this.cluster}.ev.>`;
  }

  /** The KV bucket of runners. */
  get runners(): string {
    return `bgjobs_${this.cluster}_runners`;
  }

  /** The KV bucket of kernels. */
  get kernels(): string {
    return `bgjobs_${this.cluster}_kernels`;
  }
}

/** A connection's state, kept current. */
export interface ConnectionState {
  /** Since when it is down, if it is. */
  downSince(): number | undefined;
  /**
   * Whether it has been up for {@linkcode SILENCE_MS}: long enough that
   * silence from the other side means something (after a reconnect, the
   * others reconnect and the server recovers its streams too).
   */
  steady(): boolean;
}

/**
 * Follows a connection's state.
 *
 * @param nc The connection.
 * @returns Its state, kept current.
 */
export function followConnection(nc: NatsConnection): ConnectionState {
  let down: number | undefined;
  let up = Date.now();
  (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") down ??= Date.now();
      else if (status.type === "reconnect") {
        down = undefined;
        up = Date.now();
      }
    }
  })().catch(() => {});
  return {
    downSince: () => down,
    steady: () => down === undefined && Date.now() - up > SILENCE_MS,
  };
}

/** How often kernels and runners say they live, in ms. */
export const HEARTBEAT_MS = 1000;
/**
 * A runner or kernel silent this long is taken for dead, in ms. So a runner
 * that dies, or whose link is cut, fails its jobs within this much, and at
 * most twice this much right after a reconnect.
 */
export const SILENCE_MS = 6000;

/**
 * Makes the cluster's stream and lists when they are not there.
 *
 * @param jsm The connection's JetStream manager.
 * @param names The cluster's names.
 * @returns The stream's events are kept a day at most.
 */
export async function ensureCluster(
  jsm: JetStreamManager,
  names: ClusterNames,
): Promise<void> {
  const config = {
    name: names.stream,
    subjects: [names.streamSubjects],
    storage: "file",
    max_age: 24 * 3600 * 1e9,
    max_bytes: 8 * 2 ** 30,
    discard: "old",
  };
  try {
    await jsm.streams.info(names.stream);
  } catch {
    await jsm.streams.add(config).catch(async (error: Error) => {
      // Another kernel or runner made it meanwhile.
      await jsm.streams.info(names.stream).catch(() => {
        throw error;
      });
    });
  }
}

/** A connection to a cluster, its stream made, its lists open. */
export interface OpenCluster {
  nc: NatsConnection;
  js: JetStream;
  names: ClusterNames;
  /** Runners by id (entries expire: a silent runner drops out). */
  runnerList: KV;
  /** The ids `runnerList` holds now, in one request. */
  runnerIds(): Promise<string[]>;
  /** Kernels by id, each with when it last said it lives. */
  kernelList: KV;
}

/**
 * Connects to a cluster as a kernel or a runner, making its stream and
 * lists when they are not there.
 *
 * @param options Where and how.
 * @param client The connection's name, as the server lists it.
 * @returns The connection and what both sides use of it.
 * @throws {Error} When the server cannot be reached or refuses.
 */
export async function openCluster(
  options: ClusterOptions,
  client: string,
): Promise<OpenCluster> {
  const clients = await nats();
  const nc = await connectCluster(clients, options, client);
  try {
    const names = new ClusterNames(options.name);
    const jsm = await clients.jetstreamManager(nc);
    await ensureCluster(jsm, names);
    const ttl = SILENCE_MS * 3;
    return {
      nc,
      js: clients.jetstream(nc),
      names,
      runnerList: await clients.kv(nc, names.runners, ttl),
      runnerIds: () => bucketKeys(jsm, names.runners),
      kernelList: await clients.kv(nc, names.kernels, ttl),
    };
  } catch (error) {
    await nc.close();
    throw error;
  }
}
