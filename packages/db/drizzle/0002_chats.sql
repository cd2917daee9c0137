-- Chats (docs/chats.md, ADR 040-042). Hand-written: messages is PARTITION BY HASH (user_id) and the search columns
-- are generated tsvectors, neither of which drizzle's DSL can declare. Search uses the 'simple' configuration (no
-- stemming, no stop words): conversations are written in every language, and prefix queries (`term:*`) cover the
-- inflections stemming would. Generated columns keep the index consistent in the same transaction as the write.
CREATE TABLE conversations (
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  title text,
  title_source text DEFAULT 'auto' NOT NULL,
  pinned boolean DEFAULT false NOT NULL,
  settings jsonb DEFAULT '{}'::jsonb NOT NULL,
  active_leaf_id uuid,
  created_at timestamptz(3) DEFAULT now() NOT NULL,
  updated_at timestamptz(3) DEFAULT now() NOT NULL,
  archived_at timestamptz(3),
  deleted_at timestamptz(3),
  title_tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, coalesce(title, ''))) STORED NOT NULL,
  CONSTRAINT conversations_pkey PRIMARY KEY (user_id, id),
  CONSTRAINT conversations_title_source_check CHECK (title_source IN ('auto', 'user'))
);
--> statement-breakpoint
-- The sidebar: pinned first, then most recently active, keyset on (pinned, updated_at, id).
CREATE INDEX conversations_list_idx ON conversations (user_id, pinned DESC, updated_at DESC, id DESC)
  WHERE deleted_at IS NULL AND archived_at IS NULL;
--> statement-breakpoint
CREATE INDEX conversations_archived_idx ON conversations (user_id, updated_at DESC, id DESC)
  WHERE deleted_at IS NULL AND archived_at IS NOT NULL;
--> statement-breakpoint
-- The retention job purges soft-deleted conversations older than the configured window.
CREATE INDEX conversations_deleted_at_idx ON conversations (deleted_at) WHERE deleted_at IS NOT NULL;
--> statement-breakpoint
CREATE INDEX conversations_title_tsv_idx ON conversations USING gin (title_tsv);
--> statement-breakpoint
CREATE TABLE messages (
  user_id uuid NOT NULL,
  id uuid NOT NULL,
  conversation_id uuid NOT NULL,
  parent_id uuid,
  role text NOT NULL,
  content jsonb DEFAULT '[]'::jsonb NOT NULL,
  status text DEFAULT 'complete' NOT NULL,
  generation_id uuid,
  model text,
  provider text,
  deployment text,
  tokens_in integer,
  tokens_out integer,
  cost_usd double precision,
  error jsonb,
  created_at timestamptz(3) DEFAULT now() NOT NULL,
  -- Only the text parts are searchable (not reasoning, tool arguments or part metadata).
  tsv tsvector GENERATED ALWAYS AS (
    to_tsvector('simple'::regconfig, jsonb_path_query_array(content, '$[*] ? (@.type == "text").text'::jsonpath))
  ) STORED NOT NULL,
  CONSTRAINT messages_pkey PRIMARY KEY (user_id, id),
  CONSTRAINT messages_conversation_fkey FOREIGN KEY (user_id, conversation_id)
    REFERENCES conversations (user_id, id) ON DELETE CASCADE,
  CONSTRAINT messages_role_check CHECK (role IN ('system', 'user', 'assistant', 'tool')),
  CONSTRAINT messages_status_check CHECK (status IN ('streaming', 'complete', 'stopped', 'interrupted', 'error'))
) PARTITION BY HASH (user_id);
--> statement-breakpoint
CREATE TABLE messages_p00 PARTITION OF messages FOR VALUES WITH (MODULUS 16, REMAINDER 0);
--> statement-breakpoint
CREATE TABLE messages_p01 PARTITION OF messages FOR VALUES WITH (MODULUS 16, REMAINDER 1);
--> statement-breakpoint
CREATE TABLE messages_p02 PARTITION OF messages FOR VALUES WITH (MODULUS 16, REMAINDER 2);
--> statement-breakpoint
CREATE TABLE messages_p03 PARTITION OF messages FOR VALUES WITH (MODULUS 16, REMAINDER 3);
--> statement-breakpoint
CREATE TABLE messages_p04 PARTITION OF messages FOR VALUES WITH (MODULUS 16, REMAINDER 4);
--> statement-breakpoint
CREATE TABLE messages_p05 PARTITION OF messages FOR VALUES WITH (MODULUS 16, REMAINDER 5);
--> statement-breakpoint
CREATE TABLE messages_p06 PARTITION OF messages FOR VALUES WITH (MODULUS 16, REMAINDER 6);
--> statement-breakpoint
CREATE TABLE messages_p07 PARTITION OF messages FOR VALUES WITH (MODULUS 16, REMAINDER 7);
--> statement-breakpoint
CREATE TABLE messages_p08 PARTITION OF messages FOR VALUES WITH (MODULUS 16, REMAINDER 8);
--> statement-breakpoint
CREATE TABLE messages_p09 PARTITION OF messages FOR VALUES WITH (MODULUS 16, REMAINDER 9);
--> statement-breakpoint
CREATE TABLE messages_p10 PARTITION OF messages FOR VALUES WITH (MODULUS 16, REMAINDER 10);
--> statement-breakpoint
CREATE TABLE messages_p11 PARTITION OF messages FOR VALUES WITH (MODULUS 16, REMAINDER 11);
--> statement-breakpoint
CREATE TABLE messages_p12 PARTITION OF messages FOR VALUES WITH (MODULUS 16, REMAINDER 12);
--> statement-breakpoint
CREATE TABLE messages_p13 PARTITION OF messages FOR VALUES WITH (MODULUS 16, REMAINDER 13);
--> statement-breakpoint
CREATE TABLE messages_p14 PARTITION OF messages FOR VALUES WITH (MODULUS 16, REMAINDER 14);
--> statement-breakpoint
CREATE TABLE messages_p15 PARTITION OF messages FOR VALUES WITH (MODULUS 16, REMAINDER 15);
--> statement-breakpoint
-- A branch walks parent_id upwards by primary key; siblings (same parent) and a conversation's messages by this.
CREATE INDEX messages_conversation_parent_idx ON messages (user_id, conversation_id, parent_id, id);
--> statement-breakpoint
CREATE INDEX messages_tsv_idx ON messages USING gin (tsv);
--> statement-breakpoint
CREATE TABLE generations (
  user_id uuid NOT NULL,
  id uuid NOT NULL,
  conversation_id uuid NOT NULL,
  user_message_id uuid,
  assistant_message_id uuid NOT NULL,
  status text DEFAULT 'streaming' NOT NULL,
  owner text NOT NULL,
  heartbeat_at timestamptz(3) NOT NULL,
  last_seq integer DEFAULT 0 NOT NULL,
  created_at timestamptz(3) DEFAULT now() NOT NULL,
  finished_at timestamptz(3),
  CONSTRAINT generations_pkey PRIMARY KEY (user_id, id),
  CONSTRAINT generations_conversation_fkey FOREIGN KEY (user_id, conversation_id)
    REFERENCES conversations (user_id, id) ON DELETE CASCADE,
  CONSTRAINT generations_status_check CHECK (status IN ('streaming', 'complete', 'stopped', 'interrupted', 'error'))
);
--> statement-breakpoint
-- The reaper's scan: live generations by heartbeat age.
CREATE INDEX generations_streaming_heartbeat_idx ON generations (heartbeat_at) WHERE status = 'streaming';
--> statement-breakpoint
CREATE TABLE presets (
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  name text NOT NULL,
  settings jsonb DEFAULT '{}'::jsonb NOT NULL,
  created_at timestamptz(3) DEFAULT now() NOT NULL,
  updated_at timestamptz(3) DEFAULT now() NOT NULL,
  CONSTRAINT presets_pkey PRIMARY KEY (user_id, id)
);
--> statement-breakpoint
CREATE TABLE idempotency_keys (
  user_id uuid NOT NULL,
  key text NOT NULL,
  request_hash text NOT NULL,
  generation_id uuid,
  created_at timestamptz(3) DEFAULT now() NOT NULL,
  expires_at timestamptz(3) NOT NULL,
  CONSTRAINT idempotency_keys_pkey PRIMARY KEY (user_id, key)
);
--> statement-breakpoint
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);
--> statement-breakpoint
CREATE TABLE shares (
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  token text NOT NULL,
  conversation_id uuid NOT NULL,
  snapshot jsonb NOT NULL,
  created_at timestamptz(3) DEFAULT now() NOT NULL,
  expires_at timestamptz(3),
  revoked_at timestamptz(3),
  CONSTRAINT shares_pkey PRIMARY KEY (user_id, id),
  CONSTRAINT shares_conversation_fkey FOREIGN KEY (user_id, conversation_id)
    REFERENCES conversations (user_id, id) ON DELETE CASCADE
);
--> statement-breakpoint
CREATE UNIQUE INDEX shares_token_key ON shares (token);
--> statement-breakpoint
CREATE INDEX shares_user_conversation_idx ON shares (user_id, conversation_id);
