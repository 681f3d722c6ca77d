#!/usr/bin/env bash
# make test: formatting, lints, then every test against real servers this script starts:
# PostgreSQL (the machine's, or a local cluster), LocalStack (S3, Secrets Manager), and
# local-media in front of `cargo lambda watch` per storage backend (as `make dev` runs them) for
# the end-to-end suite. A missing server fails the run; nothing is skipped.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

ensure_cargo_lambda

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy -D warnings"
cargo clippy -q --workspace --all-targets -- -D warnings

infra/scripts/check-template.sh

SERVER_URL="$(postgres_server_url)"
export TEST_DATABASE_URL="$SERVER_URL/postgres"

TEST_FIXTURE_PYTHON="$(ensure_document_writers)"
export TEST_FIXTURE_PYTHON

log "building"
cargo build -q --workspace --all-targets

log "starting LocalStack (S3, Secrets Manager)"
LOCALSTACK_PID="$(start_localstack)"
export TEST_S3_ENDPOINT="http://127.0.0.1:$LOCALSTACK_PORT"
PIDS=("$LOCALSTACK_PID")
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_group "$pid"; done
  stop_auth_cluster
  stop_tls_cluster
}
trap cleanup EXIT

log "starting osmem-server (the OpenSearch HTTP API)"
PIDS+=("$(start_osmem)")
export TEST_ELASTICSEARCH_URL="http://127.0.0.1:$OSMEM_PORT"

log "starting s3s-fs (strict SigV4)"
PIDS+=("$(start_s3s)")
export TEST_S3S_ENDPOINT="http://127.0.0.1:$S3S_PORT"

log "starting a password-authenticated PostgreSQL for the credential tests"
TEST_AUTH_DATABASE_URL="$(start_auth_cluster)"
export TEST_AUTH_DATABASE_URL

log "starting a PostgreSQL with TLS on and a test CA (openssl) for the TLS tests"
start_tls_cluster
# Created and migrated over verify-full, as a deployment's migration step would.
export TEST_TLS_DATABASE_URL="postgres://postgres@localhost:$TLS_PG_PORT/files_tls"
admin migrate --create-database --database-url "$TEST_TLS_DATABASE_URL?sslmode=verify-full&sslrootcert=$TEST_TLS_CA" >/dev/null

# The end-to-end suite talks to the service as `make dev` serves it, over loopback, once per storage backend:
# the local backend searches PostgreSQL, the S3 one Elasticsearch (osmem-server).
export E2E_DATABASE_URL="$SERVER_URL/files_e2e" E2E_S3_DATABASE_URL="$SERVER_URL/files_e2e_s3"
export E2E_JWT_SECRET="e2e-local-jwt-secret-e2e-local-jwt-secret"
export E2E_MEDIA_ROOT="$LOCAL/e2e-media"
export E2E_S3_BUCKET="e2e-files"
rm -rf "$E2E_MEDIA_ROOT" && mkdir -p "$E2E_MEDIA_ROOT"
admin migrate --create-database --database-url "$E2E_DATABASE_URL" >/dev/null
admin migrate --create-database --database-url "$E2E_S3_DATABASE_URL" >/dev/null
ELASTICSEARCH_URL="$TEST_ELASTICSEARCH_URL" ELASTICSEARCH_INDEX=e2e-files admin create-index >/dev/null

# One service as `make dev` runs it: local-media on `port` in front of `cargo lambda watch` on
# port + 10, and the index worker over its outbox, all with the same variables (the VAR=value
# pairs after the port).
start_service() { # port, then VAR=value pairs
  local port="$1"; shift
  local functions_port=$((port + 10))
  local p
  for p in "$port" "$functions_port"; do
    port_open 127.0.0.1 "$p" && die "port $p is taken; set E2E_PORT"
  done
  local vars=(
    AUTH_MODE=local-jwt AUTH_LOCAL_JWT_SECRET="$E2E_JWT_SECRET"
    PUBLIC_BASE_URL="http://127.0.0.1:$port" UPLOAD_MAX_SIZE_BYTES=2147483648
    UPLOAD_ALLOWED_CONTENT_TYPES="text/*,image/*,application/pdf,application/json,application/octet-stream"
    RUST_LOG=info "$@"
  )
  setsid env "${vars[@]}" cargo lambda watch --disable-cors --ignore-changes -A 127.0.0.1 -P "$functions_port" \
    >"$LOCAL/e2e-watch-$port.log" 2>&1 &
  PIDS+=("$!")
  setsid env "${vars[@]}" LOCAL_MEDIA_LISTEN="127.0.0.1:$port" LOCAL_API_UPSTREAM="http://127.0.0.1:$functions_port" \
    CORS_ALLOWED_ORIGINS="http://app.localhost:5173" "$ROOT/target/debug/local-media" >"$LOCAL/e2e-media-$port.log" 2>&1 &
  PIDS+=("$!")
  setsid env "${vars[@]}" "$ROOT/target/debug/files-admin" index-worker --interval-ms 100 \
    >"$LOCAL/e2e-worker-$port.log" 2>&1 &
  PIDS+=("$!")
}

E2E_PORT="${E2E_PORT:-9100}"
export E2E_BASE_URL="http://127.0.0.1:$E2E_PORT"
export E2E_S3_BASE_URL="http://127.0.0.1:$((E2E_PORT + 1))"
log "starting local-media and cargo lambda watch: local backend on $E2E_BASE_URL, S3 backend on $E2E_S3_BASE_URL"
start_service "$E2E_PORT" DATABASE_URL="$E2E_DATABASE_URL" FILE_STORAGE_BACKEND=local LOCAL_MEDIA_ROOT="$E2E_MEDIA_ROOT" \
  LOCAL_SIGNING_SECRET="e2e-local-signing-secret-e2e-local-signing"
start_service "$((E2E_PORT + 1))" DATABASE_URL="$E2E_S3_DATABASE_URL" FILE_STORAGE_BACKEND=s3 AWS_S3_BUCKET_NAME="$E2E_S3_BUCKET" \
  ELASTICSEARCH_URL="$TEST_ELASTICSEARCH_URL" ELASTICSEARCH_INDEX=e2e-files \
  AWS_S3_REGION_NAME=us-east-1 AWS_S3_ENDPOINT_URL="$TEST_S3_ENDPOINT" AWS_S3_ADDRESSING_STYLE=path \
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
for port in "$E2E_PORT" "$((E2E_PORT + 1))" "$((E2E_PORT + 10))" "$((E2E_PORT + 11))"; do
  wait_for_port 127.0.0.1 "$port" 60 "the end-to-end service"
done

log "running the tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --failure-output final
else
  cargo test --workspace --no-fail-fast
fi

# Uppy (@uppy/aws-s3) in Debian's headless Chromium, page on another origin, against both
# end-to-end services: single PUT, multipart with progress, resume after a reload, abort, and
# a download whose Content-Disposition the page reads. Installs Chromium and the npm packages.
log "browser tests (Uppy in headless Chromium)"
infra/browser/run.sh
