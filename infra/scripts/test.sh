#!/usr/bin/env bash
# make test: formatting, lints, then every test against real servers this script starts:
# PostgreSQL (the machine's, or a local cluster) and `cargo lambda watch` for the end-to-end
# suite. A missing server fails the run; nothing is skipped.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

ensure_cargo_lambda

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy -D warnings"
cargo clippy -q --workspace --all-targets -- -D warnings

SERVER_URL="$(postgres_server_url)"
export TEST_DATABASE_URL="$SERVER_URL/postgres"

log "building"
cargo build -q --workspace --all-targets

# The end-to-end suite talks to `cargo lambda watch` over loopback with the local backend.
E2E_PORT="${E2E_PORT:-9100}"
export E2E_BASE_URL="http://127.0.0.1:$E2E_PORT"
export E2E_DATABASE_URL="$SERVER_URL/files_e2e"
export E2E_MEDIA_ROOT="$LOCAL/e2e-media"
export E2E_JWT_SECRET="e2e-local-jwt-secret-e2e-local-jwt-secret"
rm -rf "$E2E_MEDIA_ROOT" && mkdir -p "$E2E_MEDIA_ROOT"
admin migrate --create-database --database-url "$E2E_DATABASE_URL" >/dev/null

port_open 127.0.0.1 "$E2E_PORT" && die "port $E2E_PORT is taken; set E2E_PORT"
log "starting cargo lambda watch on $E2E_BASE_URL"
WATCH_LOG="$LOCAL/e2e-watch.log"
setsid env \
  FILE_STORAGE_BACKEND=local LOCAL_MEDIA_ROOT="$E2E_MEDIA_ROOT" LOCAL_MEDIA_URL_PREFIX=/media \
  LOCAL_SIGNING_SECRET="e2e-local-signing-secret-e2e-local-signing" PUBLIC_BASE_URL="$E2E_BASE_URL" \
  DATABASE_URL="$E2E_DATABASE_URL" AUTH_MODE=local-jwt AUTH_LOCAL_JWT_SECRET="$E2E_JWT_SECRET" \
  UPLOAD_MAX_SIZE_BYTES=10485760 UPLOAD_ALLOWED_CONTENT_TYPES="text/*,image/*,application/pdf,application/json,application/octet-stream" \
  RUST_LOG=info \
  cargo lambda watch --ignore-changes -A 127.0.0.1 -P "$E2E_PORT" >"$WATCH_LOG" 2>&1 &
WATCH_PID=$!
cleanup() {
  kill -TERM -- "-$WATCH_PID" 2>/dev/null || true
  wait "$WATCH_PID" 2>/dev/null || true
}
trap cleanup EXIT
wait_for_port 127.0.0.1 "$E2E_PORT" 60 "cargo lambda watch"

log "running the tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --failure-output final
else
  cargo test --workspace --no-fail-fast
fi
