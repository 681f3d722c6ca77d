#!/usr/bin/env bash
# make token USER=u ORG=o [ROLES=admin]: a development bearer token for AUTH_MODE=local-jwt.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
dev_defaults
build_admin
admin token --user "${USER_ID:?set USER=<user id>}" --org "${ORG_ID:?set ORG=<org id>}" ${ROLES:+--roles "$ROLES"}
