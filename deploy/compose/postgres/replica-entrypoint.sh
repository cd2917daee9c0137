#!/bin/bash
# Streaming replica: on first start clone the primary with pg_basebackup -R (writes standby.signal and
# primary_conninfo), then run PostgreSQL as a hot standby.
set -euo pipefail
: "${PGDATA:?}" "${PRIMARY_HOST:?}" "${REPLICATION_PASSWORD:?}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -h "$PRIMARY_HOST" -p 5432 -q; do sleep 1; done
  mkdir -p "$PGDATA" && chmod 700 "$PGDATA"
  PGPASSWORD="$REPLICATION_PASSWORD" pg_basebackup -h "$PRIMARY_HOST" -p 5432 -U replicator -D "$PGDATA" -R -X stream -c fast
fi
exec postgres -c config_file=/etc/postgresql/postgresql.conf -c hba_file="$PGDATA/pg_hba.conf"
