/** Why load shedding refused a request (the `reason` of a 503 `overloaded` and of `genz_shed_requests_total`). */
export const SHED_REASONS = [
  'loop_turn',
  'event_loop_delay',
  'event_loop_utilization',
  'heap',
  'rss',
  'in_flight',
] as const;
export type ShedReason = (typeof SHED_REASONS)[number];
