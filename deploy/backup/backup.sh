#!/usr/bin/env bash
# GenZ AI PostgreSQL backups (docs/operations.md, "Backup, restore and failover").
#
#   backup.sh logical --database-url URL (--out FILE.dump | --out-dir DIR [--keep-days N])
#       pg_dump in custom format (-Fc: compressed, restorable table by table and in parallel with pg_restore -j).
#       Partitioned tables (audit_events by month, messages by hash) are dumped with every partition and restored
#       as the same partition tree. Run it against a replica to keep load off the primary.
#       The dump is then checked: `pg_restore --list` must read it, and a manifest FILE.dump.manifest records the
#       row count of every table (restore.sh verify compares a restored database against it) and a sha256.
#       --out-dir DIR names the dump DIR/genz-<UTC time>.dump (the scheduled form: deploy/k8s/base/backup-cronjob.yaml);
#       with --keep-days N, once the new dump is written and checked, dumps in DIR older than N days are deleted with
#       their manifests (never the newest; a failed run deletes nothing).
#
#   backup.sh base --database-url URL --out DIR
#       pg_basebackup -Ft -z -X stream -c fast into DIR (base.tar.gz + pg_wal.tar.gz + backup_manifest); the
#       manifest must exist and both archives must pass gzip -t. With WAL archiving on (deploy/backup/postgresql-archive.conf)
#       this is the starting point of a point-in-time recovery (restore.sh pitr). URL needs a role with REPLICATION
#       and a pg_hba.conf "replication" entry.
#
# Exit codes: 0 ok, 1 a step failed, 2 usage. Needs the PostgreSQL client programs of the server's major version
# or newer (Debian: postgresql-client-15).
set -euo pipefail

die() { echo "backup.sh: $*" >&2; exit 1; }
usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
need() { command -v "$1" >/dev/null 2>&1 || die "needs \`$1\` (Debian package postgresql-client-15)"; }

mode=${1:-}; [ -n "$mode" ] || usage; shift
url=${DATABASE_URL:-}; out=; out_dir=; keep_days=
while [ $# -gt 0 ]; do
  case "$1" in
    --database-url) url=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --out-dir) out_dir=${2:?}; shift 2 ;;
    --keep-days) keep_days=${2:?}; shift 2 ;;
    -h|--help) usage ;;
    *) echo "backup.sh: unknown argument $1" >&2; usage ;;
  esac
done
[ -n "$url" ] || die "--database-url (or DATABASE_URL) is required"
if [ -n "$out_dir" ]; then
  [ "$mode" = logical ] || die "--out-dir is for logical backups"
  [ -z "$out" ] || die "give --out or --out-dir, not both"
  out="$out_dir/genz-$(date -u +%Y%m%dT%H%M%SZ).dump"
fi
[ -n "$out" ] || die "--out (or --out-dir) is required"
if [ -n "$keep_days" ]; then
  [ -n "$out_dir" ] || die "--keep-days needs --out-dir"
  [[ "$keep_days" =~ ^[1-9][0-9]*$ ]] || die "--keep-days must be a whole number of days >= 1"
fi

# Deletes the dumps (and manifests) in $out_dir older than $keep_days days, except $out (the one just written).
prune() {
  local f n=0
  while IFS= read -r -d '' f; do
    [ "$f" = "$out" ] && continue
    rm -f -- "$f" "$f.manifest"
    echo "backup.sh: pruned $f"
    n=$((n + 1))
  done < <(find "$out_dir" -maxdepth 1 -type f -name 'genz-*.dump' -mtime +"$((keep_days - 1))" -print0)
  echo "backup.sh: kept dumps newer than $keep_days days ($n pruned)"
}

# Row counts of every ordinary and partitioned table, partitions included (schema.table<TAB>rows), sorted.
# Exact counts (count(*)), not statistics: the manifest is what a restore is checked against.
row_counts() {
  local target=$1 tables
  tables=$(psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$target" -c "
    SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND n.nspname NOT LIKE 'pg\\_%'
     ORDER BY 1")
  [ -n "$tables" ] || return 0
  local q="" t
  for t in $tables; do
    [ -n "$q" ] && q="$q UNION ALL "
    # ONLY: a partitioned parent counts its own rows (none); each partition is listed with its own count.
    q="${q}SELECT '$t', count(*) FROM ONLY $t"
  done
  psql -X -q -t -A -F $'\t' -v ON_ERROR_STOP=1 -d "$target" -c "SELECT * FROM ($q) s ORDER BY 1"
}

case "$mode" in
  logical)
    need pg_dump; need pg_restore; need psql
    mkdir -p "$(dirname "$out")"
    tmp="$out.partial"
    trap 'rm -f "$tmp"' EXIT
    # Counts and dump in one snapshot would need --snapshot from an exported snapshot; counts are taken from the
    # restored copy in verify instead. Here they describe the source at about the dump's time (use a replica or a
    # quiet moment for an exact manifest).
    pg_dump --format=custom --compress=6 --no-owner --no-privileges --quote-all-identifiers \
      --file="$tmp" --dbname="$url"
    pg_restore --list "$tmp" >/dev/null || die "pg_restore cannot read the dump just written"
    mv "$tmp" "$out"
    trap - EXIT
    {
      echo "# genz logical backup manifest"
      echo "# created $(date -u +%Y-%m-%dT%H:%M:%SZ) by $(pg_dump --version)"
      echo "# sha256 $(sha256sum "$out" | cut -d' ' -f1)"
      row_counts "$url"
    } > "$out.manifest"
    echo "backup.sh: wrote $out ($(wc -c < "$out") bytes) and $out.manifest"
    [ -z "$keep_days" ] || prune
    ;;
  base)
    need pg_basebackup
    [ ! -e "$out" ] || [ -z "$(ls -A "$out")" ] || die "$out exists and is not empty"
    mkdir -p "$out"
    pg_basebackup --dbname="$url" --pgdata="$out" --format=tar --gzip --wal-method=stream \
      --checkpoint=fast --label="genz-$(date -u +%Y%m%dT%H%M%SZ)" --no-password
    # pg_verifybackup reads tar-format backups only from PostgreSQL 18 on; check what every version can.
    [ -f "$out/backup_manifest" ] || die "no backup_manifest in $out"
    gzip -t "$out/base.tar.gz" || die "$out/base.tar.gz is corrupt"
    gzip -t "$out/pg_wal.tar.gz" || die "$out/pg_wal.tar.gz is corrupt"
    echo "backup.sh: base backup in $out ($(du -sh "$out" | cut -f1))"
    ;;
  *) usage ;;
esac
