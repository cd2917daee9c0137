/**
 * The limiter's Redis breaker (ADR 060). Closed: every call goes to Redis (each under the client's command timeout,
 * `redis.commandTimeoutMs`). A failure opens it for `openMs`: calls go straight to the memory fallback without
 * touching Redis. Then one caller is let through as a probe while the others stay on memory; its success closes the
 * breaker (global counting again), its failure re-opens it. So an outage costs at most one timeout per `openMs`
 * per replica, a hung Redis costs nobody more than one command timeout, and recovery needs nobody.
 */
export type BreakerTicket = 'closed' | 'probe' | 'open';

export interface RedisBreaker {
  /** May this call use Redis? `probe` means yes, and report the outcome. */
  ticket(): BreakerTicket;
  success(): void;
  failure(reason: string): void;
  /** True while limits are counted in memory because of a failure. */
  isOpen(): boolean;
}

export function createRedisBreaker(opts: {
  openMs: number;
  now?: () => number;
  onChange?: (open: boolean, reason?: string) => void;
}): RedisBreaker {
  const now = opts.now ?? Date.now;
  let open = false;
  let openUntil = 0;
  let probing = false;

  function setOpen(next: boolean, reason?: string) {
    if (next === open) return;
    open = next;
    opts.onChange?.(next, reason);
  }

  return {
    ticket() {
      if (!open) return 'closed';
      if (probing || now() < openUntil) return 'open';
      probing = true;
      return 'probe';
    },
    success() {
      probing = false;
      setOpen(false);
    },
    failure(reason) {
      probing = false;
      openUntil = now() + opts.openMs;
      setOpen(true, reason);
    },
    isOpen: () => open,
  };
}
