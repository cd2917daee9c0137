import type { TargetResult } from './report.ts';

/**
 * Which process a target is sent to. `api` is the real server (apps/api/src/server.ts); `baseline` the Fastify
 * hello-world; `api-memory` the real server without Redis (`Scenario.memoryApi`); any other name, one of the
 * scenario's own `servers` or `ownDatabaseApis`.
 */
export type ServerName = string;

/** What a scenario's setup may use: the running servers and the run's own database, and a place for values targets need. */
export interface BenchContext {
  /** Base URL of each running server, e.g. `http://127.0.0.1:40123`. */
  urls: Record<ServerName, string>;
  /** The run's own fresh database (dropped after the run), the one `api` and `api-memory` use. */
  databaseUrl: string;
  /** The database of each API server: `api` and `api-memory` → `databaseUrl`; each of `ownDatabaseApis` → its own. */
  databaseUrls: Record<ServerName, string>;
  /** The process id of a running server (to sample its RSS and CPU from /proc). */
  pid(server: ServerName): number;
  /** Values setup produces for targets (e.g. a bearer token). */
  vars: Map<string, string>;
  /** `--param key=value` options of this run (e.g. `users=1000000`). */
  params: ReadonlyMap<string, string>;
  /** The API server's AUTH_SECRETS (`kid:secret`), so setup can sign access tokens like the server does. */
  authSecrets: string;
  /** Adds a line (markdown; may span lines) to the run's notes in docs/benchmarks.md. */
  note(text: string): void;
  /** A request to a running server, for setup (sign up, log in, seed through the API). */
  request(
    server: ServerName,
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{
    status: number;
    body: string;
  }>;
}

export interface Target {
  /** Row label in the report, e.g. `GET /livez`. */
  name: string;
  server: ServerName;
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  /** Static headers, or headers computed after setup (e.g. `authorization` from ctx.vars). */
  headers?: Record<string, string> | ((ctx: BenchContext) => Record<string, string>);
  body?: string;
  /**
   * Per-request variation: called once after setup; the function it returns is called for every request and its
   * headers/body/path replace the static ones (e.g. a different user's token, or conversation, each time).
   */
  vary?: (ctx: BenchContext) => () => { headers?: Record<string, string>; body?: string; path?: string };
  /** The ratio column is relative to the target marked as the baseline (exactly one per scenario). */
  baseline?: boolean;
}

export interface Scenario {
  name: string;
  description: string;
  /**
   * Run one at a time, in this order. Empty for a scenario measured by its `measure` alone (a browser driving the
   * web app): then no autocannon rounds run, no hello-world baseline starts, and the report has no table.
   */
  targets: Target[];
  /** Runs once after the servers are ready and before any load (seed data, obtain tokens). */
  setup?(ctx: BenchContext): Promise<void>;
  /** Extra environment for the API server (e.g. feature settings a scenario needs). */
  apiEnv?: Record<string, string>;
  /**
   * genz.yaml for the API server: the runner writes it to the run's data dir and sets GENZ_CONFIG. A function gets
   * the URLs of the scenario's own `servers` (started first), e.g. to point deployments at a fake upstream.
   */
  apiConfigYaml?: string | ((urls: Record<ServerName, string>) => string);
  /** The scenario's own processes (fake upstreams, peers), started in order before the API server. */
  servers?: ExtraServer[];
  /** Also start `api-memory`: the same API server on the same database without Redis (in-memory limiter). */
  memoryApi?: boolean;
  /**
   * Also start these API servers, each like `api` (same genz.yaml, env and Redis, a Redis key prefix of its own) but
   * on a fresh database of its own, created and dropped with the run's (`ctx.databaseUrls`): the same route on other
   * data, measured in the same rounds.
   */
  ownDatabaseApis?: ServerName[];
  /**
   * Measurements the autocannon targets cannot express (a TTFT client, thousands of concurrent streams), run once
   * after the rounds, which they get (`rounds[i][j]`: round i, target j in scenario order), e.g. to compare two
   * targets round by round; they report through `ctx.note`.
   */
  measure?(ctx: BenchContext, rounds: TargetResult[][]): Promise<void>;
  /** Stops what setup started outside the runner (a web server, a browser); runs even when setup or measure failed. */
  teardown?(ctx: BenchContext): Promise<void>;
}

export interface ExtraServer {
  name: ServerName;
  /** Script run with the runner's Node, relative to the repository root; it listens on 127.0.0.1:$PORT. */
  file: string;
  /** Its environment, or a function of the URLs of the servers started before it (they start in list order). */
  env?: Record<string, string> | ((urls: Record<string, string>) => Record<string, string>);
  /** Polled until it answers 2xx. */
  readyPath: string;
  /** Sample its RSS with the API servers' (a peer gateway); fake upstreams are not. */
  sampled?: boolean;
}
