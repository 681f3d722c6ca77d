# Shared by the make targets: tool installation, PostgreSQL discovery, development defaults.
# Sourced, not run. Every helper is safe to call again.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="$ROOT/.tools"
LOCAL="$ROOT/.local"
VENV="$TOOLS/venv"
CARGO_LAMBDA_VERSION="1.9.2"
mkdir -p "$LOCAL"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Python tools live in a git-ignored virtual environment, installed once and reused.
ensure_venv() {
  if [ ! -x "$VENV/bin/pip" ]; then
    log "creating the tools environment in .tools/venv"
    python3 -m venv "$VENV" || die "python3 -m venv failed (apt-get install python3-venv)"
  fi
}

ensure_cargo_lambda() {
  if command -v cargo-lambda >/dev/null 2>&1; then return; fi
  ensure_venv
  if [ ! -x "$VENV/bin/cargo-lambda" ]; then
    log "installing cargo-lambda $CARGO_LAMBDA_VERSION"
    "$VENV/bin/pip" install -q "cargo-lambda==$CARGO_LAMBDA_VERSION" || die "could not install cargo-lambda"
  fi
  export PATH="$VENV/bin:$PATH"
}

# The writers of the document fixtures (infra/fixtures/office.py): real DOCX, XLSX, PPTX, ODT,
# ODS and ODP files, as the software users have makes them. Prints the Python to run them with.
ensure_document_writers() {
  ensure_venv
  if ! "$VENV/bin/python" -c "import docx, openpyxl, pptx, odf, xlwt, pypandoc" 2>/dev/null; then
    log "installing the document writers (python-docx, openpyxl, python-pptx, odfpy, xlwt, pandoc)"
    "$VENV/bin/pip" install -q "python-docx==1.2.0" "openpyxl==3.1.5" "python-pptx==1.0.2" "odfpy==1.4.1" \
      "xlwt==1.3.0" "pypandoc_binary==1.17" \
      || die "could not install the document writers"
  fi
  echo "$VENV/bin/python"
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_for_port() { # host port seconds what
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    port_open "$1" "$2" && return 0
    sleep 0.1
  done
  die "$4 did not answer on $1:$2 within $3 s"
}

pg_bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  command -v initdb >/dev/null 2>&1 && dirname "$(command -v initdb)"
}

# A throwaway cluster under .local/pg, for machines with no PostgreSQL on 127.0.0.1:5432.
start_local_cluster() {
  local port=55432 data="$LOCAL/pg" bindir
  bindir="$(pg_bindir)"
  if [ -z "$bindir" ]; then
    log "installing PostgreSQL (Debian package)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null \
      || die "could not install PostgreSQL; set DATABASE_URL to a server you have"
    bindir="$(pg_bindir)"
  fi
  local as=()
  if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); fi
  if [ ! -f "$data/PG_VERSION" ]; then
    log "creating a PostgreSQL cluster in .local/pg"
    mkdir -p "$data"
    [ "$(id -u)" = 0 ] && chown postgres "$data" "$LOCAL"
    "${as[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust >/dev/null || die "initdb failed"
  fi
  if ! port_open 127.0.0.1 "$port"; then
    log "starting PostgreSQL on 127.0.0.1:$port"
    "${as[@]}" "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w start \
      -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c fsync=off" >/dev/null || die "pg_ctl start failed"
  fi
  echo "postgres://postgres@127.0.0.1:$port"
}

# A second throw-away cluster with password (SCRAM) authentication on 127.0.0.1:55433, for the
# tests that prove credential handling (the machine's server trusts every connection).
# Prints its superuser URL.
start_auth_cluster() {
  local port=55433 data="$LOCAL/pg-auth" bindir password
  bindir="$(pg_bindir)"
  [ -n "$bindir" ] || { start_local_cluster >/dev/null; bindir="$(pg_bindir)"; }
  local as=()
  if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); fi
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$data"
    password="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
    printf '%s\n' "$password" >"$data.pw"
    [ "$(id -u)" = 0 ] && chown postgres "$data" "$data.pw" "$LOCAL"
    "${as[@]}" "$bindir/initdb" -D "$data" -U postgres --pwfile="$data.pw" \
      --auth-host=scram-sha-256 --auth-local=peer >/dev/null || die "initdb (password cluster) failed"
  fi
  password="$(cat "$data.pw")"
  if port_open 127.0.0.1 "$port" && [ ! -f "$data/postmaster.pid" ]; then
    die "port $port is held by a PostgreSQL that is not $data (another checkout's test cluster?): stop it first"
  fi
  if ! port_open 127.0.0.1 "$port"; then
    "${as[@]}" "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w start \
      -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c fsync=off" >/dev/null || die "pg_ctl start (password cluster) failed"
  fi
  echo "postgres://postgres:$password@127.0.0.1:$port/postgres"
}

stop_cluster() { # data directory
  local bindir as=()
  bindir="$(pg_bindir)"
  [ -f "$1/postmaster.pid" ] || return 0
  if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); fi
  "${as[@]}" "$bindir/pg_ctl" -D "$1" -m fast stop >/dev/null 2>&1 || true
}

stop_auth_cluster() { stop_cluster "$LOCAL/pg-auth"; }

# A third throw-away cluster with TLS on, on 127.0.0.1:55434, with a certificate for the host
# name `localhost` issued by a CA made here (openssl), for the TLS tests and the bench (which
# compares plain and TLS connections to it, so it takes both). Exports TEST_TLS_CA and
# TEST_TLS_WRONG_CA (a CA that issued nothing of this server's), both PEM files.
TLS_PG_PORT=55434

start_tls_cluster() {
  local data="$LOCAL/pg-tls" certs="$LOCAL/pg-tls-certs" bindir
  bindir="$(pg_bindir)"
  [ -n "$bindir" ] || { start_local_cluster >/dev/null; bindir="$(pg_bindir)"; }
  if ! command -v openssl >/dev/null 2>&1; then
    log "installing openssl (Debian package)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null \
      || die "openssl is needed for the TLS tests"
  fi
  local as=()
  if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); fi
  if [ ! -f "$certs/server.crt" ]; then
    rm -rf "$certs" && mkdir -p "$certs"
    (
      cd "$certs"
      openssl req -x509 -new -newkey rsa:2048 -nodes -days 3650 -subj "/CN=files test CA" \
        -keyout ca.key -out ca.pem 2>/dev/null
      openssl req -x509 -new -newkey rsa:2048 -nodes -days 3650 -subj "/CN=files wrong CA" \
        -keyout wrong-ca.key -out wrong-ca.pem 2>/dev/null
      openssl req -new -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
      printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile server.ext -out server.crt 2>/dev/null
    ) || die "openssl could not make the test certificates"
    chmod 600 "$certs/server.key"
    [ "$(id -u)" = 0 ] && chown postgres "$certs/server.key" "$certs/server.crt"
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$data"
    [ "$(id -u)" = 0 ] && chown postgres "$data" "$LOCAL"
    "${as[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust >/dev/null || die "initdb (TLS cluster) failed"
  fi
  if port_open 127.0.0.1 "$TLS_PG_PORT" && [ ! -f "$data/postmaster.pid" ]; then
    die "port $TLS_PG_PORT is held by a PostgreSQL that is not $data: stop it first"
  fi
  if ! port_open 127.0.0.1 "$TLS_PG_PORT"; then
    "${as[@]}" "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w start \
      -o "-p $TLS_PG_PORT -k $data -c listen_addresses=127.0.0.1 -c fsync=off -c ssl=on \
          -c ssl_cert_file=$certs/server.crt -c ssl_key_file=$certs/server.key" >/dev/null \
      || die "pg_ctl start (TLS cluster) failed"
  fi
  export TEST_TLS_CA="$certs/ca.pem" TEST_TLS_WRONG_CA="$certs/wrong-ca.pem"
}

stop_tls_cluster() { stop_cluster "$LOCAL/pg-tls"; }

# Prints the server URL (no database) to use: 127.0.0.1:5432 if it answers, else a local cluster.
postgres_server_url() {
  if port_open 127.0.0.1 5432; then
    echo "postgres://postgres@127.0.0.1:5432"
  else
    start_local_cluster
  fi
}

admin() { "$ROOT/target/debug/files-admin" "$@"; }

build_admin() { (cd "$ROOT" && cargo build -q -p files-admin) || die "could not build files-admin"; }

# Development defaults; anything already in the environment wins.
dev_defaults() {
  : "${FILE_STORAGE_BACKEND:=local}"
  : "${LOCAL_MEDIA_ROOT:=$LOCAL/media}"
  : "${LOCAL_MEDIA_URL_PREFIX:=/media}"
  : "${LOCAL_SIGNING_SECRET:=dev-only-local-signing-secret-change-me}"
  : "${PUBLIC_BASE_URL:=http://127.0.0.1:${PORT:-9000}}"
  : "${AUTH_MODE:=local-jwt}"
  : "${AUTH_LOCAL_JWT_SECRET:=dev-only-local-jwt-secret-change-me!!}"
  : "${AUTH_ORG_CLAIM:=org_id}"
  : "${RUST_LOG:=info}"
  export FILE_STORAGE_BACKEND LOCAL_MEDIA_ROOT LOCAL_MEDIA_URL_PREFIX LOCAL_SIGNING_SECRET PUBLIC_BASE_URL \
    AUTH_MODE AUTH_LOCAL_JWT_SECRET AUTH_ORG_CLAIM RUST_LOG
}

# LocalStack (S3, SQS, Secrets Manager) without Docker, in its own environment: its pins
# conflict with other Python tools.
LOCALSTACK_VENV="$TOOLS/localstack"
LOCALSTACK_PORT=4566

ensure_localstack() {
  if [ ! -x "$LOCALSTACK_VENV/bin/python" ] || ! "$LOCALSTACK_VENV/bin/python" -c 'import localstack' 2>/dev/null; then
    log "installing LocalStack (a few minutes, once)"
    python3 -m venv "$LOCALSTACK_VENV" || die "python3 -m venv failed"
    "$LOCALSTACK_VENV/bin/pip" install -q 'localstack-core[runtime]==4.13.1' 'cbor2<6' 'cryptography<44' \
      'pyopenssl<24.3' service_identity || die "could not install LocalStack"
  fi
}

# Starts LocalStack on 127.0.0.1:4566 unless one answers there; prints the pid it started.
start_localstack() {
  if curl -fs "http://127.0.0.1:$LOCALSTACK_PORT/_localstack/health" >/dev/null 2>&1; then
    return
  fi
  ensure_localstack
  local dir="$LOCAL/localstack"
  rm -rf "$dir" && mkdir -p "$dir/tmp" "$dir/volume" "$dir/cache"
  GATEWAY_LISTEN="127.0.0.1:$LOCALSTACK_PORT" GATEWAY_SERVER=hypercorn LOCALSTACK_HOST="127.0.0.1:$LOCALSTACK_PORT" \
    S3_SKIP_SIGNATURE_VALIDATION=0 SERVICES=s3,sqs,secretsmanager,sts,iam DISABLE_EVENTS=1 DNS_ADDRESS=0 \
    SQS_ENDPOINT_STRATEGY=path \
    FILESYSTEM_ROOT="$dir" TMPDIR="$dir/tmp" LOCALSTACK_VOLUME_DIR="$dir/volume" XDG_CACHE_HOME="$dir/cache" \
    setsid "$LOCALSTACK_VENV/bin/python" -m localstack.runtime.main >"$LOCAL/localstack.log" 2>&1 &
  echo $!
  local i
  for ((i = 0; i < 600; i++)); do
    curl -fs "http://127.0.0.1:$LOCALSTACK_PORT/_localstack/health" >/dev/null 2>&1 && return
    sleep 0.1
  done
  die "LocalStack did not start (see .local/localstack.log)"
}

stop_group() { # pid
  [ -n "${1:-}" ] || return 0
  kill -TERM -- "-$1" 2>/dev/null || true
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL -- "-$1" 2>/dev/null || true
}

# s3s-fs: an S3 server that checks every SigV4 signature (headers and POST policies too).
S3S_VERSION="0.14.1"
S3S_PORT=8014

ensure_s3s() {
  if [ ! -x "$TOOLS/cargo/bin/s3s-fs" ]; then
    log "installing s3s-fs $S3S_VERSION (once)"
    cargo install -q "s3s-fs@$S3S_VERSION" --features binary --locked --root "$TOOLS/cargo" || die "could not install s3s-fs"
  fi
}

# Starts s3s-fs on 127.0.0.1:8014 with the test credentials; prints its pid.
start_s3s() {
  ensure_s3s
  port_open 127.0.0.1 "$S3S_PORT" && die "port $S3S_PORT is taken"
  rm -rf "$LOCAL/s3s" && mkdir -p "$LOCAL/s3s"
  setsid "$TOOLS/cargo/bin/s3s-fs" --host 127.0.0.1 --port "$S3S_PORT" --access-key strict-access \
    --secret-key strict-secret-key-strict "$LOCAL/s3s" >"$LOCAL/s3s.log" 2>&1 &
  echo $!
  wait_for_port 127.0.0.1 "$S3S_PORT" 20 "s3s-fs"
}

# osmem-server: an in-memory server of the OpenSearch HTTP API (the search tests' Elasticsearch).
OSMEM_PORT=9201

ensure_osmem() {
  ensure_venv
  if ! "$VENV/bin/python" -c 'import osmem_server' 2>/dev/null; then
    log "installing osmem-server"
    "$VENV/bin/pip" install -q osmem-server || die "could not install osmem-server"
  fi
}

# Starts osmem-server on 127.0.0.1:9201; prints its pid.
start_osmem() {
  ensure_osmem
  port_open 127.0.0.1 "$OSMEM_PORT" && die "port $OSMEM_PORT is taken"
  local bin
  bin="$("$VENV/bin/python" -c 'import osmem_server, os; print(os.path.join(os.path.dirname(osmem_server.__file__), "bin", "osmem-server"))')"
  setsid "$bin" -addr "127.0.0.1:$OSMEM_PORT" -no-stdin-watch >"$LOCAL/osmem.log" 2>&1 &
  echo $!
  wait_for_port 127.0.0.1 "$OSMEM_PORT" 20 "osmem-server"
}
