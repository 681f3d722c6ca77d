#!/usr/bin/env bash
# The browser tests (run.mjs): Uppy in Debian's headless Chromium against the end-to-end
# services. infra/scripts/test.sh runs it after the Rust tests with E2E_BASE_URL,
# E2E_S3_BASE_URL, E2E_MEDIA_ROOT, E2E_S3_BUCKET, E2E_JWT_SECRET and TEST_S3_ENDPOINT exported.
# Installs what is missing first: Chromium (Debian's package; nothing downloads a browser of its
# own) and the npm packages of package-lock.json.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x /usr/bin/chromium ]; then
  echo "==> installing Chromium (Debian package)" >&2
  as_root=()
  [ "$(id -u)" = 0 ] || as_root=(sudo)
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq chromium >/dev/null
fi
command -v node >/dev/null 2>&1 || { echo "error: node is missing (Node.js 20 or later)" >&2; exit 1; }
# npm ci records what it installed in node_modules/.package-lock.json.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> npm ci (infra/browser)" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
node build.mjs
exec node run.mjs "$@"
