#!/usr/bin/env bash
# make dev: the whole service on 127.0.0.1:9000 with the local filesystem backend. The port
# belongs to local-media, the local backend's streaming storage endpoint; it forwards every
# other path to `cargo lambda watch`, which runs the functions on FUNCTIONS_PORT (PORT + 1).
# `files-admin index-worker` applies the index outbox, as the indexer's queue does on AWS.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

ensure_cargo_lambda
PORT="${PORT:-9000}"
FUNCTIONS_PORT="${FUNCTIONS_PORT:-$((PORT + 1))}"
export PORT
dev_defaults
if [ -z "${DATABASE_URL:-}" ]; then
  DATABASE_URL="$(postgres_server_url)/files_dev"
  export DATABASE_URL
fi
build_admin
(cd "$ROOT" && cargo build -q -p local-media) || die "could not build local-media"
admin migrate --create-database
[ -n "${ELASTICSEARCH_URL:-}" ] && admin create-index
mkdir -p "$LOCAL_MEDIA_ROOT"
for port in "$PORT" "$FUNCTIONS_PORT"; do
  port_open 127.0.0.1 "$port" && die "port $port is taken (set PORT, or FUNCTIONS_PORT)"
done
# CORS is local-media's: one policy for the API and the media, as template.yaml configures.
setsid cargo lambda watch --disable-cors -A 127.0.0.1 -P "$FUNCTIONS_PORT" &
WATCH_PID=$!
# No SQS here: the same indexer applies the outbox as it fills (AWS: the index queue).
setsid "$ROOT/target/debug/files-admin" index-worker &
WORKER_PID=$!
# The example page (Uppy: single and multipart uploads, search, downloads) on PORT + 2.
EXAMPLE_PORT="${EXAMPLE_PORT:-$((PORT + 2))}"
EXAMPLE_PID=""
if command -v npm >/dev/null 2>&1; then
  if [ ! -f infra/browser/node_modules/.package-lock.json ] \
    || [ infra/browser/package-lock.json -nt infra/browser/node_modules/.package-lock.json ]; then
    (cd infra/browser && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in infra/browser"
  fi
  setsid node infra/browser/serve.mjs --port "$EXAMPLE_PORT" --api "$PUBLIC_BASE_URL" &
  EXAMPLE_PID=$!
  log "example page on http://127.0.0.1:$EXAMPLE_PORT/ (add ?token=\$(make -s token USER=alice ORG=acme))"
else
  log "no npm here: the example page (infra/browser) is not served"
fi
trap 'stop_group "$WATCH_PID"; stop_group "$WORKER_PID"; [ -n "$EXAMPLE_PID" ] && stop_group "$EXAMPLE_PID"' EXIT
log "serving on ${PUBLIC_BASE_URL} (make token USER=alice ORG=acme prints a bearer token)"
LOCAL_MEDIA_LISTEN="127.0.0.1:$PORT" LOCAL_API_UPSTREAM="http://127.0.0.1:$FUNCTIONS_PORT" \
  "$ROOT/target/debug/local-media"
