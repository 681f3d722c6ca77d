#!/usr/bin/env bash
# make search-index / make reindex: files-admin with the development defaults (anything
# already in the environment wins), so they work against `make dev`'s database and storage.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
dev_defaults
if [ -z "${DATABASE_URL:-}" ]; then
  DATABASE_URL="$(postgres_server_url)/files_dev"
  export DATABASE_URL
fi
build_admin
admin "$@"
