#!/usr/bin/env bash
# make dev: the whole service on 127.0.0.1:9000 with the local filesystem backend.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

ensure_cargo_lambda
dev_defaults
if [ -z "${DATABASE_URL:-}" ]; then
  DATABASE_URL="$(postgres_server_url)/files_dev"
  export DATABASE_URL
fi
build_admin
admin migrate --create-database
[ -n "${ELASTICSEARCH_URL:-}" ] && admin create-index
mkdir -p "$LOCAL_MEDIA_ROOT"
log "serving on ${PUBLIC_BASE_URL} (make token USER=alice ORG=acme prints a bearer token)"
exec cargo lambda watch -A 127.0.0.1 -P "${PORT:-9000}"
