#!/usr/bin/env bash
# GenZ AI PostgreSQL restores (docs/operations.md, "Backup, restore and failover").
#
#   restore.sh logical (--in FILE.dump | --latest DIR) --database-url URL [--jobs N]
#       pg_restore a backup.sh logical dump into URL, which must be an empty database (CREATE DATABASE it first).
#       One transaction (all or nothing) unless --jobs N > 1 (parallel, faster for big databases; on failure drop
#       the database and start again). Then, if FILE.dump.manifest exists, runs `verify` against it.
#       --latest DIR restores the newest genz-*.dump in DIR (the restore drill: deploy/k8s/restore-drill/).
#
#   restore.sh verify --manifest FILE.dump.manifest --database-url URL
#       Compares the exact row count of every table and partition of URL with the manifest; exits 1 on any
#       difference, naming the table.
#
#   restore.sh pitr --base DIR --wal-archive DIR --pgdata DIR [--target-time TS | --target-lsn LSN]
#       Prepares a point-in-time recovery from a backup.sh base backup: unpacks DIR/base.tar.gz (and the WAL it
#       streamed) into the empty PGDATA, sets restore_command to copy from the WAL archive, the recovery target
#       (default: the end of the archive) and recovery_target_action=promote, and creates recovery.signal.
#       Start PostgreSQL on PGDATA afterwards (as the owner of PGDATA); it replays WAL up to the target and opens
#       read-write. Check it (`verify`, application smoke test) before pointing DATABASE_URL at it.
#
# Exit codes: 0 ok, 1 a step failed or verification found a difference, 2 usage.
set -euo pipefail

die() { echo "restore.sh: $*" >&2; exit 1; }
usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
need() { command -v "$1" >/dev/null 2>&1 || die "needs \`$1\` (Debian package postgresql-client-15)"; }
sql() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$url" -c "$1"; }

mode=${1:-}; [ -n "$mode" ] || usage; shift
url=${DATABASE_URL:-}; in=; latest=; jobs=1; manifest=; base=; archive=; pgdata=; target_time=; target_lsn=
while [ $# -gt 0 ]; do
  case "$1" in
    --database-url) url=${2:?}; shift 2 ;;
    --in) in=${2:?}; shift 2 ;;
    --latest) latest=${2:?}; shift 2 ;;
    --jobs) jobs=${2:?}; shift 2 ;;
    --manifest) manifest=${2:?}; shift 2 ;;
    --base) base=${2:?}; shift 2 ;;
    --wal-archive) archive=${2:?}; shift 2 ;;
    --pgdata) pgdata=${2:?}; shift 2 ;;
    --target-time) target_time=${2:?}; shift 2 ;;
    --target-lsn) target_lsn=${2:?}; shift 2 ;;
    -h|--help) usage ;;
    *) echo "restore.sh: unknown argument $1" >&2; usage ;;
  esac
done

verify() {
  need psql
  [ -f "$manifest" ] || die "manifest $manifest not found"
  local expected actual q="" t n
  expected=$(grep -v '^#' "$manifest" | sort)
  [ -n "$expected" ] || die "manifest $manifest lists no tables"
  while IFS=$'\t' read -r t n; do
    [ -n "$q" ] && q="$q UNION ALL "
    # to_regclass: a table missing from the restore counts as -1 instead of aborting the comparison.
    q="${q}SELECT '$t' AS t, CASE WHEN to_regclass('$t') IS NULL THEN -1 ELSE (xpath('/row/c/text()',
      query_to_xml('SELECT count(*) AS c FROM ONLY ' || '$t', false, true, '')))[1]::text::bigint END"
  done <<< "$expected"
  actual=$(psql -X -q -t -A -F $'\t' -v ON_ERROR_STOP=1 -d "$url" -c "SELECT * FROM ($q) s ORDER BY 1")
  local diff
  if ! diff=$(diff <(echo "$expected") <(echo "$actual")); then
    echo "restore.sh: row counts differ from $manifest (< expected, > restored; -1 = table missing):" >&2
    echo "$diff" >&2
    exit 1
  fi
  echo "restore.sh: verified $(echo "$expected" | wc -l) tables against $manifest"
}

case "$mode" in
  logical)
    need pg_restore; need psql
    [ -n "$url" ] || die "--database-url (or DATABASE_URL) is required"
    if [ -n "$latest" ]; then
      [ -z "$in" ] || die "give --in or --latest, not both"
      [ -d "$latest" ] || die "--latest DIR: $latest is not a directory"
      # Newest by modification time (backup.sh renames the finished dump into place, so that is when it completed).
      in=$(find "$latest" -maxdepth 1 -type f -name 'genz-*.dump' -printf '%T@ %p\n' | sort -n | tail -n 1 | cut -d' ' -f2-)
      [ -n "$in" ] || die "--latest DIR: no genz-*.dump in $latest"
      echo "restore.sh: newest dump in $latest is $in"
    fi
    [ -f "$in" ] || die "--in FILE: dump $in not found"
    existing=$(sql "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg\\_%'")
    [ "$existing" = 0 ] || die "target database is not empty ($existing tables): restore into a new database"
    if [ "$jobs" -gt 1 ]; then
      pg_restore --no-owner --no-privileges --exit-on-error --jobs="$jobs" --dbname="$url" "$in"
    else
      pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$url" "$in"
    fi
    # Planner statistics are not in a dump.
    sql "ANALYZE" >/dev/null
    echo "restore.sh: restored $in"
    if [ -f "$in.manifest" ]; then manifest="$in.manifest"; verify; fi
    ;;
  verify)
    [ -n "$url" ] || die "--database-url (or DATABASE_URL) is required"
    [ -n "$manifest" ] || die "--manifest is required"
    verify
    ;;
  pitr)
    [ -f "$base/base.tar.gz" ] || die "--base DIR: $base/base.tar.gz not found (a backup.sh base backup)"
    [ -d "$archive" ] || die "--wal-archive DIR: $archive not found"
    [ -n "$pgdata" ] || die "--pgdata is required"
    [ -z "$target_time" ] || [ -z "$target_lsn" ] || die "give --target-time or --target-lsn, not both"
    [ ! -e "$pgdata" ] || [ -z "$(ls -A "$pgdata")" ] || die "$pgdata exists and is not empty"
    mkdir -p "$pgdata"; chmod 700 "$pgdata"
    tar -xzf "$base/base.tar.gz" -C "$pgdata"
    mkdir -p "$pgdata/pg_wal"
    [ ! -f "$base/pg_wal.tar.gz" ] || tar -xzf "$base/pg_wal.tar.gz" -C "$pgdata/pg_wal"
    archive_abs=$(cd "$archive" && pwd)
    {
      echo "# restore.sh pitr $(date -u +%Y-%m-%dT%H:%M:%SZ)"
      echo "restore_command = 'cp \"$archive_abs/%f\" \"%p\"'"
      [ -z "$target_time" ] || echo "recovery_target_time = '$target_time'"
      [ -z "$target_lsn" ] || echo "recovery_target_lsn = '$target_lsn'"
      echo "recovery_target_action = 'promote'"
      # The restored server must not archive into the archive it is recovering from until someone decides so.
      echo "archive_mode = off"
    } >> "$pgdata/postgresql.auto.conf"
    rm -f "$pgdata/standby.signal"
    touch "$pgdata/recovery.signal"
    # The base backup may come from a replica: its copy of the replica's own settings must not make this a standby.
    sed -i '/^primary_conninfo/d; /^primary_slot_name/d' "$pgdata/postgresql.auto.conf"
    echo "restore.sh: $pgdata is ready for recovery${target_time:+ to $target_time}${target_lsn:+ to $target_lsn}; start PostgreSQL on it"
    ;;
  *) usage ;;
esac
