#!/usr/bin/env bash
# make bench: builds the release binaries, runs the criterion micro-benchmarks, brings up
# PostgreSQL (a migrated `files_bench` database) and LocalStack (S3), then measures every
# figure several times with files-bench. Prints one table and writes it as Markdown and JSON to
# bench-results/. Arguments are passed to `files-bench run` (e.g. `--only cold,warm --runs 3`);
# BENCH_CRITERION=0 skips the micro-benchmarks.
set -euo pipefail
source "$(dirname "$0")/../scripts/common.sh"
cd "$ROOT"

STARTED=$SECONDS
mkdir -p "$LOCAL" "$ROOT/bench-results"

log "building release binaries (fat LTO: slow the first time)"
cargo build -q --release --workspace --bins || die "the release build failed"

CRITERION_SINCE="$(date +%s)"
if [ "${BENCH_CRITERION:-1}" != 0 ]; then
  benches=()
  for name in core presign; do
    [ -f "shared/benches/$name.rs" ] && benches+=(--bench "$name")
  done
  log "criterion micro-benchmarks (${benches[*]}); output in .local/bench-criterion.log"
  cargo bench -p files-core "${benches[@]}" >"$LOCAL/bench-criterion.log" 2>&1 \
    || { tail -n 30 "$LOCAL/bench-criterion.log" >&2; die "the micro-benchmarks failed"; }
fi

log "PostgreSQL: a migrated files_bench database"
BENCH_DATABASE_URL="$(postgres_server_url)/files_bench"
export BENCH_DATABASE_URL
# The release files-admin was just built with the rest; a debug build would cost minutes more.
target/release/files-admin migrate --create-database --database-url "$BENCH_DATABASE_URL" >/dev/null

log "PostgreSQL with TLS (a test CA): a migrated files_bench database for plain against verify-full"
start_tls_cluster
export BENCH_TLS_DATABASE_URL="postgres://postgres@localhost:$TLS_PG_PORT/files_bench" BENCH_TLS_ROOT_CERT="$TEST_TLS_CA"
target/release/files-admin migrate --create-database --database-url "$BENCH_TLS_DATABASE_URL?sslmode=verify-full&sslrootcert=$TEST_TLS_CA" >/dev/null

log "starting LocalStack (S3) and osmem-server (search)"
LOCALSTACK_PID="$(start_localstack)"
trap 'stop_group "$LOCALSTACK_PID"' EXIT
OSMEM_PID="$(start_osmem)"
trap 'stop_group "$LOCALSTACK_PID"; stop_group "$OSMEM_PID"; stop_tls_cluster' EXIT

COMMIT="$(git rev-parse --short HEAD)"
git diff --quiet HEAD 2>/dev/null || COMMIT="$COMMIT+uncommitted"

log "measuring (bounded: fixed counts, every wait has a limit)"
timeout 40m target/release/files-bench run \
  --s3-endpoint "http://127.0.0.1:$LOCALSTACK_PORT" \
  --elasticsearch-url "http://127.0.0.1:$OSMEM_PORT" \
  --release-dir target/release \
  --criterion-dir target/criterion \
  --criterion-since "$CRITERION_SINCE" \
  --commit "$COMMIT" \
  --out bench-results \
  "$@"

log "make bench took $((SECONDS - STARTED)) s; the table is in bench-results/latest.md and latest.json"
