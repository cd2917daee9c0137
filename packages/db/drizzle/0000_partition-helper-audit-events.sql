-- Monthly RANGE partitions in our own SQL: PGlite has no pg_partman, and this must run on PostgreSQL 15 and 18 alike.
-- genz_ensure_monthly_partitions(parent, months_ahead, retain_months, at_time) makes sure that
--   * a DEFAULT partition <parent>_default exists, so no insert ever fails for want of a partition;
--   * <parent>_pYYYYMM exists for the month of at_time (UTC) and months_ahead months after it; rows already sitting in
--     DEFAULT for such a month are moved into the new partition (otherwise ATTACH would refuse);
--   * partitions that ended on or before (month of at_time) - retain_months are dropped, and rows that old are
--     deleted from DEFAULT. retain_months NULL keeps everything.
-- It returns one row per partition created or dropped. Concurrent callers serialise on a transaction-scoped
-- advisory lock per parent, so several API replicas may run it on a timer.
CREATE OR REPLACE FUNCTION genz_ensure_monthly_partitions(
  parent regclass,
  months_ahead integer,
  retain_months integer,
  at_time timestamptz DEFAULT now()
) RETURNS TABLE (action text, partition_name text)
LANGUAGE plpgsql
AS $fn$
DECLARE
  parent_schema name;
  parent_nsp oid;
  parent_name name;
  key_column name;
  default_oid oid;
  default_name text;
  month_start timestamp;
  lo timestamptz;
  hi timestamptz;
  child text;
  cutoff timestamptz;
  rec record;
  i integer;
BEGIN
  IF months_ahead IS NULL OR months_ahead < 0 THEN
    RAISE EXCEPTION 'months_ahead must be >= 0';
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('genz_ensure_monthly_partitions'), hashtext(parent::text));

  SELECT n.nspname, n.oid, c.relname INTO parent_schema, parent_nsp, parent_name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = parent;
  SELECT a.attname, p.partdefid INTO key_column, default_oid
    FROM pg_partitioned_table p
    JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
   WHERE p.partrelid = parent AND p.partstrat = 'r' AND p.partnatts = 1;
  IF key_column IS NULL THEN
    RAISE EXCEPTION '% is not a table partitioned by RANGE on one column', parent;
  END IF;

  IF default_oid = 0 THEN
    default_name := parent_name || '_default';
    EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s DEFAULT', parent_schema, default_name, parent);
    action := 'created'; partition_name := default_name; RETURN NEXT;
  ELSE
    SELECT c.relname INTO default_name FROM pg_class c WHERE c.oid = default_oid;
  END IF;

  month_start := date_trunc('month', at_time AT TIME ZONE 'UTC');
  FOR i IN 0..months_ahead LOOP
    lo := (month_start + make_interval(months => i)) AT TIME ZONE 'UTC';
    hi := (month_start + make_interval(months => i + 1)) AT TIME ZONE 'UTC';
    child := parent_name || '_p' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMM');
    CONTINUE WHEN EXISTS (
      SELECT 1 FROM pg_class c WHERE c.relname = child AND c.relnamespace = parent_nsp
    );
    -- Create detached, move any rows DEFAULT holds for this month, then attach: a plain PARTITION OF would fail
    -- when DEFAULT already has such rows (e.g. written while the partition job was not running).
    EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', parent_schema, child, parent);
    EXECUTE format(
      'WITH moved AS (DELETE FROM %I.%I WHERE %I >= $1 AND %I < $2 RETURNING *) INSERT INTO %I.%I SELECT * FROM moved',
      parent_schema, default_name, key_column, key_column, parent_schema, child
    ) USING lo, hi;
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
      parent, parent_schema, child, lo, hi);
    action := 'created'; partition_name := child; RETURN NEXT;
  END LOOP;

  IF retain_months IS NOT NULL THEN
    cutoff := (month_start - make_interval(months => retain_months)) AT TIME ZONE 'UTC';
    FOR rec IN
      SELECT c.relname AS name, n.nspname AS nsp
        FROM pg_inherits inh
        JOIN pg_class c ON c.oid = inh.inhrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE inh.inhparent = parent
         AND c.relname ~ ('^' || parent_name || '_p[0-9]{6}$')
       ORDER BY c.relname
    LOOP
      hi := (to_date(right(rec.name, 6), 'YYYYMM')::timestamp + interval '1 month') AT TIME ZONE 'UTC';
      IF hi <= cutoff THEN
        EXECUTE format('DROP TABLE %I.%I', rec.nsp, rec.name);
        action := 'dropped'; partition_name := rec.name; RETURN NEXT;
      END IF;
    END LOOP;
    EXECUTE format('DELETE FROM %I.%I WHERE %I < $1', parent_schema, default_name, key_column) USING cutoff;
  END IF;
END;
$fn$;
--> statement-breakpoint
CREATE TABLE audit_events (
  id uuid NOT NULL,
  created_at timestamptz(3) DEFAULT now() NOT NULL,
  actor_user_id uuid,
  event text NOT NULL,
  target_type text,
  target_id text,
  ip inet,
  user_agent text,
  data jsonb DEFAULT '{}'::jsonb NOT NULL,
  CONSTRAINT audit_events_pkey PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
--> statement-breakpoint
CREATE INDEX audit_events_created_at_id_idx ON audit_events (created_at DESC, id DESC);
--> statement-breakpoint
CREATE INDEX audit_events_actor_created_at_idx ON audit_events (actor_user_id, created_at DESC, id DESC);
--> statement-breakpoint
CREATE INDEX audit_events_event_created_at_idx ON audit_events (event, created_at DESC, id DESC);
--> statement-breakpoint
-- DEFAULT plus this month and the next two; the API keeps them ahead on a timer (ensureMonthlyPartitions).
SELECT genz_ensure_monthly_partitions('audit_events', 2, NULL);
