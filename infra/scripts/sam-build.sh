#!/usr/bin/env bash
# make sam-build: `sam validate --lint`, then `sam build` of every function with cargo-lambda.
#
# This checks that the template builds. It builds for x86_64 (the arm64 target cannot be
# installed on the project's machines) into .local/sam, away from the .aws-sam folder that
# `sam deploy` picks up, so an x86_64 build is never deployed onto arm64 functions by mistake.
# To deploy, run `sam build` and `sam deploy` yourself (infra/README-deploy.md).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

SAM_CLI_VERSION="1.170.0"
ARCHITECTURE="x86_64"
export SAM_CLI_TELEMETRY=0

ensure_cargo_lambda
if [ ! -x "$VENV/bin/sam" ]; then
  log "installing aws-sam-cli $SAM_CLI_VERSION (a few minutes, once)"
  "$VENV/bin/pip" install -q "aws-sam-cli==$SAM_CLI_VERSION" || die "could not install aws-sam-cli"
fi

log "sam validate --lint"
"$VENV/bin/sam" validate --lint --template-file template.yaml || die "sam validate --lint failed"

log "sam build (Architecture=$ARCHITECTURE)"
start=$SECONDS
"$VENV/bin/sam" build --template-file template.yaml --beta-features \
  --build-dir "$LOCAL/sam/build" --cache-dir "$LOCAL/sam/cache" \
  --parameter-overrides "Architecture=$ARCHITECTURE" || die "sam build failed"
log "sam build took $((SECONDS - start)) s; artifacts in .local/sam/build"
