-- Expand: a conversation's messages in id (time) order, for the tree view, export and share snapshots. Without it a
-- long conversation of a user with many messages was read by walking the user's whole primary key (issue 5 bench).
-- On the partitioned parent, PostgreSQL creates the index on every partition.
CREATE INDEX IF NOT EXISTS messages_conversation_id_idx ON messages (user_id, conversation_id, id);
