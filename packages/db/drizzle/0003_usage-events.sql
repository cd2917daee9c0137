-- Usage events (docs/providers.md "Usage"): one row per upstream model call, written in multi-row batches by the
-- API's usage writer. Monthly RANGE partitions like audit_events; the API keeps them ahead and drops expired ones
-- (providers.usage.retentionMonths) with genz_ensure_monthly_partitions(). No foreign keys on purpose: a batch must
-- not fail because a user or key was deleted between the request and the write.
CREATE TABLE usage_events (
  id uuid NOT NULL,
  created_at timestamptz(3) DEFAULT now() NOT NULL,
  request_id text NOT NULL,
  user_id uuid,
  api_key_id uuid,
  alias text NOT NULL,
  deployment text NOT NULL,
  endpoint text NOT NULL,
  status text NOT NULL,
  input_tokens integer NOT NULL,
  output_tokens integer NOT NULL,
  reasoning_tokens integer NOT NULL,
  cost_usd double precision NOT NULL,
  price_version text NOT NULL,
  latency_ms integer NOT NULL,
  ttft_ms integer,
  CONSTRAINT usage_events_pkey PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
--> statement-breakpoint
CREATE INDEX usage_events_user_created_at_idx ON usage_events (user_id, created_at DESC);
--> statement-breakpoint
CREATE INDEX usage_events_created_at_idx ON usage_events (created_at DESC);
--> statement-breakpoint
SELECT genz_ensure_monthly_partitions('usage_events', 2, NULL);
