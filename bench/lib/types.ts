/** Which process a target is sent to. `api` is the real server (apps/api/src/server.ts); `baseline` the Fastify hello-world. */
export type ServerName = 'api' | 'baseline';

/** What a scenario's setup may use: the running servers and the run's own database, and a place for values targets need. */
export interface BenchContext {
  /** Base URL of each running server, e.g. `http://127.0.0.1:40123`. */
  urls: Record<ServerName, string>;
  /** The run's own fresh database (dropped after the run). */
  databaseUrl: string;
  /** Values setup produces for targets (e.g. a bearer token). */
  vars: Map<string, string>;
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
  /** The ratio column is relative to the target marked as the baseline (exactly one per scenario). */
  baseline?: boolean;
}

export interface Scenario {
  name: string;
  description: string;
  /** Run one at a time, in this order. */
  targets: Target[];
  /** Runs once after the servers are ready and before any load (seed data, obtain tokens). */
  setup?(ctx: BenchContext): Promise<void>;
  /** Extra environment for the API server (e.g. feature settings a scenario needs). */
  apiEnv?: Record<string, string>;
}
