#!/usr/bin/env bash
# Installs what is missing, builds, and starts the gateway on its embedded default configuration
# (config/examples/quickstart.yaml): the in-process engine serving a generated demo model, so no
# provider account or key is needed. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
bin=${BUILD_DIR:-build}/bin

cat <<MSG
infergate: starting on http://127.0.0.1:8080 with the local engine (first start generates the demo
model, a few seconds). Then try:
  curl -s localhost:8080/v1/chat/completions -H "Authorization: Bearer ig-demo-key-change-me" \\
       -d '{"model":"demo-chat","messages":[{"role":"user","content":"Hello"}]}'
MSG
exec "$bin/infergate"
