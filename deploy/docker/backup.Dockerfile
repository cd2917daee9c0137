# syntax=docker/dockerfile:1
# GenZ AI backup image: deploy/backup/backup.sh and restore.sh on the PostgreSQL 15 client programs (pg_dump,
# pg_restore, psql, pg_basebackup). Run by the CronJob in deploy/k8s/base/backup-cronjob.yaml. Build from the
# repository root:
#   docker build -f deploy/docker/backup.Dockerfile -t ghcr.io/genz-ai/genz-backup:0.1.0 .
# Checked by deploy/docker/docker.ops.test.ts (COPY sources exist, the CMD target exists, non-root user).
FROM postgres:15-bookworm AS runtime
COPY --chmod=0755 deploy/backup/backup.sh deploy/backup/restore.sh /usr/local/bin/
# uid 999 from the postgres image; nothing is written outside the backup volume, so the root filesystem can be
# read-only. The entrypoint of the postgres image would start a server: this image only runs the scripts.
USER postgres
WORKDIR /tmp
ENTRYPOINT []
CMD ["/usr/local/bin/backup.sh", "--help"]
