import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import type { Actor } from '../../http/actor.ts';
import { DomainError } from '../../http/errors.ts';
import { withSpan } from '../../infra/tracing.ts';
import type { Breakers } from './breaker.ts';
import { Deadlines } from './deadlines.ts';
import { fromOpenAiUsage } from './frames.ts';
import type { ProviderMetrics } from './providers.metrics.ts';
import type { Registry } from './providers.registry.ts';
import type {
  Adapter,
  Alias,
  ChatRequest,
  CompletionResult,
  Deployment,
  Frame,
  FrameSink,
  ProviderKind,
  RoutingConfig,
  TappableStream,
  Usage,
} from './providers.types.ts';
import type { DeploymentStats, RetryBudget, Stats } from './stats.ts';
import { classify, UpstreamError } from './upstream-error.ts';
import type { UsageEvent, UsageWriter } from './usage.ts';

export interface RequestContext {
  requestId: string;
  actor: Actor | null;
  /** process.hrtime.bigint() when the request arrived: gateway overhead is measured from here. */
  startNs: bigint;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  endpoint: UsageEvent['endpoint'];
  /**
   * Limits hook (modules/rate-limit): called once with the priced usage of the attempt that answered (undefined
   * when the upstream reported none), so a token reservation is reconciled with what the call really used.
   */
  onUsage?: (usage: { inputTokens: number; outputTokens: number; costUsd: number } | undefined) => void;
}

/** What a request needs from a deployment; candidates that cannot serve it are skipped. */
export interface Needs {
  tools: boolean;
  vision: boolean;
  embeddings: boolean;
  /** Estimated prompt tokens plus the requested completion budget. */
  tokens: number;
}

/** Where a stream's SSE text goes (an HTTP response): writes return false when the client's buffer is full. */
export interface SseOut {
  write(chunk: string | Buffer): boolean;
  end(last: string): void;
  once(event: 'drain' | 'close', listener: () => void): unknown;
  readonly destroyed: boolean;
}

export interface StreamResult {
  deployment: Deployment;
  overheadUs: number;
  /**
   * Writes the stream to `out` as chat-completions SSE and ends it: `data: [DONE]` only when the upstream finished
   * cleanly, an error event when it failed after it started. Upstream bytes go out as they arrive, one write per read.
   */
  pipe(out: SseOut): void;
  /** The same stream as frames (for the Responses API); use one of the two. */
  frames: AsyncGenerator<Frame>;
}

/** The chat-completions error event that ends a stream which failed after it started. */
function interruptedEvent(e: UpstreamError): string {
  const error = {
    message: `The upstream stream failed after it started (${e.kind}); the reply is incomplete.`,
    type: 'api_error',
    param: null,
    code: 'upstream_stream_interrupted',
  };
  return `data: ${JSON.stringify({ error })}\n\n`;
}

export interface CompleteResult {
  deployment: Deployment;
  overheadUs: number;
  body: string;
  usage: Usage | undefined;
}

interface Committed {
  deployment: Deployment;
  head: Frame[];
  iterator: AsyncIterator<Frame>;
  controller: AbortController;
  unlink: () => void;
  t0: number;
  ttftMs: number;
  probe: boolean;
}

const nowMs = () => performance.now();

/** Rough token count for context-window checks: ~4 characters a token, an image a flat 1k. */
export function estimateTokens(body: ChatRequest): number {
  let chars = 0;
  let images = 0;
  for (const m of body.messages) {
    if (typeof m.content === 'string') chars += m.content.length;
    else if (Array.isArray(m.content)) {
      for (const p of m.content) {
        if (p.type === 'text' && typeof p.text === 'string') chars += p.text.length;
        else if (p.type === 'image_url') images++;
      }
    }
    for (const call of m.tool_calls ?? []) chars += call.function.arguments.length + call.function.name.length;
  }
  if (body.tools) chars += JSON.stringify(body.tools).length;
  return Math.ceil(chars / 4) + images * 1000;
}

export function needsOf(body: ChatRequest): Needs {
  const vision = body.messages.some((m) => Array.isArray(m.content) && m.content.some((p) => p.type === 'image_url'));
  const maxOut = body.max_completion_tokens ?? body.max_tokens ?? 0;
  return { tools: (body.tools?.length ?? 0) > 0, vision, embeddings: false, tokens: estimateTokens(body) + maxOut };
}

/**
 * The AI router: picks deployments for an alias (strategy, fit, breaker, ramp-up), runs attempts with timeouts,
 * jittered retries inside a budget and failover, and keeps every failure before the first content token invisible
 * to the client. It knows nothing about HTTP beyond the DomainErrors it throws.
 */
export type ModelHealth = 'healthy' | 'degraded' | 'down';

/** Model aliases each plan may call: exact names, `prefix*` globs, or `*` for all. */
export type PlanModels = Readonly<Record<string, { readonly models: readonly string[] }>>;

export class ProviderRouter {
  /** Swapped whole by `swap()` (hot reload); a request reads it once, so in-flight work keeps its deployments. */
  private registry: Registry;
  private plans: PlanModels;
  private configVersion = 0;
  private readonly adapters: Record<ProviderKind, Adapter>;
  private readonly breakers: Breakers;
  private readonly stats: Stats;
  private readonly budget: RetryBudget;
  private readonly metrics: ProviderMetrics;
  private readonly usage: UsageWriter;
  private readonly routing: RoutingConfig;
  private readonly log: FastifyBaseLogger;
  private readonly random: () => number;
  /** Attempt and first-token timeouts: one shared sweep instead of a Node timer per attempt. */
  private readonly deadlines = new Deadlines();

  constructor(deps: {
    registry: Registry;
    adapters: Record<ProviderKind, Adapter>;
    breakers: Breakers;
    stats: Stats;
    budget: RetryBudget;
    metrics: ProviderMetrics;
    usage: UsageWriter;
    routing: RoutingConfig;
    log: FastifyBaseLogger;
    random?: () => number;
    plans?: PlanModels;
  }) {
    this.registry = deps.registry;
    this.plans = deps.plans ?? {};
    this.adapters = deps.adapters;
    this.breakers = deps.breakers;
    this.stats = deps.stats;
    this.budget = deps.budget;
    this.metrics = deps.metrics;
    this.usage = deps.usage;
    this.routing = deps.routing;
    this.log = deps.log;
    this.random = deps.random ?? Math.random;
  }

  aliases(): Alias[] {
    return [...this.registry.aliases.values()];
  }

  /**
   * Replaces deployments and aliases at once (hot reload). Requests already routed keep the deployments they hold;
   * streams in flight are untouched. `version` identifies the configuration (the admin layer's version).
   */
  swap(registry: Registry, version: number, plans?: PlanModels): void {
    this.registry = registry;
    this.configVersion = version;
    if (plans) this.plans = plans;
  }

  /** Version of the configuration in use (0: genz.yaml and env only, never edited). */
  get version(): number {
    return this.configVersion;
  }

  /** healthy: every deployment's breaker closed; down: none closed or half-open; degraded otherwise. */
  health(alias: Alias): ModelHealth {
    const states = alias.deployments.map((d) => this.breakers.state(d.id));
    const closed = states.filter((s) => s === 'closed').length;
    if (closed === states.length) return 'healthy';
    return closed > 0 || states.includes('half_open') ? 'degraded' : 'down';
  }

  /** Whether `plan` may call the alias `model` (config `plans.<plan>.models`; an unknown plan may call nothing). */
  allowed(plan: string, model: string): boolean {
    const models = Object.hasOwn(this.plans, plan) ? this.plans[plan]?.models : undefined;
    if (!models) return false;
    return models.some((m) => m === '*' || m === model || (m.endsWith('*') && model.startsWith(m.slice(0, -1))));
  }

  /** Throws 403 naming `model` when the actor's plan does not include it (no actor: internal callers, allowed). */
  assertAllowed(actor: Actor | null, model: string): void {
    if (!actor || this.allowed(actor.plan, model)) return;
    throw new DomainError('forbidden', `The '${actor.plan}' plan does not include the model '${model}'.`, {
      param: 'model',
    });
  }

  /** resolve() plus the plan check, for requests made on behalf of a user. */
  private resolveFor(model: string, ctx: RequestContext): Alias {
    const alias = this.resolve(model);
    this.assertAllowed(ctx.actor, alias.name);
    return alias;
  }

  deployments(): Deployment[] {
    return [...this.registry.deployments.values()];
  }

  circuitState(id: string) {
    return this.breakers.state(id);
  }

  /** This replica's live statistics of a deployment (in flight, latency EWMAs, passive health score). */
  deploymentStats(id: string): Readonly<DeploymentStats> {
    return this.stats.get(id);
  }

  resolve(model: string): Alias {
    const alias = this.registry.aliases.get(model);
    if (!alias) {
      const known = [...this.registry.aliases.keys()].slice(0, 20).join(', ');
      throw new DomainError('model_not_found', `The model '${model}' does not exist. Available: ${known}.`, {
        param: 'model',
      });
    }
    return alias;
  }

  /** Candidates in the order to try them. Throws a 400 naming the parameter when none could ever fit. */
  plan(alias: Alias, needs: Needs): Deployment[] {
    const fits = alias.deployments.filter(
      (d) =>
        (!needs.tools || d.capabilities.tools) &&
        (!needs.vision || d.capabilities.vision) &&
        (!needs.embeddings || d.capabilities.embeddings) &&
        needs.tokens <= d.contextWindow,
    );
    if (fits.length === 0) {
      if (needs.embeddings) {
        throw new DomainError('bad_request', `The model '${alias.name}' does not serve embeddings.`, {
          param: 'model',
        });
      }
      if (needs.tools && !alias.deployments.some((d) => d.capabilities.tools)) {
        throw new DomainError('bad_request', `The model '${alias.name}' does not support tools.`, { param: 'tools' });
      }
      if (needs.vision && !alias.deployments.some((d) => d.capabilities.vision)) {
        throw new DomainError('bad_request', `The model '${alias.name}' does not accept image input.`, {
          param: 'messages',
        });
      }
      const max = Math.max(...alias.deployments.map((d) => d.contextWindow));
      throw new DomainError(
        'context_length_exceeded',
        `This request needs about ${needs.tokens} tokens (prompt plus max_tokens) but '${alias.name}' holds at most ${max}.`,
        { param: 'messages' },
      );
    }
    const ordered = this.order(alias, fits, needs);
    // A deployment recovering from an outage gets a growing share: otherwise it moves to the back of the line.
    const front: Deployment[] = [];
    const back: Deployment[] = [];
    for (const d of ordered) {
      if (this.breakers.state(d.id) === 'open') continue;
      const ramp = this.breakers.ramp(d.id);
      (ramp < 1 && this.random() > ramp ? back : front).push(d);
    }
    return [...front, ...back];
  }

  private order(alias: Alias, fits: Deployment[], needs: Needs): Deployment[] {
    switch (alias.strategy) {
      case 'fallback':
        return fits;
      case 'weighted': {
        const pool = fits.map((d) => ({ d, w: d.weight * this.breakers.ramp(d.id) }));
        const out: Deployment[] = [];
        while (pool.length > 0) {
          const total = pool.reduce((s, p) => s + p.w, 0);
          let pick = total > 0 ? this.random() * total : 0;
          let index = 0;
          if (total > 0) {
            index = pool.findIndex((p) => {
              pick -= p.w;
              return pick < 0;
            });
            if (index < 0) index = pool.length - 1;
          }
          const [chosen] = pool.splice(index, 1);
          if (chosen) out.push(chosen.d);
        }
        return out;
      }
      case 'least-latency':
        return stableSort(fits, (d) => this.stats.expectedLatency(d.id));
      case 'least-busy':
        return stableSort(fits, (d) => this.stats.get(d.id).inFlight);
      case 'lowest-cost':
        return stableSort(fits, (d) => d.price.input * needs.tokens + d.price.output * 256);
    }
  }

  /** Runs attempts over the plan until one succeeds; failures are retried/failed over, then a 503. */
  private async failover<T>(
    alias: Alias,
    plan: Deployment[],
    ctx: RequestContext,
    attempt: (d: Deployment, probe: boolean) => Promise<T>,
  ): Promise<{ value: T; deployment: Deployment; upstreamMs: number }> {
    const { maxAttempts, totalTimeoutMs } = this.routing;
    const deadline = nowMs() + totalTimeoutMs;
    const lastErrors = new Map<string, UpstreamError>();
    let lastError: UpstreamError | undefined;
    let attempts = 0;
    let upstreamMs = 0;
    this.budget.recordRequest();
    outer: for (let pass = 0; attempts < maxAttempts; pass++) {
      let admitted = false;
      for (const d of plan) {
        if (attempts >= maxAttempts) break outer;
        const previous = lastErrors.get(d.id);
        if (previous) {
          const wait = this.backoff(pass, previous.retryAfterMs);
          if (wait === undefined || nowMs() + wait >= deadline) continue;
          if (!this.budget.tryRetry()) break outer;
          await sleep(wait, undefined, { signal: ctx.signal }).catch(() => {});
          if (ctx.signal.aborted) break outer;
          this.metrics.retries.inc({ deployment: d.id });
        }
        const admission = this.breakers.admit(d.id);
        if (!admission.ok) continue;
        admitted = true;
        attempts++;
        const started = nowMs();
        try {
          // One span per attempt (until the first token when streaming): a trace shows the failover, and the
          // provider's HTTP call (undici) sits below the deployment that made it.
          const value = await withSpan(
            'router.attempt',
            {
              'genz.alias': alias.name,
              'genz.deployment': d.id,
              'genz.attempt': attempts,
              'gen_ai.system': d.provider,
              'gen_ai.request.model': d.model,
            },
            () => attempt(d, admission.probe),
          );
          upstreamMs += nowMs() - started;
          if (attempts > 1 || d !== plan[0]) this.metrics.fallbacks.inc({ alias: alias.name });
          return { value, deployment: d, upstreamMs };
        } catch (err) {
          upstreamMs += nowMs() - started;
          const e = classify(err);
          lastErrors.set(d.id, e);
          lastError = e;
          if (ctx.signal.aborted) throw new DomainError('bad_request', 'The client closed the request.');
          if (e.kind === 'http_4xx') {
            throw new DomainError(e.param ? 'validation_failed' : 'bad_request', e.upstreamMessage ?? e.message, {
              cause: e,
              ...(e.param ? { param: e.param } : {}),
            });
          }
          this.log.warn({ deployment: d.id, kind: e.kind, reason: e.message }, 'upstream attempt failed');
        }
      }
      if (!admitted) break;
    }
    throw this.unavailable(alias, plan, lastError);
  }

  private backoff(pass: number, retryAfterMs: number | undefined): number | undefined {
    const { retryBaseDelayMs, retryMaxDelayMs } = this.routing;
    if (retryAfterMs !== undefined) return retryAfterMs > retryMaxDelayMs ? undefined : retryAfterMs;
    const cap = Math.min(retryMaxDelayMs, retryBaseDelayMs * 2 ** Math.max(0, pass - 1));
    return Math.round(this.random() * cap); // full jitter
  }

  private unavailable(alias: Alias, plan: Deployment[], lastError: UpstreamError | undefined): DomainError {
    const now = Date.now();
    const reopen = alias.deployments
      .map((d) => this.breakers.openUntil(d.id))
      .filter((t) => t > now)
      .reduce((min, t) => Math.min(min, t), Number.POSITIVE_INFINITY);
    const waitMs = Number.isFinite(reopen) ? reopen - now : (lastError?.retryAfterMs ?? 1000);
    const retryAfter = String(Math.max(1, Math.min(60, Math.ceil(waitMs / 1000))));
    const why = lastError
      ? ` (last error: ${lastError.kind})`
      : plan.length === 0
        ? ' (every deployment is cooling down)'
        : '';
    return new DomainError(
      'upstream_unavailable',
      `Every provider for '${alias.name}' is unavailable right now${why}. Retry after ${retryAfter} s.`,
      { headers: { 'retry-after': retryAfter }, cause: lastError },
    );
  }

  private begin(d: Deployment): void {
    this.stats.get(d.id).inFlight++;
  }

  /**
   * Bookkeeping for one attempt that failed before it could be used. Awaited before the next candidate is tried, so
   * the breaker (one Redis round trip, bounded by redis.commandTimeoutMs) is current for the next request.
   */
  private async attemptFailed(d: Deployment, e: UpstreamError, probe: boolean): Promise<void> {
    this.stats.get(d.id).inFlight--;
    if (probe) this.breakers.releaseProbe(d.id);
    if (e.kind === 'aborted') {
      this.metrics.requests.inc({ deployment: d.id, status: 'aborted' });
      return;
    }
    this.metrics.requests.inc({ deployment: d.id, status: e.isDeploymentFault ? 'error' : 'client_error' });
    this.metrics.errors.inc({ deployment: d.id, kind: e.kind });
    if (e.isDeploymentFault) {
      this.stats.observeOutcome(d.id, false);
      await this.breakers.recordFailure(d.id).catch(() => {});
    }
  }

  /** The end of an attempt that was used: its outcome, latency, tokens and cost counted, its usage event queued. */
  private account(
    d: Deployment,
    alias: Alias,
    ctx: RequestContext,
    status: UsageEvent['status'],
    usage: Usage | undefined,
    latencyMs: number,
    ttftMs: number | null,
  ): void {
    const input = usage?.inputTokens ?? 0;
    const output = usage?.outputTokens ?? 0;
    const cost = input * d.price.input + output * d.price.output;
    const tally = this.metrics.tally(d.id);
    tally.latency.observe(latencyMs / 1000);
    if (status === 'ok') tally.ok++;
    else this.metrics.requests.inc({ deployment: d.id, status });
    if (input > 0) tally.inputTokens += input;
    if (output > 0) tally.outputTokens += output;
    if (cost > 0) tally.costUsd += cost;
    this.usage.push({
      requestId: ctx.requestId,
      at: new Date(),
      userId: ctx.actor?.userId ?? null,
      apiKeyId: ctx.actor?.apiKeyId ?? null,
      alias: alias.name,
      deployment: d.id,
      endpoint: ctx.endpoint,
      status,
      inputTokens: input,
      outputTokens: output,
      reasoningTokens: usage?.reasoningTokens ?? 0,
      costUsd: cost,
      priceVersion: d.price.source,
      latencyMs: Math.round(latencyMs),
      ttftMs: ttftMs === null ? null : Math.round(ttftMs),
    });
    ctx.onUsage?.(usage ? { inputTokens: input, outputTokens: output, costUsd: cost } : undefined);
  }

  private linkAbort(ctx: RequestContext): { controller: AbortController; unlink: () => void } {
    const controller = new AbortController();
    const onAbort = () => controller.abort(new UpstreamError('aborted', 'the client went away'));
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener('abort', onAbort, { once: true });
    return { controller, unlink: () => ctx.signal.removeEventListener('abort', onAbort) };
  }

  private overheadUs(ctx: RequestContext, upstreamMs: number): number {
    const totalUs = Number(process.hrtime.bigint() - ctx.startNs) / 1000;
    return Math.max(0, Math.round(totalUs - upstreamMs * 1000));
  }

  /** Non-streaming chat completion (any failure is retried or failed over; the body is the upstream's JSON). */
  async completeChat(body: ChatRequest, ctx: RequestContext): Promise<CompleteResult> {
    const alias = this.resolveFor(body.model, ctx);
    const plan = this.plan(alias, needsOf(body));
    const run = (d: Deployment, probe: boolean) => this.completeOn(d, alias, body, ctx, probe, 'chat');
    const { value, deployment, upstreamMs } = await this.failover(alias, plan, ctx, run);
    return { deployment, overheadUs: this.overheadUs(ctx, upstreamMs), body: value.body, usage: value.usage };
  }

  async embed(body: Record<string, unknown> & { model: string }, ctx: RequestContext): Promise<CompleteResult> {
    const alias = this.resolveFor(body.model, ctx);
    const plan = this.plan(alias, { tools: false, vision: false, embeddings: true, tokens: 0 });
    const run = (d: Deployment, probe: boolean) => this.completeOn(d, alias, body, ctx, probe, 'embed');
    const { value, deployment, upstreamMs } = await this.failover(alias, plan, ctx, run);
    return { deployment, overheadUs: this.overheadUs(ctx, upstreamMs), body: value.body, usage: value.usage };
  }

  private async completeOn(
    d: Deployment,
    alias: Alias,
    body: ChatRequest | Record<string, unknown>,
    ctx: RequestContext,
    probe: boolean,
    kind: 'chat' | 'embed',
  ): Promise<CompletionResult> {
    const adapter = this.adapters[d.provider];
    const { controller, unlink } = this.linkAbort(ctx);
    const deadline = this.deadlines.after(Math.min(this.routing.responseTimeoutMs, this.routing.totalTimeoutMs), () =>
      controller.abort(new UpstreamError('ttft_timeout', 'upstream did not answer in time')),
    );
    this.begin(d);
    const t0 = nowMs();
    try {
      let result: CompletionResult;
      if (kind === 'embed') {
        if (!adapter.embed) throw new UpstreamError('http_config', `${d.provider} does not serve embeddings`);
        result = await adapter.embed({ deployment: d, body, signal: controller.signal });
      } else {
        result = await adapter.complete({ deployment: d, body: body as ChatRequest, signal: controller.signal });
      }
      const latency = nowMs() - t0;
      this.stats.get(d.id).inFlight--;
      if (probe) this.breakers.releaseProbe(d.id);
      this.stats.observeOutcome(d.id, true);
      this.breakers.recordSuccess(d.id).catch(() => {});
      this.account(d, alias, ctx, 'ok', result.usage, latency, null);
      return result;
    } catch (err) {
      const reason = controller.signal.reason;
      const e = controller.signal.aborted && reason instanceof UpstreamError ? reason : classify(err);
      await this.attemptFailed(d, e, probe);
      throw e;
    } finally {
      this.deadlines.clear(deadline);
      unlink();
    }
  }

  /**
   * Streaming chat completion. Resolves once a deployment produced its first content token (everything before is
   * invisible failover); the returned generators then relay the rest. After that point a failure ends the stream
   * with an OpenAI error event and never with `[DONE]`.
   */
  async streamChat(body: ChatRequest, ctx: RequestContext): Promise<StreamResult> {
    const alias = this.resolveFor(body.model, ctx);
    const plan = this.plan(alias, needsOf(body));
    const { value: committed, upstreamMs } = await this.failover(alias, plan, ctx, (d, probe) =>
      this.startStream(d, body, ctx, probe),
    );
    const overheadUs = this.overheadUs(ctx, upstreamMs);
    const includeUsage = body.stream_options?.include_usage === true;
    return {
      deployment: committed.deployment,
      overheadUs,
      pipe: (out) => this.pipe(committed, alias, ctx, includeUsage, out),
      frames: this.relay(committed, alias, ctx),
    };
  }

  private async startStream(d: Deployment, body: ChatRequest, ctx: RequestContext, probe: boolean): Promise<Committed> {
    const { controller, unlink } = this.linkAbort(ctx);
    const ttftDeadline = this.deadlines.after(this.routing.ttftTimeoutMs, () =>
      controller.abort(new UpstreamError('ttft_timeout', 'no first token in time')),
    );
    this.begin(d);
    const t0 = nowMs();
    const iterator = this.adapters[d.provider]
      .stream({ deployment: d, body, signal: controller.signal })
      [Symbol.asyncIterator]();
    const head: Frame[] = [];
    try {
      for (;;) {
        const next = await iterator.next();
        if (next.done) break; // an empty reply: commit what there is
        head.push(next.value);
        if (next.value.content || next.value.finishReason) break;
      }
    } catch (err) {
      this.deadlines.clear(ttftDeadline);
      unlink();
      const reason = controller.signal.reason;
      const e = controller.signal.aborted && reason instanceof UpstreamError ? reason : classify(err);
      controller.abort(e);
      await this.attemptFailed(d, e, probe);
      throw e;
    }
    this.deadlines.clear(ttftDeadline);
    const ttftMs = nowMs() - t0;
    this.metrics.tally(d.id).ttft.observe(ttftMs / 1000);
    this.stats.observeTtft(d.id, ttftMs);
    this.breakers.recordSuccess(d.id).catch(() => {});
    if (probe) this.breakers.releaseProbe(d.id);
    return { deployment: d, head, iterator, controller, unlink, t0, ttftMs, probe: false };
  }

  /**
   * The idle and total bounds of a committed stream: one timer each, armed once. An event only stamps the time; the
   * idle timer, when it fires, re-arms for what is left of the bound (no timer work per event).
   */
  private streamDeadlines(c: Committed): { touch: () => void; clear: () => void } {
    const { idleTimeoutMs } = this.routing;
    let last = nowMs();
    const check = () => {
      const quiet = nowMs() - last;
      if (quiet >= idleTimeoutMs - 1) {
        c.controller.abort(new UpstreamError('idle_timeout', 'upstream went silent mid-stream'));
      } else idle = setTimeout(check, idleTimeoutMs - quiet);
    };
    let idle = setTimeout(check, idleTimeoutMs);
    const total = setTimeout(
      () => c.controller.abort(new UpstreamError('total_timeout', 'stream exceeded the total deadline')),
      Math.max(1, this.routing.totalTimeoutMs - (nowMs() - c.t0)),
    );
    return {
      touch: () => {
        last = nowMs();
      },
      clear: () => {
        clearTimeout(idle);
        clearTimeout(total);
      },
    };
  }

  /** Why a committed stream stopped: the reason its controller was aborted with (a timeout, the client), or `err`. */
  private failureOf(c: Committed, err: unknown): UpstreamError {
    const reason = c.controller.signal.reason;
    return c.controller.signal.aborted && reason instanceof UpstreamError ? reason : classify(err);
  }

  /**
   * Relays a committed stream to `out` (see StreamResult.pipe). Streams that can push (the OpenAI wire) are tapped:
   * each upstream read becomes one write, with no promise per event; others are pumped frame by frame.
   */
  private pipe(c: Committed, alias: Alias, ctx: RequestContext, includeUsage: boolean, out: SseOut): void {
    let usage: Usage | undefined;
    let settled = false;
    const deadlines = this.streamDeadlines(c);
    const stream = c.iterator as Partial<TappableStream>;
    const resume = () => stream.resume?.();
    const finish = (status: UsageEvent['status'], failure?: UpstreamError) => {
      if (settled) return;
      settled = true;
      deadlines.clear();
      // The last event goes out with the end of the response (one write).
      if (!out.destroyed) {
        out.end(status === 'ok' ? 'data: [DONE]\n\n' : status === 'error' && failure ? interruptedEvent(failure) : '');
      }
      this.settle(c, alias, ctx, status, usage, failure);
    };
    const sink: FrameSink = {
      data(sse) {
        deadlines.touch();
        if (settled) return true;
        const ready = out.write(sse);
        if (!ready) out.once('drain', resume);
        return ready;
      },
      usage(u) {
        deadlines.touch();
        usage = u;
      },
      end: () => finish('ok'),
      error: (err) => {
        const failure = this.failureOf(c, err);
        finish(failure.kind === 'aborted' ? 'aborted' : 'error', failure);
      },
    };
    for (const frame of c.head) {
      usage = fromOpenAiUsage(frame.chunk.usage) ?? usage;
      if (frame.usageOnly && !includeUsage) continue;
      out.write(`data: ${frame.data}\n\n`);
    }
    if (typeof stream.tap === 'function') stream.tap(sink, includeUsage);
    else void this.pump(c.iterator, sink, includeUsage, out);
  }

  /** The relay for streams that only iterate (translated wires, demo): frame by frame into the sink. */
  private async pump(iterator: AsyncIterator<Frame>, sink: FrameSink, includeUsage: boolean, out: SseOut) {
    try {
      for (;;) {
        const next = await iterator.next();
        if (next.done) break;
        const frame = next.value;
        const reported = fromOpenAiUsage(frame.chunk.usage);
        if (reported) sink.usage(reported);
        if (frame.usageOnly && !includeUsage) continue;
        if (!sink.data(`data: ${frame.data}\n\n`)) {
          await new Promise<void>((resolve) => {
            out.once('drain', resolve);
            out.once('close', resolve);
          });
        }
      }
    } catch (err) {
      sink.error(err);
      return;
    }
    sink.end();
  }

  private async *relay(c: Committed, alias: Alias, ctx: RequestContext): AsyncGenerator<Frame> {
    let usage: Usage | undefined;
    let status: UsageEvent['status'] = 'aborted';
    let failure: UpstreamError | undefined;
    const deadlines = this.streamDeadlines(c);
    try {
      for (const frame of c.head) {
        usage = fromOpenAiUsage(frame.chunk.usage) ?? usage;
        yield frame;
      }
      for (;;) {
        const next = await c.iterator.next();
        if (next.done) break;
        deadlines.touch();
        usage = fromOpenAiUsage(next.value.chunk.usage) ?? usage;
        yield next.value;
      }
      status = 'ok';
    } catch (err) {
      failure = this.failureOf(c, err);
      status = failure.kind === 'aborted' ? 'aborted' : 'error';
      throw failure;
    } finally {
      deadlines.clear();
      this.settle(c, alias, ctx, status, usage, failure);
    }
  }

  /** The end of a committed stream: the upstream released, the outcome counted, the usage recorded. */
  private settle(
    c: Committed,
    alias: Alias,
    ctx: RequestContext,
    status: UsageEvent['status'],
    usage: Usage | undefined,
    failure: UpstreamError | undefined,
  ): void {
    const d = c.deployment;
    c.unlink();
    if (status !== 'ok') {
      if (!c.controller.signal.aborted) c.controller.abort(new UpstreamError('aborted', 'relay stopped'));
      c.iterator.return?.().catch(() => {});
    }
    const latency = nowMs() - c.t0;
    this.stats.get(d.id).inFlight--;
    if (status === 'error' && failure) {
      this.metrics.errors.inc({ deployment: d.id, kind: failure.kind });
      this.stats.observeOutcome(d.id, false);
      this.breakers.recordFailure(d.id).catch(() => {});
    } else if (status === 'ok') {
      this.stats.observeOutcome(d.id, true);
      if (usage) this.stats.observeThroughput(d.id, usage.outputTokens, latency - c.ttftMs);
    }
    this.account(d, alias, ctx, status, usage, latency, c.ttftMs);
  }

  /** An active health probe: the smallest request the deployment serves, through the normal bookkeeping. */
  async probe(d: Deployment): Promise<boolean> {
    const admission = this.breakers.admit(d.id);
    if (!admission.ok) return false;
    const alias: Alias = { name: '__probe__', strategy: 'fallback', deployments: [d], description: undefined };
    const ctx: RequestContext = {
      requestId: `probe-${d.id}`,
      actor: null,
      startNs: process.hrtime.bigint(),
      signal: new AbortController().signal,
      endpoint: d.capabilities.embeddings && !d.capabilities.tools ? 'embeddings' : 'chat.completions',
    };
    try {
      if (ctx.endpoint === 'embeddings') await this.completeOn(d, alias, { input: 'ping' }, ctx, true, 'embed');
      else {
        const body: ChatRequest = { model: d.model, messages: [{ role: 'user', content: 'ping' }], max_tokens: 1 };
        await this.completeOn(d, alias, body, ctx, true, 'chat');
      }
      return true;
    } catch {
      return false;
    }
  }
}

function stableSort<T>(items: T[], key: (item: T) => number): T[] {
  return items
    .map((item, i) => ({ item, i, k: key(item) }))
    .sort((a, b) => a.k - b.k || a.i - b.i)
    .map((x) => x.item);
}
