#!/usr/bin/env bash
# make migrate: apply the migrations to DATABASE_URL (creating the database if missing).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
[ -n "${DATABASE_URL:-}" ] || die "set DATABASE_URL to the database to migrate"
build_admin
admin migrate --create-database
