#!/usr/bin/env bash
# Lint template.yaml with cfn-lint (installed into .tools/venv once). Any error, warning or
# informational finding fails.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

CFN_LINT_VERSION="1.58.0"

ensure_venv
if [ ! -x "$VENV/bin/cfn-lint" ]; then
  log "installing cfn-lint $CFN_LINT_VERSION"
  "$VENV/bin/pip" install -q "cfn-lint==$CFN_LINT_VERSION" || die "could not install cfn-lint"
fi
log "cfn-lint template.yaml"
"$VENV/bin/cfn-lint" template.yaml || die "cfn-lint reported problems in template.yaml"
